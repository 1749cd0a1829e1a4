"""Stable keys: a canonical, type-tagged encoding of bound arguments, hashed with xxh3_128.

Every value is written as a one-byte type tag followed by a self-delimiting payload, so
``1``, ``1.0``, ``True`` and ``"1"`` never collide, and dicts and sets are written in the
order of their members' encodings, so insertion order and ``PYTHONHASHSEED`` never matter.
Nothing here calls ``hash()`` or ``==`` on user objects: a lying ``__eq__`` cannot change a key.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import struct
import sys
import types
from collections.abc import Mapping
from typing import Any

import xxhash

from .errors import UnhashableArgument

__all__ = ["KEY_SCHEME", "MAX_DEPTH", "args_json", "encode", "jsonable", "key_for"]

#: Stored beside every entry; bump it whenever an encoding below changes, so that old
#: entries are reported as written by another scheme instead of silently never hitting.
KEY_SCHEME = 1

#: Containers nested deeper than this are refused with a clear error long before Python's
#: own recursion limit (each level costs two or three frames).
MAX_DEPTH = 100

_len = struct.Struct("<Q").pack
_double = struct.Struct("<d").pack
_NAN = _double(math.nan)
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: the class was defined in Python, not in C
_object_getstate = getattr(object, "__getstate__", None)


class _Refused(Exception):
    """Raised inside the encoder; carries the path so the public error can name it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _qualname(tp: type) -> bytes:
    name = f"{tp.__module__}.{tp.__qualname__}".encode()
    return _len(len(name)) + name


def _str(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    return b"s" + _len(len(b)) + b


def _int(n: int) -> bytes:
    # to_bytes, not str(): int->str refuses more than 4300 digits since Python 3.11.
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"i" + _len(len(b)) + b


def _float(x: float) -> bytes:
    # Every NaN is one key. -0.0 and 0.0 stay apart: they are different IEEE values.
    return b"f" + (_NAN if x != x else _double(x))


def _bytes(b: bytes) -> bytes:
    return b"b" + _len(len(b)) + b


_SIMPLE: dict[type, Any] = {
    str: _str,
    int: _int,
    float: _float,
    bool: lambda b: b"T" if b else b"F",
    type(None): lambda _: b"N",
    bytes: _bytes,
}

_REFUSED_TYPES: tuple[type, ...] = (
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.FrameType,
    types.TracebackType,
    types.ModuleType,
)


_STDLIB_KINDS = {
    ("decimal", "Decimal"): "Decimal",
    ("fractions", "Fraction"): "Fraction",
    ("uuid", "UUID"): "UUID",
}


def _is_path(obj: Any) -> bool:
    pathlib = sys.modules.get("pathlib")
    return pathlib is not None and isinstance(obj, pathlib.PurePath)


def _refused_by_module(tp: type) -> bool:
    """Open files, sockets, locks, threads, connections: state that lives outside the value."""
    import io
    import threading

    socket = sys.modules.get("socket")  # not loaded: no socket can exist, and none is imported
    if issubclass(tp, (io.IOBase, threading.Thread)) or (socket and issubclass(tp, socket.socket)):
        return True
    return tp in (type(threading.Lock()), type(threading.RLock()), threading.Condition)


def encode(obj: Any, _depth: int = 0, _seen: set[int] | None = None) -> bytes:
    """The canonical bytes of ``obj``; raises ``_Refused`` with the path of what failed."""
    tp = type(obj)
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return simple(obj)
    if _depth >= MAX_DEPTH:
        raise _Refused(f"nesting deeper than {MAX_DEPTH} levels")
    if _seen is None:
        _seen = set()
    oid = id(obj)
    if oid in _seen:
        raise _Refused("cycle: the value contains itself")
    _seen.add(oid)
    try:
        return _compound(obj, tp, _depth + 1, _seen)
    finally:
        _seen.discard(oid)


def _items(pairs: Any, depth: int, seen: set[int]) -> list[bytes]:
    out = []
    for k, v in pairs:
        ek = encode(k, depth, seen)
        try:
            out.append(ek + encode(v, depth, seen))
        except _Refused as e:
            e.path.insert(0, f"[{k!r}]")
            raise
    out.sort()
    return out


def _sequence(tag: bytes, seq: Any, depth: int, seen: set[int]) -> bytes:
    parts = [tag, _len(len(seq))]
    for i, item in enumerate(seq):
        try:
            parts.append(encode(item, depth, seen))
        except _Refused as e:
            e.path.insert(0, f"[{i}]")
            raise
    return b"".join(parts)


def _members(tag: bytes, members: Any, depth: int, seen: set[int]) -> bytes:
    encoded = []
    for m in members:
        try:
            encoded.append(encode(m, depth, seen))
        except _Refused as e:
            e.path.insert(0, f"{{{m!r}}}")
            raise
    encoded.sort()
    return tag + _len(len(encoded)) + b"".join(encoded)


def _compound(obj: Any, tp: type, depth: int, seen: set[int]) -> bytes:
    if tp is list:
        return _sequence(b"l", obj, depth, seen)
    if tp is tuple:
        return _sequence(b"t", obj, depth, seen)
    if tp is dict:
        items = _items(obj.items(), depth, seen)
        return b"d" + _len(len(items)) + b"".join(items)
    if tp is set or tp is frozenset:
        return _members(b"S" if tp is set else b"Z", obj, depth, seen)

    custom = getattr(tp, "__cachework_key__", None)
    if custom is not None and not isinstance(obj, type):
        try:
            value = obj.__cachework_key__()
        except Exception as e:  # a user hook failing is the argument's problem, said plainly
            raise _Refused(f"{tp.__qualname__}.__cachework_key__() raised {e!r}") from e
        return b"K" + _qualname(tp) + encode(value, depth, seen)

    if isinstance(obj, enum.Enum):
        return b"E" + _qualname(tp) + encode(obj.value, depth, seen)
    if tp is complex:
        return b"c" + _float(obj.real) + _float(obj.imag)
    if tp is bytearray or tp is memoryview:
        data = bytes(obj)
        return b"y" + _len(len(data)) + data
    if tp is _dt.datetime or tp is _dt.date or tp is _dt.time:
        tag = {_dt.datetime: b"D", _dt.date: b"a", _dt.time: b"h"}[tp]
        return tag + _str(obj.isoformat())[1:]
    if tp is _dt.timedelta:
        return b"e" + _int(obj.days) + _int(obj.seconds) + _int(obj.microseconds)
    # Types of modules cachework does not import itself (a cold start stays light): if the
    # module is not loaded, no such value can exist.
    kind = _STDLIB_KINDS.get((tp.__module__, tp.__qualname__))
    if kind == "Decimal":
        return b"M" + _str(str(obj))[1:]
    if kind == "Fraction":
        return b"Q" + _int(obj.numerator) + _int(obj.denominator)
    if kind == "UUID":
        return b"U" + obj.bytes
    if _is_path(obj):
        return b"P" + _qualname(tp) + _str(str(obj))
    if isinstance(obj, tuple) and hasattr(tp, "_fields"):
        return b"n" + _qualname(tp) + _sequence(b"t", obj, depth, seen)
    if hasattr(tp, "__dataclass_fields__") and not isinstance(obj, type):
        fields = [(f.name, getattr(obj, f.name)) for f in sys.modules["dataclasses"].fields(obj)]
        return b"C" + _qualname(tp) + _attributes(fields, depth, seen)

    module = tp.__module__
    if module == "numpy":
        return _numpy(obj, tp, depth, seen)
    if module.startswith("pandas"):
        return _pandas(obj, tp, depth, seen)

    # Subclasses of builtins key apart from their base: the class name joins the key.
    simple: tuple[type[Any], ...] = (str, int, float, bytes)
    for base in simple:
        if isinstance(obj, base) and not isinstance(obj, bool):
            return b"B" + _qualname(tp) + _SIMPLE[base](base(obj)) + _state(obj, tp, depth, seen)
    compound: tuple[type[Any], ...] = (list, tuple, dict, set, frozenset)
    for base in compound:
        if isinstance(obj, base):
            inner = _compound(base(obj), base, depth, seen)
            return b"B" + _qualname(tp) + inner + _state(obj, tp, depth, seen)

    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
        import cloudpickle

        try:
            data = cloudpickle.dumps(obj, protocol=5)
        except Exception as e:
            raise _Refused(f"cannot hash {tp.__module__}.{tp.__qualname__}: {e}") from e
        return b"F" + _len(len(data)) + data

    if isinstance(obj, _REFUSED_TYPES) or _refused_by_module(tp):
        raise _Refused(f"cannot hash {tp.__module__}.{tp.__qualname__}")
    if not tp.__flags__ & _HEAPTYPE:
        # A C type with no encoding of its own: its state is invisible to us.
        raise _Refused(f"cannot hash {tp.__module__}.{tp.__qualname__}")
    return b"O" + _qualname(tp) + _state(obj, tp, depth, seen, required=True)


def _attributes(pairs: list[tuple[str, Any]], depth: int, seen: set[int]) -> bytes:
    parts = [_len(len(pairs))]
    for name, value in pairs:
        try:
            parts.append(_str(name) + encode(value, depth, seen))
        except _Refused as e:
            e.path.insert(0, f".{name}")
            raise
    return b"".join(parts)


def _state(obj: Any, tp: type, depth: int, seen: set[int], required: bool = False) -> bytes:
    """An object's state: its own ``__getstate__`` if it has one, else ``__dict__`` and slots."""
    getstate = getattr(tp, "__getstate__", None)
    if getstate is not None and getstate is not _object_getstate:
        try:
            state = obj.__getstate__()
        except Exception as e:
            raise _Refused(f"{tp.__qualname__}.__getstate__() raised {e!r}") from e
        return b"g" + encode(state, depth, seen)
    pairs = sorted(getattr(obj, "__dict__", {}).items())
    for klass in tp.__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                pairs.append((slot, getattr(obj, slot)))
    if not pairs and not required:
        return b""
    return b"a" + _attributes(pairs, depth, seen)


def _numpy(obj: Any, tp: type, depth: int, seen: set[int]) -> bytes:
    np = sys.modules["numpy"]
    if isinstance(obj, np.ndarray):
        dtype = obj.dtype
        shape = _sequence(b"t", obj.shape, depth, seen)
        if dtype.hasobject:
            return b"A" + _str(dtype.str) + shape + encode(obj.tolist(), depth, seen)
        descr = str(dtype.descr) if dtype.fields else dtype.str
        # Hash the buffer where it lies: a 50 MB array is never copied when contiguous.
        flat = obj if obj.flags.c_contiguous else np.ascontiguousarray(obj)
        digest = xxhash.xxh3_128_digest(flat.reshape(-1).view(np.uint8))
        return b"A" + _str(descr) + shape + digest
    if isinstance(obj, np.generic):
        if obj.dtype.hasobject:
            return b"G" + encode(obj.item(), depth, seen)
        return b"G" + _str(obj.dtype.str) + _bytes(obj.tobytes())
    if isinstance(obj, np.dtype):
        return b"G" + _str(str(obj.descr))
    raise _Refused(f"cannot hash {tp.__module__}.{tp.__qualname__}")


def _pandas(obj: Any, tp: type, depth: int, seen: set[int]) -> bytes:
    pd = sys.modules["pandas"]
    if isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
        try:
            rows = pd.util.hash_pandas_object(obj, index=not isinstance(obj, pd.Index))
        except TypeError as e:
            raise _Refused(f"cannot hash {tp.__qualname__}: {e}") from e
        meta: list[Any] = [str(getattr(obj, "name", None))]
        if isinstance(obj, pd.DataFrame):
            meta += [[str(c) for c in obj.columns], [str(d) for d in obj.dtypes]]
        else:
            meta.append(str(obj.dtype))
        digest = xxhash.xxh3_128_digest(rows.to_numpy())
        return b"X" + _qualname(tp) + encode(meta, depth, seen) + digest
    if isinstance(obj, pd.Timestamp):
        return b"X" + _qualname(tp) + _str(obj.isoformat())
    raise _Refused(f"cannot hash {tp.__module__}.{tp.__qualname__}")


_PREFIX = b"cachework/%d" % KEY_SCHEME
_NAMES: dict[str, bytes] = {}  # parameter names, encoded once: they repeat on every call


def key_for(arguments: Mapping[str, Any], version: Any = None) -> str:
    """The key of one call: xxh3_128 over the encoded arguments (by name) and the version."""
    parts = [_PREFIX, _len(len(arguments))]
    for name in sorted(arguments):
        try:
            label = _NAMES.get(name)
            if label is None:
                label = _str(name)
                if len(_NAMES) < 4096:  # bounded: names are few, but never trust that
                    _NAMES[name] = label
            parts.append(label + encode(arguments[name]))
        except _Refused as e:
            at = f" at {''.join(e.path)}" if e.path else ""
            raise UnhashableArgument(f"argument {name!r}{at}: {e.reason}") from e.__cause__
        except RecursionError as e:
            raise UnhashableArgument(f"argument {name!r}: nested too deeply to hash") from e
    if version is not None:
        try:
            parts.append(b"v" + encode(version))
        except _Refused as e:
            raise UnhashableArgument(f"version: {e.reason}") from e.__cause__
    return xxhash.xxh3_128_hexdigest(b"".join(parts))


def jsonable(value: Any, _depth: int = 0) -> Any:
    """The value as it appears in the ``args`` column: JSON where JSON can hold it, else short text.

    ``--arg`` filters and ``Store.forget`` compare through this same function, so a value
    matches exactly what was stored for it.
    """
    tp = type(value)
    if tp is str or tp is bool or tp is int or value is None:
        return value
    if tp is float:
        return value if math.isfinite(value) else repr(value)
    if _depth > 20:
        return _short(value)
    if tp is list or tp is tuple:
        return [jsonable(v, _depth + 1) for v in value]
    if tp is dict:
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return jsonable(value.value, _depth + 1)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if (tp.__module__, tp.__qualname__) in _STDLIB_KINDS or _is_path(value):
        return str(value)
    if isinstance(value, (set, frozenset)):
        import json

        items = [jsonable(v, _depth + 1) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return _short(value)


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= 80 else text[:77] + "..."


_encode_json: Any = None


def args_json(arguments: Mapping[str, Any]) -> str:
    """The JSON stored in the ``args`` column: readable by ``json_extract`` and ``->>``.

    One encoder serves every miss: ``json.dumps`` with options builds a new one per call.
    """
    global _encode_json
    if _encode_json is None:
        import json  # not on the hit path

        _encode_json = json.JSONEncoder(
            sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode
    return _encode_json({name: jsonable(v) for name, v in arguments.items()})  # type: ignore[no-any-return]
