"""Issue 14: two arguments share a key only if the function cannot tell them apart.

Each pair below shared a key under key scheme 1 (a silent wrong hit); each refused value
was keyed by its class alone. Values the encoder cannot see are refused, naming the path.
"""

from __future__ import annotations

import _random
import array
import bz2
import collections
import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import itertools
import json
import math
import operator
import os
import pathlib
import random
import re
import struct
import subprocess
import sys
import types
import typing
import uuid
import warnings
import zlib
import zoneinfo
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cachework
from cachework import UnhashableArgument, key_for
from cachework._keys import KEY_SCHEME, args_json, jsonable

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))


def k(value):
    return key_for({"x": value})


class Day(dt.date):
    pass


class FakeDatetime(dt.datetime):
    """Like freezegun's: a datetime subclass, sometimes with state of its own."""


class Span(dt.timedelta):
    pass


class Clock(dt.time):
    pass


class Money(Decimal):
    pass


class Phase(complex):
    pass


class Buffer(bytearray):
    pass


class Ratio(Fraction):
    pass


class LoudPartial(functools.partial):
    pass


class Grid(np.ndarray):
    pass


def _matrix(rows):
    with warnings.catch_warnings():  # np.matrix is discouraged, not gone: users still pass it
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(rows)


def obj_series(values):
    return pd.Series(values, dtype=object)


def _tagged(cls, value, **attrs):
    obj = cls(value) if not isinstance(value, tuple) else cls(*value)
    obj.__dict__.update(attrs)
    return obj


PAIRS = {
    # 1. C types built as heap types: each had one key for all its values
    "pattern": (re.compile("a"), re.compile("b")),
    "pattern flags": (re.compile("a"), re.compile("a", re.IGNORECASE)),
    "bytes pattern": (re.compile(b"a"), re.compile("a")),
    "partial func": (functools.partial(int, "1"), functools.partial(float, "1")),
    "partial args": (functools.partial(int, "1"), functools.partial(int, "2")),
    "partial keywords": (functools.partial(int, base=2), functools.partial(int, base=3)),
    "partial subclass": (functools.partial(int, base=2), LoudPartial(int, base=2)),
    "itemgetter": (operator.itemgetter(1), operator.itemgetter(2)),
    "itemgetter many": (operator.itemgetter(1), operator.itemgetter(1, 2)),
    "attrgetter": (operator.attrgetter("a"), operator.attrgetter("b")),
    "methodcaller": (operator.methodcaller("m", 1), operator.methodcaller("m", 2)),
    "methodcaller keywords": (operator.methodcaller("m", a=1), operator.methodcaller("m", a=2)),
    "array data": (array.array("i", [1]), array.array("i", [2])),
    "array typecode": (array.array("i", [1]), array.array("l", [1])),
    "struct": (struct.Struct("i"), struct.Struct("q")),
    "sha256": (hashlib.sha256(b"a"), hashlib.sha256(b"b")),
    "hash algorithm": (hashlib.sha256(b"a"), hashlib.sha512(b"a")),
    "blake2 key": (hashlib.blake2b(b"a"), hashlib.blake2b(b"a", key=b"k")),
    "shake": (hashlib.shake_128(b"a"), hashlib.shake_128(b"b")),
    # 2. subclasses of value types keep their value and their class (and their state)
    "date subclass value": (Day(2024, 1, 1), Day(2025, 6, 30)),
    "date subclass class": (Day(2024, 1, 1), dt.date(2024, 1, 1)),
    "datetime subclass value": (FakeDatetime(2024, 1, 1), FakeDatetime(2025, 1, 1)),
    "datetime subclass class": (FakeDatetime(2024, 1, 1), dt.datetime(2024, 1, 1)),
    "datetime subclass state": (
        _tagged(FakeDatetime, (2024, 1, 1), frozen=True),
        _tagged(FakeDatetime, (2024, 1, 1), frozen=False),
    ),
    "time subclass": (Clock(1), Clock(2)),
    "timedelta subclass": (Span(1), Span(2)),
    "timedelta subclass class": (Span(1), dt.timedelta(1)),
    "Decimal subclass": (Money("1"), Money("2")),
    "Decimal subclass class": (Money("1"), Decimal("1")),
    "complex subclass": (Phase(1), Phase(2)),
    "bytearray subclass": (Buffer(b"a"), Buffer(b"b")),
    "Fraction subclass": (Ratio(1, 2), Fraction(1, 2)),
    # 3. pandas and numpy
    "object column 1 / '1'": (obj_series([1, "x"]), obj_series(["1", "x"])),
    "object column True / 'True'": (obj_series([True, "x"]), obj_series(["True", "x"])),
    "object column 1.5 / '1.5'": (obj_series([1.5, "x"]), obj_series(["1.5", "x"])),
    "object column in a frame": (
        pd.DataFrame({"a": obj_series([1, "x"])}),
        pd.DataFrame({"a": obj_series(["1", "x"])}),
    ),
    "object index": (
        pd.Series([1, 2], index=obj_series([1, "x"])),
        pd.Series([1, 2], index=obj_series(["1", "x"])),
    ),
    "object column None / NaN": (
        pd.Series([None, "x"], dtype=object),
        pd.Series([math.nan, "x"], dtype=object),
    ),
    "column label 1 / '1'": (pd.DataFrame({1: [1]}), pd.DataFrame({"1": [1]})),
    "column label order": (pd.DataFrame({"a": [1], "b": [1]}), pd.DataFrame({"b": [1], "a": [1]})),
    "categories": (
        pd.Series(["a"], dtype=pd.CategoricalDtype(["a", "b"])),
        pd.Series(["a"], dtype=pd.CategoricalDtype(["a", "c"])),
    ),
    "categories order": (
        pd.Series(["a"], dtype=pd.CategoricalDtype(["a", "b"])),
        pd.Series(["a"], dtype=pd.CategoricalDtype(["b", "a"])),
    ),
    "categorical ordered": (
        pd.Series(["a"], dtype=pd.CategoricalDtype(["a", "b"], ordered=True)),
        pd.Series(["a"], dtype=pd.CategoricalDtype(["a", "b"])),
    ),
    "index name": (
        pd.Series([1], index=pd.Index([0], name="a")),
        pd.Series([1], index=pd.Index([0], name="b")),
    ),
    "index values": (pd.Series([1], index=[0]), pd.Series([1], index=["0"])),
    "index type": (pd.Series([1], index=pd.RangeIndex(1)), pd.Series([1], index=pd.Index([0]))),
    "dataframe index name": (
        pd.DataFrame({"a": [1]}).rename_axis("i"),
        pd.DataFrame({"a": [1]}).rename_axis("j"),
    ),
    "series name": (pd.Series([1], name=1), pd.Series([1], name="1")),
    "zoned timestamps": (
        pd.Timestamp("2024-01-01", tz="Europe/Paris"),
        pd.Timestamp("2024-01-01T00:00+01:00"),
    ),
    "np.matrix": (_matrix([[1, 2]]), np.array([[1, 2]])),
    "ndarray subclass": (np.arange(3).view(Grid), np.arange(3)),
    "ndarray subclass data": (np.arange(3).view(Grid), np.arange(4).view(Grid)),
    "masked array mask": (np.ma.array([1, 2], mask=[0, 1]), np.ma.array([1, 2], mask=[1, 0])),
    # 4. state beside the value
    "bytearray / memoryview": (bytearray(b"ab"), memoryview(b"ab")),
    "memoryview format": (memoryview(b"abcd"), memoryview(b"abcd").cast("i")),
    "memoryview shape": (memoryview(b"abcd").cast("B", (2, 2)), memoryview(b"abcd")),
    "memoryview readonly": (memoryview(b"ab"), memoryview(bytearray(b"ab"))),
    "OrderedDict order": (
        collections.OrderedDict(a=1, b=2),
        collections.OrderedDict(b=2, a=1),
    ),
    "OrderedDict / dict": (collections.OrderedDict(a=1), {"a": 1}),
    "defaultdict factory": (collections.defaultdict(int), collections.defaultdict(list)),
    "defaultdict / dict": (collections.defaultdict(None, a=1), {"a": 1}),
    "deque maxlen": (collections.deque([1], maxlen=3), collections.deque([1])),
    "Paris / +01:00": (
        dt.datetime(2024, 1, 1, tzinfo=PARIS),
        dt.datetime(2024, 1, 1, tzinfo=PLUS_ONE),
    ),
    "named / unnamed offset": (
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET")),
        dt.datetime(2024, 1, 1, tzinfo=PLUS_ONE),
    ),
    "UTC / London in winter": (
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/London")),
    ),
    "time zoned / naive": (dt.time(1, tzinfo=PARIS), dt.time(1)),
    "time UTC / naive": (dt.time(1, tzinfo=dt.timezone.utc), dt.time(1)),
    "datetime fold": (dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, fold=1)),
    "zoned fold": (
        dt.datetime(2024, 10, 27, 2, 30, tzinfo=PARIS),
        dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=PARIS),
    ),
    "time fold": (dt.time(1), dt.time(1, fold=1)),
    # 16. numpy dtypes (refused before: their classes live in numpy.dtypes)
    "dtype f4 / f8": (np.dtype("f4"), np.dtype("f8")),
    "dtype byte order": (np.dtype("<f4"), np.dtype(">f4")),
    "dtype U5 / U6": (np.dtype("U5"), np.dtype("U6")),
    "datetime64 units": (np.dtype("M8[s]"), np.dtype("M8[ms]")),
    "structured names": (np.dtype([("a", "i4")]), np.dtype([("b", "i4")])),
    "structured aligned": (
        np.dtype([("a", "u1"), ("b", "f8")]),
        np.dtype([("a", "u1"), ("b", "f8")], align=True),
    ),
    "dtype / its string": (np.dtype("f4"), "float32"),
    "sub-array dtypes": (np.dtype(("i4", (2,))), np.dtype(("f4", (2,)))),
    "string dtype NA": (np.dtypes.StringDType(), np.dtypes.StringDType(na_object=None)),
    "string arrays": (
        np.array(["x" * 40], dtype=np.dtypes.StringDType()),  # held outside the array
        np.array(["y" * 40], dtype=np.dtypes.StringDType()),
    ),
}


@pytest.mark.parametrize("a,b", list(PAIRS.values()), ids=list(PAIRS))
def test_values_a_function_can_tell_apart_get_different_keys(a, b):
    assert k(a) != k(b)


@pytest.mark.parametrize("a,b", list(PAIRS.values()), ids=list(PAIRS))
def test_each_value_keys_alike_every_time(a, b):
    """The new encodings are real encodings: an equal value built again has the same key."""
    assert k(a) == k(a)
    assert k(b) == k(b)


def test_equal_values_built_twice_share_a_key():
    same = [
        (re.compile("a+"), re.compile("a+")),
        (functools.partial(int, base=2), functools.partial(int, base=2)),
        (array.array("d", [1.5, 2]), array.array("d", [1.5, 2])),
        (hashlib.sha256(b"ab"), hashlib.sha256(b"a")),
        (Day(2024, 1, 1), Day(2024, 1, 1)),
        (pd.DataFrame({1: [1, "x"]}), pd.DataFrame({1: [1, "x"]})),
        (np.dtype([("a", "i4")]), np.dtype([("a", "i4")])),
        (dt.datetime(2024, 1, 1, tzinfo=PARIS), dt.datetime(2024, 1, 1, tzinfo=PARIS)),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # plain dicts stay order-free
    ]
    same[3][1].update(b"b")
    for a, b in same:
        assert k(a) == k(b), a


# -- refused: state the encoder cannot see ----------------------------------------------------
class AppError(Exception):
    pass


@pytest.mark.parametrize(
    "value,where",
    [
        (_random.Random(1), "_random.Random"),
        (zlib.compressobj(), "zlib.Compress"),
        (bz2.BZ2Compressor(), "_bz2.BZ2Compressor"),
        (AppError("disk full"), "AppError"),
    ],
    ids=["_random.Random", "zlib", "bz2", "exception subclass"],
)
def test_c_state_the_encoder_cannot_see_is_refused(value, where):
    with pytest.raises(UnhashableArgument) as e:
        key_for({"cfg": {"opts": [1, value]}})
    text = str(e.value)
    assert text.startswith("argument 'cfg' at ['opts'][1]: cannot hash"), text
    assert where in text


def test_a_zoneinfo_without_a_key_is_refused(tmp_path):
    with (
        open(zoneinfo.TZPATH[0] + "/Europe/Paris", "rb")
        if zoneinfo.TZPATH
        else open(os.devnull, "rb") as f
    ):
        if not zoneinfo.TZPATH:
            pytest.skip("no system zone files")
        zone = zoneinfo.ZoneInfo.from_file(f)
    with pytest.raises(UnhashableArgument, match="argument 'x': .*ZoneInfo read from a file"):
        k(dt.datetime(2024, 1, 1, tzinfo=zone))


class Plain:
    def __init__(self, a):
        self.a = a


class Slotted:
    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a


@dataclasses.dataclass(slots=True)
class SlottedPoint:
    x: int


T = typing.TypeVar("T")


class Box(typing.Generic[T]):
    def __init__(self, item):
        self.item = item


class Utc(dt.tzinfo):
    def __init__(self, name):
        self.name = name

    def utcoffset(self, when):
        return dt.timedelta(0)


@pytest.mark.parametrize(
    "make",
    [Plain, Slotted, SlottedPoint, Box, random.Random, Utc, lambda v: LoudPartial(int, v)],
    ids=["plain", "slots", "dataclass slots", "Generic", "random.Random", "tzinfo", "partial sub"],
)
def test_classes_written_in_python_still_key_by_their_state(make):
    assert k(make(1)) == k(make(1))
    assert k(make(1)) != k(make(2))


def test_a_python_tzinfo_keys_by_its_class_and_state():
    a = dt.datetime(2024, 1, 1, tzinfo=Utc("a"))
    assert k(a) == k(dt.datetime(2024, 1, 1, tzinfo=Utc("a")))
    assert k(a) != k(dt.datetime(2024, 1, 1, tzinfo=Utc("b")))
    assert k(a) != k(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))


# -- distinct values, distinct keys, over generated values of the new types --------------------
zones = st.sampled_from(
    [None, dt.timezone.utc, PLUS_ONE, dt.timezone(dt.timedelta(hours=1), "CET"), PARIS]
)
new_values = st.one_of(
    st.builds(
        lambda d, tz, f: d.replace(tzinfo=tz, fold=f),
        st.datetimes(),
        zones,
        st.sampled_from([0, 1]),
    ),
    st.builds(
        lambda t, tz, f: t.replace(tzinfo=tz, fold=f), st.times(), zones, st.sampled_from([0, 1])
    ),
    st.dates(),
    st.builds(Day, st.integers(1, 9999), st.integers(1, 12), st.integers(1, 28)),
    st.timedeltas(),
    st.builds(Span, st.integers(-5, 5)),
    st.decimals(allow_nan=False),
    st.builds(Money, st.decimals(allow_nan=False)),
    st.complex_numbers(allow_nan=False),
    st.binary(max_size=4).map(bytearray),
    st.binary(max_size=4).map(memoryview),
    st.lists(st.tuples(st.text(max_size=2), st.integers()), max_size=3).map(
        collections.OrderedDict
    ),
    st.text(max_size=3).map(lambda t: re.compile(re.escape(t))),
    st.lists(st.integers(0, 5), min_size=1, max_size=3).map(lambda xs: operator.itemgetter(*xs)),
    st.lists(st.integers(-3, 3), max_size=3).map(lambda xs: array.array("b", xs)),
    st.sampled_from(["f4", "f8", "<i4", ">i4", "U3", "S3", "M8[s]", "m8[D]", "c8"]).map(np.dtype),
)


def _canon(v):
    """An independent notion of identity for the generated values."""
    tp = type(v)
    if isinstance(v, (dt.datetime, dt.time)):
        tz = v.tzinfo
        zone = None if tz is None else (type(tz).__name__, getattr(tz, "key", None) or repr(tz))
        return (tp, v.replace(tzinfo=None, fold=0).isoformat(), v.fold, zone)
    if isinstance(v, (dt.date, dt.timedelta)):
        return (tp, str(v))
    if isinstance(v, Decimal):
        return (tp, str(v))
    if isinstance(v, complex):
        return (tp, v.real.hex(), v.imag.hex())
    if isinstance(v, bytearray):
        return (tp, bytes(v))
    if isinstance(v, memoryview):
        return (tp, v.tobytes())
    if isinstance(v, collections.OrderedDict):
        return (tp, tuple(v.items()))
    if isinstance(v, re.Pattern):
        return (tp, v.pattern, v.flags)
    if isinstance(v, operator.itemgetter):
        return (tp, repr(v))
    if isinstance(v, array.array):
        return (tp, v.typecode, v.tobytes())
    if isinstance(v, np.dtype):
        return (tp, v.str)
    raise AssertionError(tp)


@settings(max_examples=400, deadline=None)
@given(new_values, new_values)
def test_distinct_values_of_the_new_types_get_distinct_keys(a, b):
    if _canon(a) != _canon(b):
        assert k(a) != k(b), (a, b)
    else:
        assert k(a) == k(b), (a, b)


# -- 6. functions and classes: the same key under every hash seed ----------------------------
_SEEDS_SCRIPT = r"""
import dataclasses, enum, functools, json, collections, logging
from cachework import key_for

log = logging.getLogger("seeds")
def logs(x):
    log.info("%s", x)
    return x

lam = lambda x: x in {"a", "b", "c"}
def fact(n):
    return 1 if n < 2 else n * fact(n - 1)
def make():
    tags = frozenset({"x", "y", "z"})
    class Local:
        members = {"a", "b", "c"}
        def check(self, x):
            return x in Local.members and super().__repr__() and x in tags
        @property
        def size(self):
            return len(self.members)
    @dataclasses.dataclass
    class Point:
        x: int = 1
        y: list = dataclasses.field(default_factory=list)
    class Color(enum.Enum):
        RED = 1
    Pair = collections.namedtuple("Pair", "a b")
    return Local, Point, Color, Pair, lambda v: v in tags
Local, Point, Color, Pair, inner = make()
class SetSlots:
    __slots__ = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
    def __init__(self):
        for i, name in enumerate(sorted(SetSlots.__slots__)):
            setattr(self, name, i)
import numpy
values = {
    "slots given as a set": SetSlots(),
    "dtype metadata holding a set": numpy.dtype("f4", metadata={"tags": {"a", "b", "c", "d"}}),
    "instance of a local enum": Color.RED, "instance of a local dataclass": Point(),
    "lambda with a set": lam, "recursive": fact, "local class with a set": Local,
    "instance": Local(), "dataclass": Point, "enum": Color, "namedtuple": Pair,
    "closure over a set": inner, "partial": functools.partial(lam, "a"), "uses a logger": logs,
}
print(json.dumps({name: key_for({"f": v}) for name, v in values.items()}))
"""


def test_functions_and_local_classes_key_alike_under_every_hash_seed():
    outputs = []
    for seed in ("0", "1", "2", "3"):
        proc = subprocess.run(
            [sys.executable, "-c", _SEEDS_SCRIPT],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
            check=True,
        )
        outputs.append(json.loads(proc.stdout))
    for name in outputs[0]:
        assert len({out[name] for out in outputs}) == 1, name


G = 1


def test_different_functions_never_share_a_key():
    def make_closure(v):
        return lambda: v

    def with_default(x=1):
        return x

    def with_other_default(x=2):
        return x

    def uses_global():
        return G

    before = k(uses_global)
    globals()["G"] = 2
    try:
        after = k(uses_global)
    finally:
        globals()["G"] = 1
    assert before != after  # a global the function reads is part of it

    fns = [
        lambda x: x + 1,
        lambda x: x + 2,
        lambda x: x - 1,
        lambda x, y=1: x,
        lambda x: {"a", "b"},
        lambda x: {"a", "c"},
        make_closure(1),
        make_closure(2),
        with_default,
        with_other_default,
        len,
        abs,
        "abc".upper,
        "abd".upper,
    ]
    keys = [k(f) for f in fns]
    assert len(set(keys)) == len(keys)


class Rebuilt:
    """Rebuilt from its name alone, as it says in ``__reduce__``: the cache is not state."""

    def __init__(self, name):
        self.name = name
        self.cache = object()

    def __reduce__(self):
        return (Rebuilt, (self.name,))


def test_a_class_with_its_own_reduce_keys_by_it():
    assert k(Rebuilt("a")) == k(Rebuilt("a"))
    assert k(Rebuilt("a")) != k(Rebuilt("b"))


def test_local_classes_key_by_their_contents():
    def make(tag):
        class Local:
            tags = {tag}

        return Local

    assert k(make("a")) == k(make("a"))
    assert k(make("a")) != k(make("b"))


def test_importable_functions_and_classes_key_by_name():
    assert k(json.dumps) == k(json.dumps)
    assert k(json.dumps) != k(json.loads)
    assert k(np.add) != k(np.subtract)
    assert k(Plain) != k(Slotted)


# -- the key scheme -------------------------------------------------------------------------
def test_the_key_scheme_changed_with_the_encodings():
    assert KEY_SCHEME == 2


# -- 15 and 22: arguments the args JSON must hold, on both dialects ---------------------------
UNDECODABLE = os.fsdecode(b"caf\xe9.csv")  # a file name that is not UTF-8: a lone surrogate


@pytest.mark.parametrize(
    "value,shown",
    [
        (UNDECODABLE, "caf\\udce9.csv"),
        ("a\x00b", "a\\x00b"),
        (10**5000, None),
        (-0.0, "-0.0"),
        ({"caf\udce9": ["\x00"]}, {"caf\\udce9": ["\\x00"]}),
    ],
    ids=["lone surrogate", "NUL", "10**5000", "-0.0", "nested"],
)
def test_arguments_json_cannot_hold_are_stored_readably_and_hit(url, value, shown):
    ran = []

    @cachework.work(name="odd", store=url)
    def odd(x):
        ran.append(1)
        return 7

    assert odd(value) == 7
    assert odd(value) == 7  # a hit
    assert ran == [1]
    store = cachework.Store(url)
    try:
        (call,) = store.calls("odd")
        assert call.status == "succeeded"
        if shown is None:  # a huge int: short text naming its magnitude
            assert call.args["x"].startswith("int 1.000000000000e+5000 #")
        else:
            assert call.args["x"] == shown
        assert store.forget("odd", x=value) == 1
    finally:
        store.close()


def test_negative_zero_and_zero_stay_apart_in_forget(url):
    @cachework.work(name="zeros", store=url)
    def zeros(x):
        return x

    zeros(0.0)
    zeros(-0.0)
    store = cachework.Store(url)
    try:
        assert sorted(json.dumps(c.args) for c in store.calls("zeros")) == [
            '{"x": "-0.0"}',
            '{"x": 0.0}',
        ]
        assert store.forget("zeros", x=-0.0) == 1
        assert [c.args["x"] for c in store.calls("zeros")] == [0.0]
        assert store.forget("zeros", x=0.0) == 1
    finally:
        store.close()


def test_huge_ints_read_apart_in_the_args_json():
    a, b = jsonable(10**5000), jsonable(10**5000 + 1)
    assert a != b and len(a) < 60
    assert json.loads(args_json({"n": 10**5000, "m": {10**5000: 1}}))["m"] == {a: 1}


# -- every kind has a byte of its own; no encoding is a prefix of another ---------------------
# Scheme 2 first reused bytes across kinds ("s" for str and struct.Struct, "r" for arrays
# and back-references, "F" for False and functions, ...). With each kind's byte its own and
# every payload self-delimiting, a concatenation of encodings reads back one way only.
class NoteTz(dt.tzinfo):
    """A zone that says how it is rebuilt, as pytz's do."""

    def __init__(self, name):
        self.name = name

    def utcoffset(self, when):
        return dt.timedelta(0)

    def __reduce__(self):
        return (NoteTz, (self.name,))


class Hooked:
    def __cachework_key__(self):
        return 1


Pair = collections.namedtuple("Pair", "a b")


@dataclasses.dataclass
class Pt:
    x: int


def _recursive(n):
    return n and _recursive(n - 1)


class Holder:
    @staticmethod
    def s():
        return 1

    @functools.cached_property
    def c(self):
        return 1

    @property
    def p(self):
        return 1


class Lowercase(str):
    pass


def _local_function():
    return lambda: 1


def _local_fact():
    def fact(n):
        return 1 if n < 2 else n * fact(n - 1)

    return fact


#: One value of each kind in cachework._keys.TAGS, written with that kind's byte.
SAMPLES = {
    "str": "a",
    "int": 1,
    "float": 1.0,
    "bytes": b"a",
    "None": None,
    "True": True,
    "False": False,
    "list": [1],
    "tuple": (1,),
    "dict": {"a": 1},
    "set": {1},
    "frozenset": frozenset({1}),
    "__cachework_key__": Hooked(),
    "Enum member": re.RegexFlag.IGNORECASE,
    "complex": 1j,
    "bytearray": bytearray(b"a"),
    "date": dt.date(2024, 1, 1),
    "datetime": dt.datetime(2024, 1, 1),
    "time": dt.time(1),
    "timedelta": dt.timedelta(1),
    "Decimal": Decimal("1"),
    "Fraction": Fraction(1, 2),
    "UUID": uuid.UUID(int=1),
    "Path": pathlib.PurePosixPath("/a"),
    "namedtuple": Pair(1, 2),
    "dataclass": Pt(1),
    "subclass of a value type": Lowercase("a"),
    "object by class and state": Plain(1),
    "ndarray": np.arange(3),
    "numpy scalar": np.int64(1),
    "pandas object": pd.Series([1]),
    "ndarray of objects": np.array([1, "a"], dtype=object),
    "numpy scalar of objects": np.array([(1, "a")], dtype=[("n", "i4"), ("o", "O")])[0],
    "numpy dtype": np.dtype("f4"),
    "memoryview": memoryview(b"a"),
    "datetime.timezone": dt.timezone.utc,
    "ZoneInfo": PARIS,
    "OrderedDict": collections.OrderedDict(a=1),
    "defaultdict": collections.defaultdict(int),
    "deque": collections.deque([1]),
    "re.Pattern": re.compile("a"),
    "functools.partial": functools.partial(int, "1"),
    "by __reduce__ (itemgetter, attrgetter, methodcaller)": operator.itemgetter(1),
    "array.array": array.array("i", [1]),
    "struct.Struct": struct.Struct("i"),
    "hashlib object": hashlib.sha256(b"a"),
    "Ellipsis": ...,
    "NotImplemented": NotImplemented,
    "staticmethod, classmethod": Holder.__dict__["s"],
    "functools.cached_property": Holder.__dict__["c"],
    "property": Holder.__dict__["p"],
    "generic alias": list[int],
    "mappingproxy": types.MappingProxyType({"a": 1}),
    "importable function or class": json.dumps,
    "function": _local_function(),
    "class": type("Made", (), {}),
    "code": _local_function.__code__,
    "method": Plain(1).__init__,
    "bound built-in method": "abc".upper,
}


class Registered:
    def __init__(self, weights):
        self.weights = weights


def _registered_encoding() -> bytes:
    """A value of a registered type, registered only for the length of this check."""
    from cachework import _keys

    saved = _keys._registry
    try:
        cachework.register_encoder(Registered, lambda r: r.weights)
        encoded = _keys.encode(Registered([1, 2]))
    finally:
        _keys._registry = saved
    assert encoded[:1] == _keys.TAGS["registered encoder"]
    return encoded


#: Kinds that never start an argument's encoding, or need a registration first: each is
#: checked where it stands.
INNER = {
    "reference to a definition being encoded": lambda: k(_local_fact()),
    "tzinfo by its __reduce__": lambda: k(dt.datetime(2024, 1, 1, tzinfo=NoteTz("a"))),
    "registered encoder": _registered_encoding,
}


def test_every_kind_has_a_byte_of_its_own():
    from cachework._keys import TAGS

    assert len(set(TAGS.values())) == len(TAGS), "two kinds share a byte"
    assert all(len(tag) == 1 for tag in TAGS.values())
    values = {
        kind for kind in TAGS if not kind.startswith(("key_for:", "state:", "pandas column:"))
    }
    assert values == set(SAMPLES) | set(INNER), "every value kind has a sample below"


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_each_kind_is_written_with_its_own_byte(kind):
    from cachework._keys import TAGS, encode

    assert encode(SAMPLES[kind])[:1] == TAGS[kind]


def test_inner_kinds_are_written_with_their_own_byte():
    from cachework._keys import TAGS, encode

    assert TAGS["reference to a definition being encoded"] + (0).to_bytes(8, "little") in encode(
        _local_fact()
    )
    at = len(encode(dt.datetime(2024, 1, 1))) - 1  # the naive datetime's zone: None
    assert (
        encode(dt.datetime(2024, 1, 1, tzinfo=NoteTz("a")))[at:][:1]
        == TAGS["tzinfo by its __reduce__"]
    )
    for check in INNER.values():
        assert check() == check()


def test_every_tag_byte_in_the_encoder_is_registered():
    """A new kind written with a byte literal must take its byte from the table."""
    import ast

    from cachework import _keys as keys
    from cachework._keys import TAGS

    source = pathlib.Path(keys.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    registered = set(TAGS.values())
    table = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "TAGS"
    )
    in_table = {id(n) for n in ast.walk(table)}
    literals = {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, bytes)
        and len(n.value) == 1
        and id(n) not in in_table
    }
    assert literals - registered == set()


def test_no_encoding_is_a_prefix_of_another():
    """Self-delimiting payloads: what follows a value can never be read as part of it."""
    from cachework._keys import encode

    samples = [*SAMPLES.values(), *(v for pair in PAIRS.values() for v in pair)]
    samples += [_local_fact(), Lowercase("a")]
    stated = Lowercase("a")
    stated.note = dt.date(2024, 1, 1)
    samples.append(stated)
    encoded = sorted({encode(v) for v in samples})
    for shorter, longer in itertools.pairwise(encoded):  # a prefix sorts just before
        assert not longer.startswith(shorter), (shorter[:40], longer[:40])


def test_a_struct_and_a_string_never_share_a_key():
    """A struct.Struct was written with str's byte: a crafted list of strings read alike."""
    crafted = "\x00is" + (361).to_bytes(8, "little").decode() + "x" * 360
    assert k([struct.Struct("i"), "x" * 360 + "N"]) != k([crafted, None])


# -- classes that share a name: local classes, namedtuples, enums, dataclasses ---------------
def _local_kinds(tag):
    class Local:
        def get(self):
            return tag

    class Keyed:
        def __cachework_key__(self):
            return 1

        def get(self):
            return tag

    class Kind(enum.Enum):
        A = 1

        def get(self):
            return tag

    @dataclasses.dataclass
    class Point:
        x: int

        def get(self):
            return tag

    fields = "a b" if tag == 1 else "x y"
    return {
        "object": Local(),
        "__cachework_key__": Keyed(),
        "enum": Kind.A,
        "dataclass": Point(1),
        "namedtuple": collections.namedtuple("P", fields)(1, 2),
        "dict subclass": type("D", (dict,), {"tag": tag})(a=1),
    }


@pytest.mark.parametrize("kind", list(_local_kinds(1)))
def test_instances_of_two_classes_with_one_name_key_apart(kind):
    """Two classes made by one function share module and qualified name, not behaviour:
    ``a.get()`` is 1 and ``b.get()`` is 2 (a namedtuple's field names differ)."""
    a, b = _local_kinds(1)[kind], _local_kinds(2)[kind]
    assert type(a).__qualname__ == type(b).__qualname__
    assert k(a) != k(b)
    assert k(a) == k(_local_kinds(1)[kind])


class Extended(Pair):
    pass


def test_state_beside_a_namedtuple_dataclass_or_partial_is_read():
    plain, noted = Extended(1, 2), Extended(1, 2)
    noted.note = 1
    assert k(plain) != k(noted)
    plain, noted = Pt(1), Pt(1)
    noted.cache = 5  # set beside the fields, read like them
    assert k(plain) != k(noted)
    plain, noted = functools.partial(int), functools.partial(int)
    noted.attr = 1
    assert k(plain) != k(noted)


class SlotAndDict:
    __slots__ = ("a", "__dict__")


def test_an_empty_slot_and_a_dict_entry_of_its_name_key_apart():
    in_slot, in_dict = SlotAndDict(), SlotAndDict()
    in_slot.a = 1
    in_dict.__dict__["a"] = 1  # the empty slot still wins: in_dict.a raises AttributeError
    with pytest.raises(AttributeError):
        in_dict.a  # noqa: B018
    assert k(in_slot) != k(in_dict)


def test_functions_reading_different_modules_key_apart():
    import cmath

    source = "def root(x):\n    return m.sqrt(x)\n"
    made = []
    for module in (math, cmath, math):
        scope = {"m": module}
        exec(source, scope)
        made.append(scope["root"])
    assert k(made[0]) != k(made[1])
    assert k(made[0]) == k(made[2])


def test_zones_key_by_themselves_too():
    assert k(PARIS) == k(zoneinfo.ZoneInfo("Europe/Paris"))
    assert k(PARIS) != k(zoneinfo.ZoneInfo("Europe/London"))
    assert k(dt.timezone.utc) != k(PLUS_ONE)
    assert k(PARIS) != k("Europe/Paris")


def test_dtype_metadata_keys_by_value_not_repr():
    class Same:
        def __init__(self, v):
            self.v = v

        def __repr__(self):
            return "Same"

    a = np.dtype("f4", metadata={"unit": Same(1)})
    b = np.dtype("f4", metadata={"unit": Same(2)})
    assert k(a) != k(b)


# -- generated nested mixes: distinct values, distinct keys, and no prefixes -------------------
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.binary(max_size=4),
    new_values,
)
_hashable_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))
mixed = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(_hashable_leaves, inner, max_size=3),
        st.frozensets(_hashable_leaves, max_size=3),
        st.builds(Plain, inner),
        st.builds(Slotted, inner),
        st.builds(Pt, inner),
        st.builds(Pair, inner, inner),
        st.builds(Extended, inner, inner),
        st.text(max_size=3).map(Lowercase),
    ),
    max_leaves=12,
)


def _deep(v):
    """What a function can tell apart, written independently of the encoder."""
    tp = type(v)
    if tp is float:
        return (tp, "nan" if v != v else v.hex())
    if tp in (str, int, bytes, bool, type(None)):
        return (tp, v)
    if tp in (list, tuple):
        return (tp, tuple(_deep(x) for x in v))
    if tp is dict:
        return (tp, frozenset((_deep(a), _deep(b)) for a, b in v.items()))
    if tp is frozenset:
        return (tp, frozenset(_deep(x) for x in v))
    if tp in (Plain, Slotted):
        return (tp, _deep(v.a))
    if tp is Pt:
        return (tp, _deep(v.x))
    if tp in (Pair, Extended):
        return (tp, _deep(v.a), _deep(v.b))
    if tp is Lowercase:
        return (tp, str(v))
    return _canon(v)


@settings(max_examples=400, deadline=None)
@given(mixed, mixed)
def test_generated_mixes_key_apart_exactly_when_they_differ(a, b):
    from cachework._keys import encode

    ea, eb = encode(a), encode(b)
    if _deep(a) != _deep(b):
        assert ea != eb, (a, b)
        assert not ea.startswith(eb) and not eb.startswith(ea), (a, b)
    else:
        assert ea == eb, (a, b)


def test_a_class_written_once_per_call_still_keys_each_instance_by_its_own_class():
    ones, twos = _local_kinds(1), _local_kinds(2)
    for kind in ones:
        a, b = ones[kind], twos[kind]
        assert k([a, a, b]) != k([a, a, a]), kind
        assert k([a, b]) != k([b, a]), kind
        assert k([a] * 50) == k([_local_kinds(1)[kind]] * 50), kind


def test_local_enums_and_classes_holding_their_own_instances_key():
    def make(tag):
        class Kind(enum.Enum):
            A = 1
            B = 2

        class Node:
            def __init__(self, v):
                self.v = v

        Node.root = Node(tag)
        return Kind, Node

    kind, node = make(1)
    assert k([kind.A, kind.B]) == k([kind.A, kind.B])
    assert k([kind.A, kind.B]) != k([kind.B, kind.A])
    assert k(node(1)) != k(make(2)[1](1))  # the class attribute differs


_MAIN_SCRIPT = r"""
import dataclasses, json, sys
from cachework import key_for

@dataclasses.dataclass
class Config:
    n: int

first = Config(1)

@dataclasses.dataclass
class Config:  # defined again: the name now finds another class
    n: int
    def double(self):
        return 2 * self.n

print(json.dumps([key_for({"c": first}), key_for({"c": Config(1)}), key_for({"c": Config(1)})]))
"""


def test_a_script_class_keys_by_name_unless_the_name_finds_another_class():
    proc = subprocess.run(
        [sys.executable, "-c", _MAIN_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    old, new, again = json.loads(proc.stdout)
    assert new == again
    assert old != new
