"""A call's arguments bound to names: what its key is computed from and its row shows.

The bound arguments are what a key is computed from (``keys.key_for``) and what a call's
row shows as its arguments; binding must therefore match ``inspect.Signature.bind``
exactly, and never cost a cold start the import of ``inspect`` when it can be avoided.
"""

from __future__ import annotations

from collections.abc import Callable

from ._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any


__all__ = [
    "KWARG_PREFIX",
    "NOTHING_IGNORED",
    "Binder",
    "Ignored",
    "IgnoringBinder",
]


#: How a ``**kwargs`` key that a parameter already names is spelt in the bound arguments (key
#: and args JSON): ``def f(data, /, **kw)`` called ``f(2, data=3)`` binds
#: ``{"data": 2, "**data": 3}``. Keys that start with it get it too, so no two calls meet.
KWARG_PREFIX = "**"


class Ignored(NamedTuple):
    """The parameters a work leaves out of its keys and args JSON (``ignore=``)."""

    names: tuple[str, ...]
    #: Set when the ``**kwargs`` parameter itself is ignored: the function's other
    #: parameters, so that every keyword it collected (any other bound name) goes too.
    keep: frozenset[str] | None = None

    def __call__(self, bound: dict[str, Any]) -> dict[str, Any]:
        """``bound`` without the ignored arguments, changed in place (it is the call's own)."""
        for name in self.names:
            bound.pop(name, None)
        keep = self.keep
        if keep is not None:
            for name in [n for n in bound if n not in keep]:
                del bound[name]
        return bound


NOTHING_IGNORED = Ignored(())


class Binder:
    """Binds call arguments to names the way ``inspect.Signature.bind`` does.

    Plain parameters (no ``*``, ``**``, ``/`` or keyword-only) are read from the code
    object and bound without ``inspect``, which a cold start should not have to import
    (~5 ms); anything else goes through ``inspect.Signature`` itself.
    """

    def __init__(self, fn: Callable[..., Any], skip_self: bool) -> None:
        self.fn, self.skip_self = fn, skip_self
        self._signature: Any = None
        code = getattr(fn, "__code__", None)
        self.plain = (
            code is not None
            and not hasattr(fn, "__wrapped__")  # a decorated run: its real signature is inside
            and not code.co_flags & 0x0C  # CO_VARARGS | CO_VARKEYWORDS
            and not code.co_kwonlyargcount
            and not code.co_posonlyargcount
        )
        if self.plain:
            names = code.co_varnames[: code.co_argcount]  # type: ignore[union-attr]
            defaults = getattr(fn, "__defaults__", None) or ()
            self.defaults = dict(zip(names[len(names) - len(defaults) :], defaults, strict=True))
            self.names = names[1:] if skip_self else names
            self.kinds: Any = frozenset(self.names)
        else:
            sig = self.signature
            self.names = tuple(sig.parameters)
            self.kinds = {p.name: p.kind for p in sig.parameters.values()}
            self.defaults = {}
            # Names a **kwargs key cannot take at the top level of the bound arguments: the
            # other parameters (a positional-only or *args one shares its name with a keyword).
            self.taken = frozenset(n for n, kind in self.kinds.items() if kind != 4)

    #: What this binder leaves out of the bound arguments: nothing (see ``IgnoringBinder``).
    ignored = NOTHING_IGNORED

    def ignoring(self, names: tuple[str, ...], what: str) -> Binder | IgnoringBinder:
        """This binder with ``ignore=names`` (checked against this signature, where the work
        is made: a name that is not a parameter would silently leave nothing out)."""
        if not names:
            return self
        unknown = [name for name in names if name not in self.names]
        if unknown:
            listed = ", ".join(map(repr, unknown))
            raise ValueError(
                f"{what}: ignore= names {listed}, which is not a parameter of "
                f"{getattr(self.fn, '__qualname__', self.fn)} (its parameters: "
                f"{', '.join(self.names) or 'none'})"
            )
        keep = None
        if not self.plain:
            collects = [n for n, kind in self.kinds.items() if kind == 4]  # VAR_KEYWORD
            if collects and collects[0] in names:
                keep = self.taken
        return IgnoringBinder(self, Ignored(names, keep))

    @property
    def signature(self) -> Any:
        if self._signature is None:
            import inspect

            sig = inspect.signature(self.fn)
            params = list(sig.parameters.values())[1 if self.skip_self else 0 :]
            self._signature = sig.replace(parameters=params)
        return self._signature

    def ordered(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
        """Every argument of a call of a plain signature in the parameters' order, defaults
        applied: the tuple ``keys.PositionalKey`` keys; None for another signature, or a call
        ``bind`` must word a TypeError for (a missing, unknown or doubled argument)."""
        names = self.names
        given = len(args)
        if not self.plain or given > len(names):
            return None
        values = list(args)
        used = 0
        for name in names[given:]:
            if name in kwargs:
                values.append(kwargs[name])
                used += 1
            elif name in self.defaults:
                values.append(self.defaults[name])
            else:
                return None
        return tuple(values) if used == len(kwargs) else None

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        if not kwargs and len(args) == len(names) and self.plain:
            # Every parameter given by position: most calls. zip(strict=) would cost a keyword.
            return dict(zip(names, args))  # noqa: B905  (the lengths are equal)
        if self.plain and len(args) <= len(names):
            bound = dict(zip(names, args, strict=False))
            plain = True
            for name, value in kwargs.items():
                if name in bound or name not in self.kinds:
                    plain = False  # a duplicate or unknown name: let bind() word the TypeError
                    break
                bound[name] = value
            if plain:
                if len(bound) < len(names):
                    for name in names:
                        if name not in bound and name in self.defaults:
                            bound[name] = self.defaults[name]
                if len(bound) == len(names):
                    return bound
        ba = self.signature.bind(*args, **kwargs)  # raises the TypeError Python would
        ba.apply_defaults()
        if self.plain:
            return dict(ba.arguments)
        bound = {}
        for name, value in ba.arguments.items():
            kind = self.kinds[name]
            if kind == 2:  # Parameter.VAR_POSITIONAL
                bound[name] = list(value)
            elif kind == 4:  # Parameter.VAR_KEYWORD: flattened, so the seed's value=1 is $.value
                taken = self.taken
                for k, v in value.items():
                    bound[KWARG_PREFIX + k if k in taken or k.startswith(KWARG_PREFIX) else k] = v
            else:
                bound[name] = value
        return bound


class IgnoringBinder:
    """A work's binder when ``ignore=`` names parameters: binds as ``binder`` does, then
    leaves them out. A separate object, so a work that ignores nothing pays nothing."""

    __slots__ = ("binder", "ignored")

    def __init__(self, binder: Binder, ignored: Ignored) -> None:
        self.binder, self.ignored = binder, ignored

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return self.ignored(self.binder(args, kwargs))

    def ordered(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
        """As ``Binder.ordered``: every argument, the ignored ones too (the positional key
        leaves them out by their place)."""
        return self.binder.ordered(args, kwargs)
