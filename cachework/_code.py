"""``version="code"``: a digest of a work's code joins its key, so changing the code re-runs.

The digest is read from the code objects Python compiled, not from the source text: a
comment, a blank line, a docstring or a reformatting leaves them as they were, while a
changed constant, default, name or operation does not. (On Python 3.13+, which fuses two
loads on one line into one instruction, joining or splitting such lines is a change.)
They are the code that runs, so the digest never describes other code than the run's,
even when a source file is edited after its import. They are written by ``_keys``, the
one place that encodes a function's code (``_keys._code``: bytecode, constants, names,
nested code; never file names or line numbers), so this module only chooses what to show
it and takes out the docstrings. What the digest sees and what it does not is written
down for users in ``docs/code-version.md``.

A code object's bytecode belongs to one Python version, so the version (``cache_tag``)
joins the digest on purpose: after a Python upgrade every call runs once again.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator

import xxhash

from ._errors import UnhashableArgument
from ._keys import _Refused, encode
from ._options import CODE
from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["code_version"]

_FUNCTION = types.FunctionType
_CODE = types.CodeType
#: CO_HAS_DOCSTRING (Python 3.14+): co_consts[0] is the docstring. Cleared with it.
_HAS_DOCSTRING = 0x4000000
#: Class attributes of these types, and containers of them, are the class body's
#: constants: part of the code. Other values there are data, as a module's globals are.
_LITERALS = (type(None), bool, int, float, complex, str, bytes)
_CONTAINERS = (tuple, list, set, frozenset)


def code_version(source: type | Callable[..., Any], base: type) -> tuple[str, str]:
    """What joins the key of a ``version="code"`` work: ``("code", digest)``.

    ``source`` is a subclass of ``base`` (``Work``: its methods and its other bases' count,
    ``Work``'s own do not) or the function of ``@work``. A class's digest is taken once, by
    its first instance.
    """
    if isinstance(source, type):
        known = source.__dict__.get("_cw_code")
        if known is None:
            parts = list(_class_parts(source, set(base.__mro__)))
            known = (CODE, _digest(source.__qualname__, parts))
            setattr(source, "_cw_code", known)  # noqa: B010 (a class attribute mypy cannot know)
        return known  # type: ignore[no-any-return]
    what = getattr(source, "__qualname__", repr(source))
    functions = list(_functions_in(source))
    if not functions:
        raise TypeError(f'version="code" reads a Python function\'s code; {what} has none')
    return CODE, _digest(what, list(_layers(what, functions, {})))


def _digest(what: str, parts: list[tuple[str, Any]]) -> str:
    chunks = [encode(sys.implementation.cache_tag)]
    for label, value in parts:
        try:
            chunks.append(encode(label) + encode(value))
        except _Refused as e:
            at = "".join(e.path)
            raise UnhashableArgument(
                f'version="code" of {what}: {label}{at}: {e.reason}'
            ) from e.__cause__
    return xxhash.xxh3_128_hexdigest(b"".join(chunks))


def _class_parts(cls: type, skip: set[type]) -> Iterator[tuple[str, Any]]:
    """The functions and constants of ``cls`` and of its bases, those in ``skip`` left out."""
    seen: dict[int, int] = {}
    for klass in cls.__mro__:
        if klass in skip:
            continue
        for name in sorted(klass.__dict__):
            if name.startswith("_cw_"):  # what cachework keeps on the class (binder, memo)
                continue
            value = klass.__dict__[name]
            functions = list(_functions_in(value))
            if functions:
                yield from _layers(f"{klass.__qualname__}.{name}", functions, seen)
            elif not (name.startswith("__") and name.endswith("__")) and _literal(value, 0):
                yield f"{klass.__qualname__}.{name}", value


def _layers(
    what: str, functions: list[types.FunctionType], seen: dict[int, int]
) -> Iterator[tuple[str, Any]]:
    """A decorated function's layers, outermost first, each named for error messages."""
    for i, fn in enumerate(functions):
        yield (f"{what} (wrapped {i})" if i else what), _function(fn, seen)


def _functions_in(value: Any) -> Iterator[types.FunctionType]:
    """The Python functions a class attribute runs: a method, the function inside a
    staticmethod, classmethod, property or cached_property, and every layer of a decorated
    one (``__wrapped__``), cachework's own wrapper of ``run`` left out."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        for fn in (value.fget, value.fset, value.fdel):
            if fn is not None:
                yield from _functions_in(fn)
        return
    if type(value).__module__ == "functools" and type(value).__name__ == "cached_property":
        value = value.func
    for _ in range(100):  # a chain of __wrapped__ that never ends is not followed forever
        if isinstance(value, _FUNCTION) and not getattr(value, "_cachework_run", False):
            yield value
        value = getattr(value, "__wrapped__", None)
        if value is None:
            return


def _function(fn: types.FunctionType, seen: dict[int, int]) -> Any:
    """A function as the digest sees it: its code without docstrings, its defaults, and the
    functions its closure holds (the one a decorator wraps, a local helper)."""
    at = seen.get(id(fn))
    if at is not None:
        return ("seen", at)  # a function that calls itself through its closure
    seen[id(fn)] = len(seen)
    closure = []
    for cell in fn.__closure__ or ():
        try:
            held = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
        if isinstance(held, _FUNCTION):
            closure.append(_function(held, seen))
    return {
        "code": _normalised(fn.__code__),
        "defaults": fn.__defaults__,
        "kwdefaults": fn.__kwdefaults__,
        "closure": tuple(closure),
    }


def _normalised(code: types.CodeType) -> types.CodeType:
    """``code`` as the digest sees it: its constants are the ones its instructions load, in
    the order they first load them, and so are those of the code objects defined in it.

    A docstring is never loaded, so it goes; and where it stood no longer moves the others.
    (Removing a docstring renumbers a function's constants: ``None`` then takes slot 0, and
    every ``with`` or bare ``return`` loads it from another index than before.)
    """
    import opcode  # here, not at import: only version="code" works need it

    extended, loads = opcode.EXTENDED_ARG, frozenset(opcode.hasconst)
    raw = bytearray(code.co_code)
    consts = code.co_consts
    renumbered: dict[int, int] = {}  # index in co_consts -> index in the digest's constants
    kept: list[Any] = []
    first = -1  # where the current instruction's EXTENDED_ARG prefix starts, if it has one
    arg = 0
    # Instructions are two bytes, opcode and argument; EXTENDED_ARG carries the high bits of
    # the next argument, and inline caches are zero bytes (op 0, no argument).
    for at in range(0, len(raw), 2):
        op = raw[at]
        arg = (arg << 8) | raw[at + 1]
        if op == extended:
            first = at if first < 0 else first
            continue
        if op in loads:
            index = renumbered.get(arg)
            if index is None:
                index = renumbered[arg] = len(kept)
                const = consts[arg]
                kept.append(_normalised(const) if isinstance(const, _CODE) else const)
            # Written back in the same number of bytes: the prefix, if any, keeps its length.
            for unit in range(at, (first if first >= 0 else at) - 2, -2):
                raw[unit + 1], index = index & 0xFF, index >> 8
            if index:
                # Too wide for its bytes (a constant first loaded after the 256th): the code
                # as compiled, whose docstring then counts. A re-run, never a wrong hit.
                return code
        first, arg = -1, 0
    return code.replace(
        co_code=bytes(raw), co_consts=tuple(kept), co_flags=code.co_flags & ~_HAS_DOCSTRING
    )


def _literal(value: Any, depth: int) -> bool:
    """Whether a class attribute is a constant of the class body (a number, text, a tuple
    or list of them ...), which the digest sees, rather than data, which it does not."""
    tp = type(value)
    if tp in _LITERALS:
        return True
    if depth > 20:
        return False
    if tp in _CONTAINERS:
        return all(_literal(v, depth + 1) for v in value)
    if tp is dict:
        return all(_literal(k, depth + 1) and _literal(v, depth + 1) for k, v in value.items())
    return False
