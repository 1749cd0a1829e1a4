"""What the package takes from ``typing`` at run time, without importing ``typing``.

A cold hit (a new process that imports cachework, opens its store and hits once) costs
what it loads (issue 19). ``import typing`` is ~15 M instructions, and ``typing.NamedTuple``
compiles each field's annotation (``ForwardRef``), the process's first ``compile()``
building every AST type first: ~10 M more. Every module writes ``from __future__ import
annotations``, so annotations are text nothing evaluates; names used only there (``Any``,
``Literal``...) come from ``typing`` under ``if TYPE_CHECKING:``. The few used outside
annotations come from here: type checkers read ``typing``'s own (the ``TYPE_CHECKING``
branch, so the types mean what they always did); at run time, the stand-ins below do what
``typing``'s do at run time, or all of it the package relies on.
"""

from __future__ import annotations

TYPE_CHECKING = False  # True for type checkers: mypy treats any name TYPE_CHECKING so

if TYPE_CHECKING:
    from typing import Generic as Generic
    from typing import NamedTuple as NamedTuple
    from typing import ParamSpec as ParamSpec
    from typing import TypeVar as TypeVar
    from typing import cast as cast
    from typing import overload as overload
else:
    import collections
    import types

    def cast(typ, value):
        """The value itself, as ``typing.cast`` returns it."""
        return value

    def overload(fn):
        """The signature a checker reads; the definition that follows replaces it."""
        return fn

    def TypeVar(name, *constraints, **options):
        """The name: at run time only ``Generic[...]`` reads a type variable, and drops it."""
        return name

    ParamSpec = TypeVar

    class Generic:
        """A base whose subclasses subscript as ``typing.Generic``'s do at run time:
        ``CachedFunction[[str], int]`` in an annotation something evaluates."""

        __slots__ = ()

        def __class_getitem__(cls, params):
            # Generic[T] in a class's bases is Generic: GenericAlias's __mro_entries__.
            return types.GenericAlias(cls, params)

    # What a record's body may not set, and what it sets that is not copied: as typing's.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults"}
        | {"_make", "_replace", "_asdict", "_source"}
    )
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _NamedTupleMeta(type):
        """``class Stored(NamedTuple): ...`` makes what ``typing.NamedTuple`` makes of that
        body (``collections.namedtuple``'s class, the body's methods and docstrings copied
        on), without compiling the annotations to check them: the type checker does."""

        def __new__(mcls, typename, bases, ns):
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, typename, bases, ns)
            if bases != (NamedTuple,):
                raise TypeError("a record derives from NamedTuple alone")
            fields = ns.get("__annotations__", {})
            defaults, given = [], False
            for name in fields:
                if name in ns:
                    defaults.append(ns[name])
                    given = True
                elif given:
                    raise TypeError(f"{typename}: field {name} without a default follows one with")
            record = collections.namedtuple(
                typename, list(fields), defaults=defaults, module=ns["__module__"]
            )
            record.__annotations__ = dict(fields)  # their text: typing.get_type_hints reads it
            for key, value in ns.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{typename}: cannot overwrite NamedTuple attribute {key}")
                if key not in _SPECIAL and key not in fields:
                    setattr(record, key, value)
            return record

    class NamedTuple(metaclass=_NamedTupleMeta):
        """Derive a record from this, as from ``typing.NamedTuple``."""
