"""Stable keys: a canonical, type-tagged encoding of bound arguments, hashed with xxh3_128.

Every value is written as a one-byte type tag followed by a self-delimiting payload, so
``1``, ``1.0``, ``True`` and ``"1"`` never collide, and dicts and sets are written in the
order of their members' encodings, so insertion order and ``PYTHONHASHSEED`` never matter.
Nothing here calls ``hash()`` or ``==`` on user objects: a lying ``__eq__`` cannot change a key.

The rule: two arguments share a key only if the function cannot tell them apart (same type,
same value, same state). A subclass keeps its class and its own state beside its base's
value; a value whose state lives where the encoder cannot see it (a C type's fields) is
refused rather than keyed by its class alone.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import operator
import struct
import sys
import types
from collections.abc import Callable, Collection, Mapping, Sequence

import xxhash

from ._errors import UnhashableArgument
from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "KEY_SCHEME",
    "MAX_DEPTH",
    "PositionalKey",
    "arg_json",
    "args_json",
    "encode",
    "jsonable",
    "key_for",
    "name_json",
    "register_encoder",
]

#: Stored beside every entry; bump it whenever an encoding below changes, so that old
#: entries are reported as written by another scheme instead of silently never hitting.
#: 2: C-typed values (patterns, partials, arrays, ...), subclasses of value types, zones
#: and ``fold``, ordered dicts, memoryviews, pandas objects, numpy dtypes and functions and
#: classes (structural, no longer cloudpickle bytes) all gained or changed their encoding.
KEY_SCHEME = 2

#: The first byte of every encoding, by kind. Each kind has its own byte, and each payload
#: is self-delimiting (lengths and counts up front), so no encoding is a prefix of another
#: and a concatenation of them reads back one way only: two values share bytes only if they
#: are the same kind with the same payload. ``tests/test_keys.py`` checks that every byte
#: here is distinct and that one value of each kind is written with its byte; a new kind
#: takes a byte not yet listed, never one in use.
TAGS: dict[str, bytes] = {
    # kept from key scheme 1
    "str": b"s",
    "int": b"i",
    "float": b"f",
    "bytes": b"b",
    "None": b"N",
    "True": b"T",
    "False": b"F",
    "list": b"l",
    "tuple": b"t",
    "dict": b"d",
    "set": b"S",
    "frozenset": b"Z",
    "__cachework_key__": b"K",
    "Enum member": b"E",
    "complex": b"c",
    "bytearray": b"y",
    "date": b"a",
    "datetime": b"D",
    "time": b"h",
    "timedelta": b"e",
    "Decimal": b"M",
    "Fraction": b"Q",
    "UUID": b"U",
    "Path": b"P",
    "namedtuple": b"n",
    "dataclass": b"C",
    "subclass of a value type": b"B",  # class, the base's encoding, own state
    "object by class and state": b"O",
    "ndarray": b"A",
    "numpy scalar": b"G",
    "pandas object": b"X",
    # added in key scheme 2
    "ndarray of objects": b"=",
    "numpy scalar of objects": b":",
    "numpy dtype": b"g",
    "memoryview": b"w",
    "datetime.timezone": b"z",
    "ZoneInfo": b"~",
    "tzinfo by its __reduce__": b"x",
    "OrderedDict": b"o",
    "defaultdict": b"u",
    "deque": b"q",
    "re.Pattern": b"/",
    "functools.partial": b"p",
    "by __reduce__ (itemgetter, attrgetter, methodcaller)": b"&",
    "array.array": b"V",
    "struct.Struct": b"$",
    "hashlib object": b"H",
    "Ellipsis": b".",
    "NotImplemented": b"!",
    "staticmethod, classmethod": b"@",
    "functools.cached_property": b"*",
    "property": b"%",
    "generic alias": b"<",
    "mappingproxy": b"j",
    "importable function or class": b"R",
    "function": b"L",
    "class": b"Y",
    "code": b"k",
    "method": b"m",
    "bound built-in method": b"W",
    "reference to a definition being encoded": b"^",
    # added without a new key scheme: only values of registered types are written with it
    "registered encoder": b"r",  # the value's class, then what the function returned
    # not values: markers at fixed places inside the encodings above
    "key_for: the version": b"v",
    "state: none": b"-",
    "state: __dict__ and slots": b"+",
    "state: __getstate__()": b"(",
    "state: __reduce__()": b")",
    "pandas column: numpy values": b"0",
    "pandas column: categorical": b"1",
    "pandas column: values with their types": b"2",
}

#: Containers nested deeper than this are refused with a clear error long before Python's
#: own recursion limit (each level costs two or three frames).
MAX_DEPTH = 100

_len = struct.Struct("<Q").pack
_double = struct.Struct("<d").pack
_date = struct.Struct("<HBB").pack
_datetime = struct.Struct("<HBBBBBIB").pack
_time = struct.Struct("<BBBIB").pack
_NAN = _double(math.nan)
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: the class was defined in Python (or by a C module)
_MANAGED_DICT = 1 << 4  # Py_TPFLAGS_MANAGED_DICT: the instance dict lives outside __basicsize__
_POINTER = struct.calcsize("P")
# Py_TPFLAGS_IMMUTABLETYPE, or no HEAPTYPE: a class written in C, not in Python
_C_TYPE = 1 << 8
_object_getstate = getattr(object, "__getstate__", None)

# The ids of the values being encoded, each with its depth in that stack (depths rise along
# the stack, so a depth names one entry). Ids are positive; two negative keys hold the
# per-call memo of classes keyed by their definition and the lowest depth a back-reference
# pointed to, which says whether a class's encoding depends on what encloses it.
if TYPE_CHECKING:  # an annotation's alias: nothing reads it at run time
    Seen = dict[int, Any]
_CLASS_MEMO = -1
_LOWEST_REFERENCE = -2


class _Refused(Exception):
    """Raised inside the encoder; carries the path so the public error can name it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _qualname(tp: type) -> bytes:
    name = f"{tp.__module__}.{tp.__qualname__}".encode()
    return _len(len(name)) + name


def _type(tp: type, depth: int, seen: Seen) -> bytes:
    """A value's class: by module and name where that finds this very class (as pickle
    does; a script's own classes too), else by its definition. Two local classes, two
    namedtuples or two enums built by one function share a name but not their fields,
    methods or class attributes.

    A definition is written once per call where it does not depend on what encloses it: a
    list of a thousand instances of a local class costs one class, not a thousand.
    """
    known = _TYPE_NAMES.get(tp)
    if known is not None and known[0].get(known[1]) is tp:  # still found by that name
        return known[2]  # type: ignore[no-any-return]
    ref = _reference(tp, main=True)
    if ref is not None:
        module = sys.modules[tp.__module__]
        if "." not in tp.__qualname__ and len(_TYPE_NAMES) < 4096:
            _TYPE_NAMES[tp] = (module.__dict__, tp.__qualname__, ref)
        return ref
    if tp.__flags__ & _C_TYPE or not tp.__flags__ & _HEAPTYPE:
        # Written in C (zlib.Compress, not importable by its name): its code is fixed.
        return b"R" + _str(tp.__module__) + _str(tp.__qualname__)
    memo = seen.get(_CLASS_MEMO)
    if memo is None:
        memo = seen[_CLASS_MEMO] = {}
    hit = memo.get((id(tp), depth))
    if hit is not None:
        return hit[1]  # type: ignore[no-any-return]
    outer = seen.pop(_LOWEST_REFERENCE, None)
    try:
        encoded = encode(tp, depth, seen)
    except _Refused as e:
        e.path.insert(0, ".__class__")
        raise
    finally:
        low = seen.pop(_LOWEST_REFERENCE, None)
        lowest = low if outer is None else outer if low is None else min(low, outer)
        if lowest is not None:
            seen[_LOWEST_REFERENCE] = lowest
    if low is None or low >= depth:  # refers to nothing outside itself
        memo[(id(tp), depth)] = (tp, encoded)  # tp held: its id stays its own for the call
    return encoded


#: Classes found by their name, each with its module's namespace, that name and its bytes:
#: a hit checks one dict entry instead of walking the name again.
_TYPE_NAMES: dict[type, tuple[dict[str, Any], str, bytes]] = {}


def _name(tp: type) -> str:
    return f"{tp.__module__}.{tp.__qualname__}"


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


def encode(obj: Any, _depth: int = 0, _seen: Seen | None = None) -> bytes:
    """The canonical bytes of ``obj``; raises ``_Refused`` with the path of what failed."""
    tp = type(obj)
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return simple(obj)
    if _depth >= MAX_DEPTH:
        raise _Refused(f"nesting deeper than {MAX_DEPTH} levels")
    if _seen is None:
        _seen = {}
    oid = id(obj)
    at = _seen.get(oid)
    if at is not None:
        if isinstance(obj, (types.FunctionType, type, enum.Enum)):
            # A function that calls itself, a method naming its class, a class's own enum
            # members: a reference to the definition being encoded, by its place in the
            # stack (the same in every process).
            low = _seen.get(_LOWEST_REFERENCE)
            if low is None or at < low:
                _seen[_LOWEST_REFERENCE] = at
            return b"^" + _len(at)
        raise _Refused("cycle: the value contains itself")
    _seen[oid] = _depth
    try:
        return _compound(obj, tp, _depth + 1, _seen)
    finally:
        del _seen[oid]


# The loops below try the simple types first themselves: most members of the arguments
# people pass are strs, ints and floats, and a call to encode() for each costs a third of
# the time of a dict or list of them.


def _items(pairs: Any, depth: int, seen: Seen) -> list[bytes]:
    out = []
    simple = _SIMPLE.get
    for k, v in pairs:
        fk = simple(type(k))
        ek = fk(k) if fk is not None else encode(k, depth, seen)
        fv = simple(type(v))
        if fv is not None:
            out.append(ek + fv(v))
            continue
        try:
            out.append(ek + encode(v, depth, seen))
        except _Refused as e:
            e.path.insert(0, f"[{k!r}]")
            raise
    return out


def _sequence(tag: bytes, seq: Any, depth: int, seen: Seen) -> bytes:
    return tag + _len(len(seq)) + b"".join(_each(seq, depth, seen, _at_index))


def _members(tag: bytes, members: Any, depth: int, seen: Seen) -> bytes:
    encoded = _each(members, depth, seen, _at_member)
    encoded.sort()  # a set's order is not part of it
    return tag + _len(len(encoded)) + b"".join(encoded)


def _each(items: Any, depth: int, seen: Seen, where: Callable[[int, Any], str]) -> list[bytes]:
    """Each item's encoding, the simple types straight from their table; a refusal names
    the item's place (``where``: ``[3]`` in a sequence, ``{'a'}`` in a set)."""
    out = []
    simple = _SIMPLE.get
    for i, item in enumerate(items):
        f = simple(type(item))
        if f is not None:
            out.append(f(item))
            continue
        try:
            out.append(encode(item, depth, seen))
        except _Refused as e:
            e.path.insert(0, where(i, item))
            raise
    return out


def _at_index(i: int, item: object) -> str:
    return f"[{i}]"


def _at_member(i: int, item: object) -> str:
    return f"{{{item!r}}}"


def _dict(obj: Any, depth: int, seen: Seen) -> bytes:
    items = _items(dict.items(obj), depth, seen)
    items.sort()  # a dict's order never matters to ==, so never to the key
    return b"d" + _len(len(items)) + b"".join(items)


def _compound(obj: Any, tp: type, depth: int, seen: Seen) -> bytes:
    if tp is list:
        return _sequence(b"l", obj, depth, seen)
    if tp is tuple:
        return _sequence(b"t", obj, depth, seen)
    if tp is dict:
        return _dict(obj, depth, seen)
    if tp is set or tp is frozenset:
        return _members(b"S" if tp is set else b"Z", obj, depth, seen)

    if _registry is not None:  # the built-in types above never consult it
        found = _registered(tp, _registry)
        if found is not None:
            return _by_encoder(obj, tp, found, depth, seen)

    custom = getattr(tp, "__cachework_key__", None)
    if custom is not None and not isinstance(obj, type):
        try:
            value = obj.__cachework_key__()
        except Exception as e:  # a user hook failing is the argument's problem, said plainly
            raise _Refused(f"{tp.__qualname__}.__cachework_key__() raised {e!r}") from e
        return b"K" + _type(tp, depth, seen) + encode(value, depth, seen)

    if isinstance(obj, enum.Enum):
        return b"E" + _type(tp, depth, seen) + encode(obj.value, depth, seen)
    value_type = _VALUES.get(tp) or _NAMED.get((tp.__module__, tp.__qualname__))
    if value_type is not None:
        return value_type(obj, depth, seen)
    if _is_path(obj):
        return b"P" + _type(tp, depth, seen) + _str(str(obj)) + _state(obj, tp, depth, seen)
    if isinstance(obj, tuple) and hasattr(tp, "_fields"):
        # A subclass of a namedtuple may hold attributes of its own.
        head = b"n" + _type(tp, depth, seen)
        return head + _sequence(b"t", obj, depth, seen) + _state(obj, tp, depth, seen)
    if hasattr(tp, "__dataclass_fields__") and not isinstance(obj, type):
        fields = [(f.name, getattr(obj, f.name)) for f in sys.modules["dataclasses"].fields(obj)]
        # Attributes set beside the fields (in __post_init__, or later) are read like them.
        own = getattr(obj, "__dict__", None)
        extra = _NO_ATTRIBUTES
        if own and own.keys() - {name for name, _ in fields}:
            names = {name for name, _ in fields}
            pairs = sorted(p for p in own.items() if p[0] not in names)
            extra = _attributes(pairs, depth, seen)
        return b"C" + _type(tp, depth, seen) + _attributes(fields, depth, seen) + extra

    module = tp.__module__
    if module == "numpy" or module.startswith("numpy."):
        return _numpy(obj, tp, depth, seen)
    if module.startswith("pandas"):
        return _pandas(obj, tp, depth, seen)
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
        return _definition(obj, tp, depth, seen)
    return _other(obj, tp, depth, seen)


# -- registered encoders ---------------------------------------------------------------------
# register_encoder(tp, fn): values of tp (and of its subclasses) are written as "r", their
# class, then the encoding of fn(value). The built-in types the encoder writes before it looks
# at anything else (exact str, int, float, bool, None, bytes, list, tuple, dict, set,
# frozenset) cannot be registered: they are what fn returns, and the hit path's speed. Every
# other type can, natively encoded or not: the registration wins over the native encoding (a
# subclass of dict, a datetime, a numpy array), since the user said how the function reads it.

if TYPE_CHECKING:  # annotations' aliases: nothing reads them at run time
    Encoder = Callable[[Any], Any]
    #: The registrations, and per class the nearest one in its MRO (None: no registration
    #: applies), as one pair replaced whole on every registration: a thread encoding
    #: meanwhile sees the old pair or the new one, never a cache of one beside the
    #: registrations of the other.
    _Registry = tuple[dict[type, Encoder], dict[type, "tuple[type, Encoder] | None"]]
_registry: _Registry | None = None  # None until the first registration: one test per value

#: The exact types written before the registry is consulted, and ``object`` (every class).
_UNREGISTRABLE = frozenset(
    {str, int, float, bool, type(None), bytes, list, tuple, dict, set, frozenset, object}
)


def register_encoder(tp: type, fn: Callable[[Any], Any]) -> None:
    """Teach the key how to read values of ``tp``: ``fn(value)`` returns a value cachework
    already encodes (bytes, str, tuples, dicts, ...), which stands for the value in its key.

    It applies to subclasses of ``tp`` too, unless a class nearer in their MRO has a
    registration of its own or defines ``__cachework_key__``. The value's class (module and
    qualified name) joins the key beside what ``fn`` returned, so two types whose functions
    return the same thing still key apart. Registering ``tp`` again replaces its function.
    A registration must be made in every process that computes keys (at import, beside the
    type), or the same call keys differently there.
    """
    global _registry
    if not isinstance(tp, type):
        raise TypeError(f"register_encoder(tp, fn): tp must be a class, not {tp!r}")
    if tp in _UNREGISTRABLE:
        raise TypeError(
            f"register_encoder: {tp.__qualname__} is encoded natively and cannot be registered "
            "(it is what encoders return); register a subclass of it instead"
        )
    if not callable(fn):
        raise TypeError(f"register_encoder({tp.__qualname__}, fn): fn must be callable")
    encoders = dict(_registry[0]) if _registry is not None else {}
    encoders[tp] = fn
    _registry = (encoders, {})


def _registered(tp: type, registry: _Registry) -> tuple[type, Encoder] | None:
    """The registration that applies to values of ``tp``, found once per class."""
    encoders, nearest = registry
    try:
        return nearest[tp]
    except KeyError:
        pass
    found = None
    for klass in tp.__mro__:
        fn = encoders.get(klass)
        if fn is not None:
            found = (klass, fn)
            break
        if "__cachework_key__" in klass.__dict__:
            break  # the class's own hook is nearer than a base's registration
    if len(nearest) < 4096:
        nearest[tp] = found
    return found


def _by_encoder(obj: Any, tp: type, found: tuple[type, Encoder], depth: int, seen: Seen) -> bytes:
    registered, fn = found
    try:
        value = fn(obj)
    except Exception as e:  # a user function failing is the argument's problem, said plainly
        raise _Refused(f"the encoder registered for {_name(registered)} raised {e!r}") from e
    again = _registered(type(value), _registry) if _registry is not None else None
    if again is not None and again[0] is registered:
        # Encoding the result would call fn again, and again: say so instead of recursing.
        raise _Refused(
            f"the encoder registered for {_name(registered)} returned a {_name(type(value))}, which it "
            "would encode again; return plain values (bytes, str, tuples, dicts, ...)"
        )
    try:
        encoded = encode(value, depth, seen)
    except _Refused as e:
        e.path.insert(0, f"<{registered.__qualname__} encoder>")
        raise
    return b"r" + _type(tp, depth, seen) + encoded


# -- value types of the standard library -----------------------------------------------------
# Each encoder writes its own tag and everything that tells two values apart. A subclass of
# one of these is written as "B" + its class + the base's encoding + its own state.


def _complex(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"c" + _float(complex.real.__get__(obj)) + _float(complex.imag.__get__(obj))


def _bytearray(obj: Any, depth: int, seen: Seen) -> bytes:
    data = memoryview(obj).tobytes()  # not bytes(obj): a subclass's __bytes__ is not its data
    return b"y" + _len(len(data)) + data


def _memoryview(obj: Any, depth: int, seen: Seen) -> bytes:
    try:
        data = obj.tobytes()
        head = _str(obj.format) + _int(obj.itemsize) + (b"T" if obj.readonly else b"F")
        shape = _sequence(b"t", obj.shape, depth, seen)
    except ValueError as e:  # released
        raise _Refused(f"cannot hash memoryview: {e}") from e
    return b"w" + head + shape + _len(len(data)) + data


def _tz(tz: Any, depth: int, seen: Seen) -> bytes:
    """A zone is part of a time: Europe/Paris and a fixed +01:00 agree only some days.

    Every branch writes a value's tag, so a zone reads the same inside a time as alone."""
    if tz is None:
        return b"N"
    tp = type(tz)
    if tp is _dt.timezone:
        return b"z" + encode(tz.__getinitargs__(), depth, seen)  # offset, and a name if given
    if tp.__module__ == "zoneinfo" and tp.__qualname__ == "ZoneInfo":
        if tz.key is None:
            raise _Refused("cannot hash a ZoneInfo read from a file: it has no key")
        return b"~" + _str(tz.key)
    reduce = getattr(tp, "__reduce__", None)
    if reduce is not _dt.tzinfo.__reduce__ and reduce is not object.__reduce__:
        # The zone's own pickling names it (pytz: the zone and the chosen offset).
        try:
            return b"x" + _type(tp, depth, seen) + encode(tz.__reduce__(), depth, seen)
        except _Refused as e:
            e.path.insert(0, ".tzinfo")
            raise
    try:
        return encode(tz, depth, seen)
    except _Refused as e:
        e.path.insert(0, ".tzinfo")
        raise


def _date_value(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"a" + _date(obj.year, obj.month, obj.day)


def _datetime_value(obj: Any, depth: int, seen: Seen) -> bytes:
    fields = _datetime(
        obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold
    )
    return b"D" + fields + _tz(obj.tzinfo, depth, seen)


def _time_value(obj: Any, depth: int, seen: Seen) -> bytes:
    fields = _time(obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold)
    return b"h" + fields + _tz(obj.tzinfo, depth, seen)


def _timedelta_value(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"e" + _int(obj.days) + _int(obj.seconds) + _int(obj.microseconds)


def _decimal(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"M" + _str(sys.modules["decimal"].Decimal.__str__(obj))[1:]  # not a subclass's str


def _fraction(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"Q" + _int(obj.numerator) + _int(obj.denominator)


def _uuid(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"U" + obj.int.to_bytes(16, "big")


def _ordered_dict(obj: Any, depth: int, seen: Seen) -> bytes:
    items = _items(dict.items(obj), depth, seen)  # in order: OrderedDicts compare by order
    return b"o" + _len(len(items)) + b"".join(items)


def _default_dict(obj: Any, depth: int, seen: Seen) -> bytes:
    try:
        factory = encode(obj.default_factory, depth, seen)
    except _Refused as e:
        e.path.insert(0, ".default_factory")
        raise
    return b"u" + factory + _dict(obj, depth, seen)


def _deque(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"q" + encode(obj.maxlen, depth, seen) + _sequence(b"l", obj, depth, seen)


def _pattern(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"/" + encode(obj.pattern, depth, seen) + _int(obj.flags)


def _partial(obj: Any, depth: int, seen: Seen) -> bytes:
    # A partial has a __dict__ too: attributes set on it are read like the rest.
    pairs = [("func", obj.func), ("args", obj.args), ("keywords", obj.keywords)]
    return b"p" + _attributes([*pairs, ("__dict__", dict(obj.__dict__))], depth, seen)


def _by_reduce(obj: Any, depth: int, seen: Seen) -> bytes:
    """Types whose ``__reduce__`` is all their state: itemgetter and friends' arguments (a
    methodcaller's keywords sit in the callable, a partial)."""
    return b"&" + _type(type(obj), depth, seen) + encode(obj.__reduce__(), depth, seen)


def _array(obj: Any, depth: int, seen: Seen) -> bytes:
    data = obj.tobytes()
    return b"V" + _str(obj.typecode) + _len(len(data)) + data


def _struct(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"$" + encode(obj.format, depth, seen)


def _hash_object(obj: Any, depth: int, seen: Seen) -> bytes:
    """A hashlib object: its algorithm and its digest so far, which stand for all it absorbed."""
    try:
        digest = obj.digest()
    except TypeError:  # shake: the caller chooses the length; 64 bytes stand for the state
        digest = obj.digest(64)
    return b"H" + _str(obj.name) + _int(obj.digest_size) + _bytes(digest)


def _constant(obj: Any, depth: int, seen: Seen) -> bytes:
    return b"." if obj is Ellipsis else b"!"


def _static(obj: Any, depth: int, seen: Seen) -> bytes:
    """staticmethod, classmethod: the function they wrap."""
    return b"@" + _qualname(type(obj)) + encode(obj.__func__, depth, seen)


def _property(obj: Any, depth: int, seen: Seen) -> bytes:
    pairs = [("fget", obj.fget), ("fset", obj.fset), ("fdel", obj.fdel), ("doc", obj.__doc__)]
    return b"%" + _attributes(pairs, depth, seen)


def _generic_alias(obj: Any, depth: int, seen: Seen) -> bytes:
    """``list[int]``, ``int | None``: annotations that dataclass fields hold."""
    origin = getattr(obj, "__origin__", None)
    return b"<" + encode(origin, depth, seen) + encode(obj.__args__, depth, seen)


#: Value types keyed by the type itself (their modules are always loaded) ...
_VALUES: dict[type, Callable[[Any, int, Seen], bytes]] = {
    complex: _complex,
    bytearray: _bytearray,
    memoryview: _memoryview,
    _dt.datetime: _datetime_value,
    _dt.date: _date_value,
    _dt.time: _time_value,
    _dt.timedelta: _timedelta_value,
    _dt.timezone: _tz,
    types.EllipsisType: _constant,
    types.NotImplementedType: _constant,
    staticmethod: _static,
    classmethod: _static,
    property: _property,
    types.GenericAlias: _generic_alias,
    types.UnionType: _generic_alias,
    types.MappingProxyType: lambda o, d, s: b"j" + _dict(dict(o.items()), d, s),
}
# ... and by name, for modules cachework does not import itself (a cold start stays light):
# if the module is not loaded, no such value can exist.
_NAMED: dict[tuple[str, str], Callable[[Any, int, Seen], bytes]] = {
    ("decimal", "Decimal"): _decimal,
    ("fractions", "Fraction"): _fraction,
    ("uuid", "UUID"): _uuid,
    ("zoneinfo", "ZoneInfo"): _tz,
    ("collections", "OrderedDict"): _ordered_dict,
    ("collections", "defaultdict"): _default_dict,
    ("collections", "deque"): _deque,
    ("_collections", "_tuplegetter"): _by_reduce,
    ("re", "Pattern"): _pattern,
    ("functools", "partial"): _partial,
    ("operator", "itemgetter"): _by_reduce,
    ("operator", "attrgetter"): _by_reduce,
    ("operator", "methodcaller"): _by_reduce,
    ("array", "array"): _array,
    ("_struct", "Struct"): _struct,
}
#: hashlib's types live in several C modules, depending on the build and Python version.
_HASHLIB_MODULES = frozenset(
    {"_hashlib", "_blake2", "_md5", "_sha1", "_sha2", "_sha256", "_sha512", "_sha3"}
)


def _base_value(tp: type) -> tuple[type, Callable[[Any, int, Seen], bytes]] | None:
    """The nearest base of ``tp`` with an encoding of its own, and that encoding."""
    for base in tp.__mro__[1:]:
        if base is object:
            return None
        found = (
            _SIMPLE_BASES.get(base)
            or _COMPOUND_BASES.get(base)
            or _VALUES.get(base)
            or _NAMED.get((base.__module__, base.__qualname__))
        )
        if found is not None:
            return base, found
    return None


_SIMPLE_BASES: dict[type, Callable[[Any, int, Seen], bytes]] = {
    str: lambda o, d, s: _str(str.__str__(o)),
    int: lambda o, d, s: _int(int.__int__(o)),  # the value, not what __int__ says
    float: lambda o, d, s: _float(float.__float__(o)),
    bytes: lambda o, d, s: _bytes(memoryview(o).tobytes()),
}
_COMPOUND_BASES: dict[type, Callable[[Any, int, Seen], bytes]] = {
    list: lambda o, d, s: _sequence(b"l", list(list.__iter__(o)), d, s),
    tuple: lambda o, d, s: _sequence(b"t", tuple(tuple.__iter__(o)), d, s),
    dict: _dict,
    set: lambda o, d, s: _members(b"S", set.__iter__(o), d, s),
    frozenset: lambda o, d, s: _members(b"Z", frozenset.__iter__(o), d, s),
}


def _other(obj: Any, tp: type, depth: int, seen: Seen) -> bytes:
    """Subclasses of the types above, then plain objects from their state, else refused."""
    if isinstance(obj, _REFUSED_TYPES) or _refused_by_module(tp):
        raise _Refused(f"cannot hash {_name(tp)}")
    if tp.__module__ in _HASHLIB_MODULES and hasattr(obj, "hexdigest"):
        return _hash_object(obj, depth, seen)
    if tp is types.CodeType:
        return _code(obj, depth, seen)
    if tp is types.SimpleNamespace:
        return b"O" + _type(tp, depth, seen) + _state(obj, tp, depth, seen, required=True)
    if tp.__module__ == "functools" and tp.__qualname__ == "cached_property":
        return b"*" + encode(obj.func, depth, seen) + encode(obj.attrname, depth, seen)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, (np.ndarray, np.generic)):
        return _numpy(obj, tp, depth, seen)  # a subclass defined outside numpy
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
        # A subclass defined outside pandas: its declared extra attributes count too.
        extra = [(name, getattr(obj, name, None)) for name in getattr(tp, "_metadata", ())]
        return _pandas(obj, tp, depth, seen) + _attributes(extra, depth, seen)
    base = _base_value(tp)
    if base is not None:
        head = b"B" + _type(tp, depth, seen)
        return head + base[1](obj, depth, seen) + _state(obj, tp, depth, seen)
    if not tp.__flags__ & _HEAPTYPE:
        # A C type with no encoding of its own: its state is invisible to us.
        raise _Refused(f"cannot hash {_name(tp)}")
    state = _state(obj, tp, depth, seen, required=True)  # first: it names hidden C fields
    return b"O" + _type(tp, depth, seen) + state


def _slot_names(tp: type) -> list[str]:
    names = []
    for klass in tp.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        # sorted: __slots__ may be a set, whose order changes with the hash seed
        for slot in (slots,) if isinstance(slots, str) else sorted(slots):
            if slot not in ("__dict__", "__weakref__"):
                names.append(slot)
    return names


def _hidden_fields(tp: type) -> bool:
    """Whether instances of ``tp`` hold fields that neither ``__dict__`` nor slots show.

    The test pickle itself makes before it pickles an object from its dict ("cannot pickle
    'X' object"): the instance is larger than object + dict + weakref pointers + slots, so a
    C base (a pattern, a partial, an exception, a hash) keeps state of its own. A class
    written in Python, however deep its hierarchy, adds only dict, weakref and slots.
    """
    if tp.__itemsize__:
        return True
    size = object.__basicsize__ + _POINTER * len(_slot_names(tp))
    if tp.__dictoffset__ and not tp.__flags__ & _MANAGED_DICT:
        size += _POINTER
    if tp.__weakrefoffset__ > 0:
        size += _POINTER
    return tp.__basicsize__ > size


def _python_reduce(tp: type) -> str | None:
    """``__reduce_ex__`` or ``__reduce__`` if the nearest one is written in Python, else None."""
    for klass in tp.__mro__:
        for name in ("__reduce_ex__", "__reduce__"):
            method = klass.__dict__.get(name)
            if method is not None:
                return name if isinstance(method, types.FunctionType) else None
    return None


_NO_ATTRIBUTES = _len(0)  # what _attributes writes for none


def _attributes(pairs: list[tuple[str, Any]], depth: int, seen: Seen) -> bytes:
    parts = [_len(len(pairs))]
    for name, value in pairs:
        try:
            parts.append(_str(name) + encode(value, depth, seen))
        except _Refused as e:
            e.path.insert(0, f".{name}")
            raise
    return b"".join(parts)


def _state(obj: Any, tp: type, depth: int, seen: Seen, required: bool = False) -> bytes:
    """An object's state: its own ``__getstate__`` if it has one, else ``__dict__`` and slots.

    ``required``: the object is encoded from its state alone, so a C base's hidden fields
    would be lost; such an object is refused unless its class writes its own state.
    """
    getstate = getattr(tp, "__getstate__", None)
    if getstate is not None and getstate is not _object_getstate:
        try:
            state = obj.__getstate__()
        except Exception as e:
            raise _Refused(f"{tp.__qualname__}.__getstate__() raised {e!r}") from e
        return b"(" + encode(state, depth, seen)
    if required:
        reduce = _python_reduce(tp)
        if reduce is not None:
            # The class says in Python how it is rebuilt (a logger by its name, a store by
            # its URL): that is its identity, caches and connections left out.
            try:
                value = obj.__reduce_ex__(4) if reduce == "__reduce_ex__" else obj.__reduce__()
            except Exception as e:
                raise _Refused(f"{tp.__qualname__}.{reduce}() raised {e!r}") from e
            return b")" + encode(value, depth, seen)
    if required and _hidden_fields(tp):
        base = next((b for b in tp.__mro__ if b.__flags__ & _C_TYPE), tp)
        raise _Refused(
            f"cannot hash {_name(tp)}: its state lives in {_name(base)}'s fields, which "
            "cachework cannot see (define __cachework_key__)"
        )
    pairs = sorted(getattr(obj, "__dict__", {}).items())
    # Apart from the dict: a slot left empty and a dict entry of its name read differently.
    names = _slot_names(tp)
    slots = [(slot, getattr(obj, slot)) for slot in names if hasattr(obj, slot)] if names else []
    if not pairs and not slots and not required:
        return b"-"
    own = _attributes(slots, depth, seen) if slots else _NO_ATTRIBUTES
    return b"+" + (_attributes(pairs, depth, seen) if pairs else _NO_ATTRIBUTES) + own


# -- functions and classes ---------------------------------------------------------------------
# Importable ones are written as a reference (module and qualified name), as pickle does.
# The others (lambdas, local functions and classes, anything of __main__) are written from
# their structure: code, constants, closure, defaults and the globals they read, each through
# encode itself, so a set in a constant or an attribute is written in a fixed order whatever
# the hash seed (cloudpickle's bytes were not: set order, and a random id per class).

#: Entries of a class's namespace that are caches or implementation detail, not behaviour.
_CLASS_SKIP = frozenset(
    {"__dict__", "__weakref__", "_abc_impl", "__slotnames__", "__annotations__"}
)


def _reference(obj: Any, main: bool = False) -> bytes | None:
    """``main``: a name in ``__main__`` counts too (the class of an argument; a function or
    class passed itself is written from its definition, as cloudpickle would ship it)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or (module == "__main__" and not main) or not isinstance(qualname, str):
        return None
    target = sys.modules.get(module)
    if target is None or "<locals>" in qualname:
        return None
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    if target is not obj:
        return None
    return b"R" + _str(module) + _str(qualname)


def _definition(obj: Any, tp: type, depth: int, seen: Seen) -> bytes:
    ref = _reference(obj)
    if ref is not None:
        return ref
    if isinstance(obj, types.FunctionType):
        return _function(obj, depth, seen)
    if isinstance(obj, type):
        return _class(obj, depth, seen)
    if isinstance(obj, types.MethodType):
        return b"m" + _attributes(
            [("__func__", obj.__func__), ("__self__", obj.__self__)], depth, seen
        )
    owner = getattr(obj, "__self__", None)
    if owner is not None and not isinstance(owner, types.ModuleType):
        # A bound built-in method ("abc".upper, [].append): its object and its name.
        return b"W" + _attributes([("__self__", owner)], depth, seen) + _str(obj.__name__)
    raise _Refused(f"cannot hash {_name(tp)} {getattr(obj, '__qualname__', '?')}: not importable")


def _global_names(code: types.CodeType, names: set[str]) -> set[str]:
    names.update(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _global_names(const, names)
    return names


def _function(fn: types.FunctionType, depth: int, seen: Seen) -> bytes:
    code = fn.__code__
    globals_ = fn.__globals__
    read = []
    for name in sorted(_global_names(code, set())):
        if name in globals_:
            value = globals_[name]
            # A module is named, as pickle does: its contents are the program, not the value.
            read.append((name, _Module(value) if isinstance(value, types.ModuleType) else value))
    cells = []
    for cell in fn.__closure__ or ():
        try:
            cells.append(cell.cell_contents)
        except ValueError:  # a cell not yet filled (a local defined after the function)
            cells.append(_EMPTY_CELL)
    pairs = [
        ("__code__", code),
        ("__defaults__", fn.__defaults__),
        ("__kwdefaults__", fn.__kwdefaults__),
        ("__closure__", tuple(cells)),
        ("__globals__", dict(read)),
        ("__dict__", dict(fn.__dict__)),
    ]
    return (
        b"L" + _str(fn.__module__ or "") + _str(fn.__qualname__) + _attributes(pairs, depth, seen)
    )


class _Module:
    """A module read by a function, written by name."""

    def __init__(self, module: types.ModuleType) -> None:
        self.name = module.__name__

    def __cachework_key__(self) -> str:
        return self.name


class _EmptyCell:
    def __cachework_key__(self) -> None:
        return None


_EMPTY_CELL = _EmptyCell()


def _code(code: types.CodeType, depth: int, seen: Seen) -> bytes:
    """What a code object does, without where it stands (file, line numbers)."""
    pairs = [
        ("co_name", code.co_name),
        ("co_qualname", getattr(code, "co_qualname", code.co_name)),
        ("co_argcount", code.co_argcount),
        ("co_posonlyargcount", code.co_posonlyargcount),
        ("co_kwonlyargcount", code.co_kwonlyargcount),
        ("co_flags", code.co_flags),
        ("co_code", code.co_code),
        ("co_consts", code.co_consts),
        ("co_names", code.co_names),
        ("co_varnames", code.co_varnames),
        ("co_freevars", code.co_freevars),
        ("co_cellvars", code.co_cellvars),
        ("co_exceptiontable", getattr(code, "co_exceptiontable", b"")),
    ]
    return b"k" + _attributes(pairs, depth, seen)


def _class(cls: type, depth: int, seen: Seen) -> bytes:
    namespace = [
        (name, value)
        for name, value in cls.__dict__.items()
        if name not in _CLASS_SKIP
        # slots' descriptors: __slots__ itself is written
        and not isinstance(value, (types.MemberDescriptorType, types.GetSetDescriptorType))
    ]
    namespace.sort(key=lambda pair: pair[0])
    pairs = [("__class__", type(cls)), ("__bases__", cls.__bases__), *namespace]
    return b"Y" + _str(cls.__module__) + _str(cls.__qualname__) + _attributes(pairs, depth, seen)


# -- numpy and pandas --------------------------------------------------------------------------


def _dtype(dtype: Any) -> bytes:
    """A numpy dtype: its byte order, kind and size, its fields, alignment and metadata."""
    # The short form ('<f4', '<M8[s]') is exact for plain dtypes; fields, sub-arrays and
    # numpy 2's strings (their NA object) show only in the long one.
    plain = dtype.fields is None and dtype.subdtype is None and dtype.kind != "T"
    text = dtype.str if plain else repr(dtype)
    metadata = dtype.metadata
    # The metadata by value, not by repr: a repr may hide state, or hold a set's order.
    return _str(text) + encode(dict(metadata) if metadata else None)


def _numpy(obj: Any, tp: type, depth: int, seen: Seen) -> bytes:
    np: Any = sys.modules["numpy"]
    if isinstance(obj, np.ndarray):
        encoded = _ndarray(obj, np, depth, seen)
        if tp is np.ndarray:
            return encoded
        # np.matrix, masked arrays, user subclasses: the class and its state (a mask) count.
        return b"B" + _type(tp, depth, seen) + encoded + _state(obj, tp, depth, seen)
    if isinstance(obj, np.generic):
        if obj.dtype.hasobject:
            encoded = b":" + encode(obj.item(), depth, seen)
        else:
            encoded = b"G" + _dtype(obj.dtype) + _bytes(obj.tobytes())
        if type(obj).__module__ == "numpy":
            return encoded
        return b"B" + _type(tp, depth, seen) + encoded + _state(obj, tp, depth, seen)
    if isinstance(obj, np.dtype):
        return b"g" + _dtype(obj)
    if isinstance(obj, np.ufunc):
        name = obj.__name__
        if getattr(np, name, None) is obj:  # np.add and friends: by name, like functions
            return b"R" + _str("numpy") + _str(name)
    raise _Refused(f"cannot hash {_name(tp)}")


def _ndarray(obj: Any, np: Any, depth: int, seen: Seen) -> bytes:
    if type(obj) is not np.ndarray:
        obj = obj.view(np.ndarray)  # the data only: a subclass's own state is written apart
    dtype = obj.dtype
    shape = _sequence(b"t", obj.shape, depth, seen)
    if dtype.hasobject or dtype.kind == "T":
        # Objects, and numpy 2's variable-width strings, hold pointers: encode the values.
        return b"=" + _dtype(dtype) + shape + encode(obj.tolist(), depth, seen)
    # Hash the buffer where it lies: a 50 MB array is never copied when contiguous.
    flat = obj if obj.flags.c_contiguous else np.ascontiguousarray(obj)
    digest = xxhash.xxh3_128_digest(flat.reshape(-1).view(np.uint8))
    return b"A" + _dtype(dtype) + shape + digest


def _pandas(obj: Any, tp: type, depth: int, seen: Seen) -> bytes:
    pd = sys.modules["pandas"]
    head = b"X" + _type(tp, depth, seen)
    if isinstance(obj, pd.DataFrame):
        columns = []
        for i in range(obj.shape[1]):
            try:
                columns.append(_pd_values(obj.iloc[:, i], pd, depth, seen))
            except _Refused as e:
                e.path.insert(0, f".iloc[:, {i}]")
                raise
        return (
            head
            + _pd_index(obj.columns, pd, depth, seen, ".columns")
            + _pd_index(obj.index, pd, depth, seen, ".index")
            + _len(len(columns))
            + b"".join(columns)
            + _pd_meta(obj, depth, seen)
        )
    if isinstance(obj, pd.Series):
        return (
            head
            + _attributes([("name", obj.name)], depth, seen)
            + _pd_values(obj, pd, depth, seen)
            + _pd_index(obj.index, pd, depth, seen, ".index")
            + _pd_meta(obj, depth, seen)
        )
    if isinstance(obj, pd.Index):
        return head + _pd_index(obj, pd, depth, seen, "")
    if obj is pd.NA or obj is pd.NaT:
        return head
    if isinstance(obj, pd.Timestamp):
        return head + _str(obj.isoformat()) + _str(obj.unit) + _tz(obj.tzinfo, depth, seen)
    if isinstance(obj, (pd.Timedelta, pd.Period)):
        return head + _str(repr(obj)) + _str(getattr(obj, "unit", ""))
    if isinstance(obj, pd.Interval):
        pairs = [("left", obj.left), ("right", obj.right), ("closed", obj.closed)]
        return head + _attributes(pairs, depth, seen)
    raise _Refused(f"cannot hash {_name(tp)}")


def _pd_meta(obj: Any, depth: int, seen: Seen) -> bytes:
    """What a function can read beside the values: ``attrs`` and the duplicate-label flag."""
    pairs = [("attrs", dict(obj.attrs)), ("flags", obj.flags.allows_duplicate_labels)]
    return _attributes(pairs, depth, seen)


def _pd_values(values: Any, pd: Any, depth: int, seen: Seen) -> bytes:
    """A column (Series, Index or array): dtype and values, each value with its own type."""
    dtype = values.dtype
    np: Any = sys.modules["numpy"]
    if isinstance(dtype, np.dtype) and not dtype.hasobject:
        return b"0" + _ndarray(values.to_numpy(copy=False), np, depth, seen)
    if isinstance(dtype, pd.CategoricalDtype):
        # The categories (used or not), their order and the ordered flag all show.
        cat = values.array if not isinstance(values, pd.Categorical) else values
        return (
            b"1"
            + _pd_index(dtype.categories, pd, depth, seen, ".cat.categories")
            + (b"T" if dtype.ordered else b"F")
            + _ndarray(np.asarray(cat.codes), np, depth, seen)
        )
    # Object columns and extension arrays (strings, nullable ints, zoned datetimes): every
    # value with its type, so 1, '1', True and 'True' stay apart, and None apart from NaN.
    items = values.to_numpy(dtype=object).tolist()
    return b"2" + _str(repr(dtype)) + _sequence(b"l", items, depth, seen)


def _pd_index(index: Any, pd: Any, depth: int, seen: Seen, where: str) -> bytes:
    try:
        head = _type(type(index), depth, seen) + _attributes(
            [("names", list(index.names))], depth, seen
        )
        if isinstance(index, pd.RangeIndex):
            return head + _int(index.start) + _int(index.stop) + _int(index.step)
        if isinstance(index, pd.MultiIndex):
            levels = [_pd_index(level, pd, depth, seen, "") for level in index.levels]
            codes = [
                _ndarray(np_codes, sys.modules["numpy"], depth, seen) for np_codes in index.codes
            ]
            return head + b"".join(levels) + b"".join(codes)
        freq = getattr(index, "freqstr", None)
        return head + encode(freq, depth, seen) + _pd_values(index, pd, depth, seen)
    except _Refused as e:
        if where:
            e.path.insert(0, where)
        raise


_PREFIX = b"cachework/%d" % KEY_SCHEME
_NAMES: dict[str, bytes] = {}  # parameter names, encoded once: they repeat on every call


def key_for(arguments: Mapping[str, Any], version: Any = None) -> str:
    """The key of one call: xxh3_128 over the encoded arguments (by name) and the version."""
    data = _quick(arguments, version)
    if data is None:
        data = _encoding(arguments, version)
    return xxhash.xxh3_128_hexdigest(data)


def _encoding(arguments: Mapping[str, Any], version: Any = None) -> bytes:
    """The bytes ``key_for`` hashes, by the general encoder: every value, and the reference
    the quick encoder below must equal byte for byte."""
    parts = [_PREFIX, _len(len(arguments))]
    for name in sorted(arguments):
        try:
            parts.append(_name_label(name) + encode(arguments[name]))
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
    return b"".join(parts)


def _name_label(name: str) -> bytes:
    label = _NAMES.get(name)
    if label is None:
        label = _str(name)
        if len(_NAMES) < 4096:  # bounded: names are few, but never trust that
            _NAMES[name] = label
    return label


# -- the quick encoder -----------------------------------------------------------------------
# Most calls pass a few strs, ints and floats, or a small list or dict of them. For those,
# encode() costs two Python calls per value and struct packs of lengths that are almost always
# small; _quick writes the same bytes (tests/test_keys_quick.py checks it against _encoding on
# generated values) from tables, one Python call per container, and gives up (None) on
# anything else, which the general encoder then writes.

#: Nesting the quick encoder follows: a list of dicts of lists of scalars. Deeper values (and
#: a container holding itself) are left to the general encoder, which refuses cycles.
_QUICK_DEPTH = 4
_SMALL = 256  # lengths and counts below this come from the tables
# Every process builds the tables as it imports cachework, a cold hit too (issue 19): by
# C functions (map) where they can, and the ints as _int writes them (one byte below 128,
# two from there: the sign bit stays clear) rather than by 1,024 calls of it, ~2.5 M
# instructions fewer in all. tests/test_keys_quick.py checks each entry against _int, _str,
# _bytes and _len.
_COUNTS = tuple(map(_len, range(_SMALL)))
_STR_HEADS = tuple(map(b"s".__add__, _COUNTS))
_BYTES_HEADS = tuple(map(b"b".__add__, _COUNTS))
_SMALL_INTS = tuple(
    [b"i" + _COUNTS[1] + bytes((n,)) for n in range(128)]
    + [b"i" + _COUNTS[2] + n.to_bytes(2, "little") for n in range(128, 1024)]
)
_CONTAINER_TAGS: dict[type, bytes] = {list: b"l", tuple: b"t", set: b"S", frozenset: b"Z"}
_concat = operator.add


def _quick(arguments: Mapping[str, Any], version: Any = None) -> bytes | None:
    """``_encoding(arguments, version)`` for calls of plain values only, else None."""
    count = len(arguments)
    if count >= _SMALL:
        return None
    if count == 2:  # the commonest call: two names put in order without sorted()'s list
        first, second = arguments
        names: Any = (first, second) if first < second else (second, first)
    else:
        names = sorted(arguments)
    parts = [_PREFIX, _COUNTS[count]]
    append = parts.append
    labels = _NAMES
    for name in names:
        label = labels.get(name)
        append(_name_label(name) if label is None else label)
        v = arguments[name]
        if type(v) is str:  # the commonest argument, written here without a call
            try:
                b = v.encode()  # UTF-8; naming the error handler costs more than encoding
            except UnicodeEncodeError:  # a lone surrogate: written as _str writes it
                return None
            n = len(b)
            append(_STR_HEADS[n] + b if n < _SMALL else b"s" + _len(n) + b)
            continue
        if type(v) is int and 0 <= v < 1024:
            append(_SMALL_INTS[v])
            continue
        encoded = _quick_values((v,), 0)
        if encoded is None:
            return None
        append(encoded[0])
    if version is not None:
        encoded = _quick_values((version,), 0)
        if encoded is None:
            return None
        append(b"v" + encoded[0])
    return b"".join(parts)


def _quick_values(values: Any, depth: int) -> list[bytes] | None:
    """The encodings of ``values``, one each, if every one is a str, int, float, bool, None
    or bytes, or a list, tuple, set, frozenset or dict of them (``_QUICK_DEPTH`` deep), all
    of exactly these types; else None."""
    out: list[bytes] = []
    append = out.append
    for v in values:
        tp = type(v)
        if tp is str:
            try:
                b = v.encode()
            except UnicodeEncodeError:
                return None
            n = len(b)
            append(_STR_HEADS[n] + b if n < _SMALL else b"s" + _len(n) + b)
        elif tp is int:
            append(_SMALL_INTS[v] if 0 <= v < 1024 else _int(v))
        elif tp is float:
            append(b"f" + (_NAN if v != v else _double(v)))
        elif tp is bool:
            append(b"T" if v else b"F")
        elif v is None:
            append(b"N")
        elif tp is bytes:
            n = len(v)
            append(_BYTES_HEADS[n] + v if n < _SMALL else b"b" + _len(n) + v)
        elif depth >= _QUICK_DEPTH:
            return None
        elif tp is dict:
            names = _quick_values(dict.keys(v), depth + 1)
            members = None if names is None else _quick_values(dict.values(v), depth + 1)
            if members is None:
                return None
            items = list(map(_concat, names, members))  # type: ignore[arg-type]
            items.sort()  # as _dict: a dict's order never matters
            append(b"d" + _len(len(items)) + b"".join(items))
        else:
            tag = _CONTAINER_TAGS.get(tp)
            if tag is None:
                return None
            members = _quick_values(v, depth + 1)
            if members is None:
                return None
            if tp is set or tp is frozenset:
                members.sort()  # as _members: a set's order never matters
            append(tag + _len(len(members)) + b"".join(members))
    return out


#: Versions whose encoding a positional key keeps: values that cannot change in place.
_VERSION_TYPES = frozenset({str, int, type(None)})
#: Calls whose arguments are all of these types remember their key: the next identical call
#: skips encoding and hashing. No two values of different types here are equal (``==``) or
#: change in place, so a tuple of them is a dict key that tells calls apart exactly as their
#: keys do. Not bool (``True == 1``) nor float (``-0.0 == 0.0``).
_MEMO_TYPES = frozenset({str, int, bytes, type(None)})
#: Keys a positional key remembers, per version.
KEY_MEMO_SIZE = 1024
#: A memo that fills up belongs to a work meeting more distinct calls than it holds (a
#: pipeline's hits: each file, each day once); kept and refilled, it would serve none of them
#: and cost each a remember. It rests for this many calls instead, then starts again empty:
#: a work whose calls repeat gets it back after them.
MEMO_REST = 3 * KEY_MEMO_SIZE


class PositionalKey:
    """The keys of a work's calls that pass every parameter by position (most calls), made
    without binding them to names: what ``key_for`` gives for the bound arguments, with the
    names' order and labels taken once, when the work is made. A call with another number of
    arguments, or a value only the general encoder writes, gives None: the caller then binds
    and keys it the general way. Pickled as its parameters (a work travels to processes)."""

    __slots__ = ("_head", "_last", "_made_of", "_order", "_rest", "arity")

    def __init__(self, names: Sequence[str], ignored: Collection[str] = ()) -> None:
        kept = sorted((name, i) for i, name in enumerate(names) if name not in ignored)
        self._made_of = (tuple(names), tuple(ignored))
        self.arity = len(names)
        self._head = _PREFIX + _COUNTS[len(kept)]
        self._order = tuple((i, _name_label(name)) for name, i in kept)
        #: The latest version, its encoding and the memo of its keys (arguments -> key),
        #: replaced whole: a thread never reads half of it.
        self._last: tuple[Any, bytes, dict[tuple[Any, ...], str]] = (None, b"", {})
        #: Calls left before a full memo is used again (``MEMO_REST``); 0 while it is in use.
        self._rest = 0

    @classmethod
    def of(cls, names: Sequence[str], ignored: Collection[str] = ()) -> PositionalKey | None:
        """The keys for these parameters, or None where the quick encoder never applies."""
        return cls(names, ignored) if len(names) < _SMALL else None

    def __reduce__(self) -> tuple[type[PositionalKey], tuple[tuple[str, ...], tuple[str, ...]]]:
        return PositionalKey, self._made_of

    def __call__(self, args: tuple[Any, ...], version: Any) -> str | None:
        if len(args) != self.arity:
            return None
        version_seen, tail, memo = self._last
        if version is not version_seen:
            if type(version) not in _VERSION_TYPES:
                return None  # a value that could change in place: key_for encodes it each call
            tail = b"" if version is None else b"v" + encode(version)
            memo = {}
            self._last = (version, tail, memo)
        rest = self._rest
        if rest:
            self._rest = rest - 1
            remember = False
        else:
            remember = _MEMO_TYPES.issuperset(map(type, args))
            if remember:
                known = memo.get(args)
                if known is not None:
                    return known
        parts = [self._head]
        append = parts.append
        for i, label in self._order:
            append(label)
            v = args[i]
            if type(v) is str:
                try:
                    b = v.encode()
                except UnicodeEncodeError:
                    return None
                n = len(b)
                append(_STR_HEADS[n] + b if n < _SMALL else b"s" + _len(n) + b)
            elif type(v) is int and 0 <= v < 1024:
                append(_SMALL_INTS[v])
            else:
                encoded = _quick_values((v,), 0)
                if encoded is None:
                    return None
                append(encoded[0])
        append(tail)
        key = xxhash.xxh3_128_hexdigest(b"".join(parts))
        if remember:
            if len(memo) < KEY_MEMO_SIZE:
                memo[args] = key
            else:
                memo.clear()
                self._rest = MEMO_REST
        return key


#: Ints longer than this many bits are shown as short text: int->str refuses more than
#: 4300 digits (about 14,284 bits) since Python 3.11, and nobody reads such a number.
_INT_TEXT_BITS = 4096


def jsonable(value: Any, _depth: int = 0) -> Any:
    """The value as it appears in the ``args`` column: JSON where JSON can hold it, else short text.

    The text is valid wherever the JSON is stored: lone surrogates (an undecodable file
    name) and NUL, which neither UTF-8 text nor PostgreSQL's jsonb accept, are written as
    backslash escapes. Values the key keeps apart but JSON would merge are written as text:
    NaN and infinities, ``-0.0`` (jsonb reads it as 0), ints too long for a number.
    ``--arg`` filters and ``Store.forget`` compare through this same function, so a value
    matches exactly what was stored for it.
    """
    tp = type(value)
    if tp is str:
        return _text(value)
    if tp is bool or value is None:
        return value
    if tp is int:
        return value if value.bit_length() <= _INT_TEXT_BITS else _long_int(value)
    if tp is float:
        if value == 0.0 and math.copysign(1.0, value) < 0:
            return "-0.0"
        return value if math.isfinite(value) else repr(value)
    if _depth > 20:
        return _short(value)
    if tp is list or tp is tuple:
        return [jsonable(v, _depth + 1) for v in value]
    if tp is dict:
        return {_label(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return jsonable(value.value, _depth + 1)
    if isinstance(value, (_dt.date, _dt.time)):
        return _text(value.isoformat())
    if (tp.__module__, tp.__qualname__) in _AS_TEXT or _is_path(value):
        return _text(str(value))
    if isinstance(value, (set, frozenset)):
        import json

        items = [jsonable(v, _depth + 1) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return _short(value)


_AS_TEXT = frozenset({("decimal", "Decimal"), ("fractions", "Fraction"), ("uuid", "UUID")})


def _text(s: str) -> str:
    """``s`` as text any database stores: lone surrogates and NUL as backslash escapes."""
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s.replace("\x00", "\\x00") if "\x00" in s else s


def _label(key: Any) -> str:
    """A dict key as a JSON object's member name (always text)."""
    if type(key) is str:
        return _text(key)
    if type(key) is int and key.bit_length() > _INT_TEXT_BITS:
        return _long_int(key)
    try:
        return _text(str(key))
    except Exception:
        return _short(key)


def _long_int(n: int) -> str:
    """A huge int as short text: its magnitude and a digest, so two of them never read alike."""
    import decimal

    digest = xxhash.xxh3_64_hexdigest(_int(n))
    return f"int {decimal.Decimal(n):.12e} #{digest}"


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__qualname__}>"
    return _text(text if len(text) <= 80 else text[:77] + "...")


_encode_json: Any = None


def args_json(arguments: Mapping[str, Any]) -> str:
    """The JSON stored in the ``args`` column: readable by ``json_extract`` and ``->>``.

    Names are written as values are (``arg_name``). Two names the key keeps apart but that
    are written alike (a lone ``\\udcff`` and the text ``\\\\udcff``) would leave one
    value out: such a call is refused with ``UnhashableArgument`` before it runs.
    One encoder serves every miss: ``json.dumps`` with options builds a new one per call.
    """
    stored = {arg_name(name): jsonable(v) for name, v in arguments.items()}
    if len(stored) < len(arguments):
        seen: dict[str, str] = {}
        for name in sorted(arguments):
            other = seen.setdefault(arg_name(name), name)
            if other != name:
                raise UnhashableArgument(
                    f"arguments {other!r} and {name!r} would both be stored under the "
                    f"name {arg_name(name)!r} in the args column: pass one of them under "
                    "another name"
                )
    return _encoder()(stored)  # type: ignore[no-any-return]


def arg_name(name: str) -> str:
    """An argument's name as the ``args`` column holds it: as text, like a value (lone
    surrogates and NUL escaped). The filters look names up through it too."""
    return _text(name)


def arg_json(value: Any) -> str:
    """One argument's value as ``args_json`` writes it: what an argument filter compares."""
    return _encoder()(jsonable(value))  # type: ignore[no-any-return]


def name_json(name: str) -> str:
    """An argument's name as ``args_json`` spells it, quoted: what a JSON path names."""
    return _encoder()(name)  # type: ignore[no-any-return]


def _encoder() -> Any:
    global _encode_json
    if _encode_json is None:
        import json  # not on the hit path

        _encode_json = json.JSONEncoder(
            sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode
    return _encode_json
