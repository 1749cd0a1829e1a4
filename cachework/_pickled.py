"""What a stored pickle holds, read from its opcodes without loading it.

Loading a pickle runs whatever callable it names, so a row written by anyone with access
to the database could run code in whoever displays it. ``cachework show`` therefore
replays the opcodes on a stack of descriptions (``pickletools.genops`` only parses): a
``GLOBAL`` or ``STACK_GLOBAL`` is a name, never an import, and a ``REDUCE`` is a name
followed by ``(...)``, never a call.
"""

from __future__ import annotations

import _compat_pickle
import builtins
import pickletools
from typing import Any

from ._typing import NamedTuple

__all__ = ["pickled_type"]


class _Value(NamedTuple):
    """One stack item: its type's name, and for the few that later opcodes read, its
    content (a string's text, a tuple's items, a global's dotted name)."""

    kind: str  # "obj", "str", "tuple", "global", "class"
    name: str
    items: tuple[Any, ...] = ()


_MARK = _Value("mark", "mark")

#: Callables that rebuild an instance of the class in their first argument.
_RECONSTRUCTORS = {
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
}
#: cloudpickle's builders of a class defined at run time: the class name is argument 2.
_CLASS_BUILDERS = {
    "cloudpickle.cloudpickle._make_skeleton_class",
    "cloudpickle.cloudpickle._make_skeleton_enum",
}

#: Callables whose result's type is known by name.
_MAKES = {
    "_codecs.encode": "bytes",  # how protocols 0-2 spell bytes
    "numpy.core.numeric._frombuffer": "numpy.ndarray",
    "numpy._core.numeric._frombuffer": "numpy.ndarray",
    "numpy.core.multiarray.scalar": "numpy scalar",
    "numpy._core.multiarray.scalar": "numpy scalar",
    "cloudpickle.cloudpickle._make_function": "function",
}
#: Classes named in lower case, which calling makes an instance of.
_LOWER_CLASSES = {
    "datetime.date",
    "datetime.datetime",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "collections.defaultdict",
    "collections.deque",
    "array.array",
}

_CONSTANTS = {
    "INT": "int",
    "BININT": "int",
    "BININT1": "int",
    "BININT2": "int",
    "LONG": "int",
    "LONG1": "int",
    "LONG4": "int",
    "FLOAT": "float",
    "BINFLOAT": "float",
    "BINBYTES": "bytes",
    "SHORT_BINBYTES": "bytes",
    "BINBYTES8": "bytes",
    "BYTEARRAY8": "bytearray",
    "NONE": "NoneType",
    "NEWTRUE": "bool",
    "NEWFALSE": "bool",
    "EMPTY_DICT": "dict",
    "EMPTY_LIST": "list",
    "EMPTY_SET": "set",
    "NEXT_BUFFER": "PickleBuffer",
    "PERSID": "persistent object",
    "EXT1": "extension object",
    "EXT2": "extension object",
    "EXT4": "extension object",
}
_STRINGS = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}
#: Opcodes that take everything down to the last MARK and push one value of this type.
_FROM_MARK = {"DICT": "dict", "LIST": "list", "FROZENSET": "frozenset"}
#: Opcodes that add what lies above the container (to the mark, or n items) to it.
_ADD_TO_MARK = {"APPENDS", "SETITEMS", "ADDITEMS"}
_ADD = {"APPEND": 1, "SETITEM": 2, "BUILD": 1}


def pickled_type(data: bytes) -> str | None:
    """The type of the object a pickle would build (``dict``, ``pandas.DataFrame``, or
    ``posix.system(...)`` for what calling that would return), or None if it is not a
    pickle this can follow. Nothing is imported or called."""
    try:
        top = _replay(data)
    except Exception:  # malformed or unknown opcodes: say nothing rather than guess
        return None
    return _display(top)


def _replay(data: bytes) -> _Value:
    stack: list[_Value] = []
    memo: dict[Any, _Value] = {}

    def pop_to_mark() -> list[_Value]:
        i = len(stack) - 1 - stack[::-1].index(_MARK)
        items = stack[i + 1 :]
        del stack[i:]
        return items

    for op, arg, _pos in pickletools.genops(data):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return stack[-1]
        if name == "MARK":
            stack.append(_MARK)
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "POP":
            stack.pop()
        elif name == "POP_MARK":
            pop_to_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in _STRINGS:
            text = arg if isinstance(arg, str) else repr(arg)
            stack.append(_Value("str", text[:200]))
        elif name == "INT" and isinstance(arg, bool):  # protocol 0 spells True as I01
            stack.append(_Value("obj", "bool"))
        elif name in _CONSTANTS:
            stack.append(_Value("obj", _CONSTANTS[name]))
        elif name == "BINPERSID":
            stack[-1] = _Value("obj", "persistent object")
        elif name == "READONLY_BUFFER":
            pass
        elif name == "EMPTY_TUPLE":
            stack.append(_Value("tuple", "tuple", ()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(_Value("tuple", "tuple", items))
        elif name == "TUPLE":
            stack.append(_Value("tuple", "tuple", tuple(pop_to_mark())))
        elif name in _FROM_MARK:
            pop_to_mark()
            stack.append(_Value("obj", _FROM_MARK[name]))
        elif name in _ADD_TO_MARK:
            pop_to_mark()
        elif name in _ADD:
            del stack[-_ADD[name] :]
        elif name == "GLOBAL":
            module, _, qualname = str(arg).partition(" ")
            stack.append(_Value("global", _dotted(module, qualname)))
        elif name == "STACK_GLOBAL":
            attr, owner = stack.pop(), stack.pop()
            if owner.kind != "str" or attr.kind != "str":
                raise ValueError("STACK_GLOBAL without names")
            stack.append(_Value("global", _dotted(owner.name, attr.name)))
        elif name == "INST":
            pop_to_mark()
            module, _, qualname = str(arg).partition(" ")
            stack.append(_Value("obj", _dotted(module, qualname)))
        elif name == "OBJ":
            cls, *_ = pop_to_mark()
            stack.append(_instance(cls))
        elif name == "NEWOBJ":
            del stack[-1:]
            stack.append(_instance(stack.pop()))
        elif name == "NEWOBJ_EX":
            del stack[-2:]
            stack.append(_instance(stack.pop()))
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            stack.append(_called(func, args))
        else:
            raise ValueError(f"opcode {name} is not followed")
    raise ValueError("no STOP")


def _dotted(module: str, qualname: str) -> str:
    """``module.qualname`` under Python 3's names (protocols 0-2 write ``__builtin__.set``
    and ``copy_reg._reconstructor``), as the unpickler would map them."""
    module, qualname = _compat_pickle.NAME_MAPPING.get((module, qualname), (module, qualname))
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return f"{module}.{qualname}"


def _instance(cls: _Value) -> _Value:
    if cls.kind in ("global", "class"):
        return _Value("obj", cls.name)
    return _Value("obj", "object")


def _called(func: _Value, args: _Value) -> _Value:
    """What ``func(*args)`` would be, told from names only."""
    if func.kind != "global":
        return _Value("obj", "object")
    if func.name in _RECONSTRUCTORS and args.items:
        return _instance(args.items[0])
    if func.name in _CLASS_BUILDERS and len(args.items) > 1 and args.items[1].kind == "str":
        return _Value("class", args.items[1].name)
    if func.name in _MAKES:
        return _Value("obj", _MAKES[func.name])
    module, _, qualname = func.name.rpartition(".")
    if (
        qualname[:1].isupper()  # by convention a class: calling it makes one
        or func.name in _LOWER_CLASSES
        or (module == "builtins" and isinstance(getattr(builtins, qualname, None), type))
    ):
        return _Value("obj", func.name)
    return _Value("obj", f"{func.name}(...)")


def _display(value: _Value) -> str:
    if value.kind == "str":
        return "str"
    if value.kind == "global":
        return f"{_short(value.name)} (a class or function)"
    if value.kind == "class":
        return f"{value.name} (a class)"
    return _short(value.name)


def _short(dotted: str) -> str:
    return dotted.removeprefix("builtins.")
