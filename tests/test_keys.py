"""Keys: canonical, type-tagged, stable across processes, hash seeds and insertion orders."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import io
import json
import math
import subprocess
import sys
import threading
import uuid
from collections import OrderedDict, namedtuple
from decimal import Decimal
from fractions import Fraction
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachework import UnhashableArgument, key_for
from cachework._keys import MAX_DEPTH, args_json


def k(value):
    return key_for({"x": value})


# -- generated values -----------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
hashable = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4), max_leaves=8
)
values = st.recursive(
    scalars | st.frozensets(hashable, max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(hashable, inner, max_size=4)
        | st.sets(hashable, max_size=4)
    ),
    max_leaves=20,
)


def _reordered(v):
    """The same value built in another order: dicts and sets rebuilt in reverse."""
    if type(v) is dict:
        return {kk: _reordered(vv) for kk, vv in reversed(list(v.items()))}
    if type(v) is set:
        return set(reversed(list(v)))
    if type(v) is list:
        return [_reordered(x) for x in v]
    if type(v) is tuple:
        return tuple(_reordered(x) for x in v)
    return v


@settings(max_examples=300, deadline=None)
@given(values)
def test_insertion_order_never_changes_the_key(v):
    assert k(v) == k(_reordered(v))


@settings(max_examples=300, deadline=None)
@given(values, values)
def test_different_values_get_different_keys(a, b):
    if _canon(a) != _canon(b):
        assert k(a) != k(b)


def _canon(v):
    """An independent notion of identity: exact types all the way down, NaN equal to NaN."""
    if type(v) is float:
        return ("float", "nan" if math.isnan(v) else v.hex())
    if type(v) in (list, tuple):
        return (type(v).__name__, tuple(_canon(x) for x in v))
    if type(v) is dict:
        return ("dict", frozenset((_canon(a), _canon(b)) for a, b in v.items()))
    if type(v) in (set, frozenset):
        return (type(v).__name__, frozenset(_canon(x) for x in v))
    return (type(v).__name__, v)


@pytest.mark.parametrize(
    "a,b",
    [
        (1, 1.0),
        (1, True),
        (1, "1"),
        (1.0, True),
        ([1, 2], (1, 2)),
        ({"a": 1}, {"a": 1.0}),
        ({1, 2}, frozenset({1, 2})),
        (b"x", "x"),
        (b"x", bytearray(b"x")),
        (0.0, -0.0),
        (None, "None"),
        ([[1], [2]], [[1, 2]]),
        (["ab", "c"], ["a", "bc"]),
        (np.int64(1), 1),
        (np.float64(1.0), 1.0),
        (np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int64)),
        (np.zeros((2, 3)), np.zeros((3, 2))),
        (dt.date(2022, 5, 25), "2022-05-25"),
        (dt.datetime(2022, 5, 25), dt.date(2022, 5, 25)),
        (Decimal("1"), 1),
        (Fraction(1, 2), 0.5),
        (Path("/a"), "/a"),
    ],
)
def test_distinct_values_never_share_a_key(a, b):
    assert k(a) != k(b)


def test_nan_equals_nan():
    assert k(float("nan")) == k(-float("nan")) == k(math.nan)
    assert k([math.nan]) == k([float("nan")])


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


Pair = namedtuple("Pair", "a b")


class Custom:
    def __init__(self, v):
        self.v = v

    def __cachework_key__(self):
        return ["custom", self.v]


class Plain:
    def __init__(self, a, b):
        self.a, self.b = a, b


@pytest.mark.parametrize(
    "make",
    [
        lambda: None,
        lambda: 3 + 4j,
        lambda: dt.datetime(2022, 5, 25, 1, 2, 3, tzinfo=dt.timezone.utc),
        lambda: dt.time(1, 2),
        lambda: dt.timedelta(days=1, seconds=3),
        lambda: Decimal("1.10"),
        lambda: Fraction(2, 3),
        lambda: uuid.UUID(int=5),
        lambda: PurePosixPath("/x/y"),
        lambda: Color.RED,
        lambda: Point(1, 2),
        lambda: Pair(1, 2),
        lambda: Custom(3),
        lambda: Plain(1, [2]),
        lambda: np.arange(12).reshape(3, 4),
        lambda: np.arange(12).reshape(3, 4)[:, 1],  # not contiguous
        lambda: np.float32(2.5),
        lambda: np.array(["a", None], dtype=object),
        lambda: len,
        lambda: Plain,
    ],
)
def test_supported_types_are_stable_and_distinct_from_their_plain_form(make):
    assert k(make()) == k(make())
    assert len(k(make())) == 32


def test_dataclass_and_namedtuple_differ_from_plain_tuples_and_dicts():
    assert k(Pair(1, 2)) != k((1, 2))
    assert k(Point(1, 2)) != k({"x": 1, "y": 2})
    assert k(Point(1, 2)) != k(Point(1, 3))


def test_numpy_arrays_key_by_dtype_shape_and_data():
    a = np.arange(10.0)
    b = a.copy()
    assert k(a) == k(b)
    b[3] = -1
    assert k(a) != k(b)
    assert k(np.arange(12).reshape(3, 4)[:, 1]) == k(np.array([1, 5, 9]))


def test_subclasses_key_apart_from_their_base():
    class MyStr(str):
        pass

    class MyDict(dict):
        pass

    class MyInt(int):
        pass

    assert k(MyStr("a")) != k("a")
    assert k(MyDict(a=1)) != k({"a": 1})
    assert k(MyInt(1)) != k(1)
    assert k(MyDict(a=1)) == k(MyDict(a=1))


def test_custom_key_hook_decides():
    assert k(Custom(1)) == k(Custom(1))
    assert k(Custom(1)) != k(Custom(2))


def test_objects_key_by_type_and_state():
    assert k(Plain(1, 2)) == k(Plain(1, 2))
    assert k(Plain(1, 2)) != k(Plain(2, 1))


def test_unhashable_argument_names_argument_and_path():
    with open(__file__) as f, pytest.raises(UnhashableArgument) as e:
        key_for({"cfg": {"paths": ["a", "b", f]}})
    assert str(e.value) == "argument 'cfg' at ['paths'][2]: cannot hash _io.TextIOWrapper"


@pytest.mark.parametrize(
    "bad", [threading.Lock(), io.BytesIO(), (i for i in range(3)), threading.Thread()]
)
def test_open_files_locks_and_generators_are_refused(bad):
    with pytest.raises(UnhashableArgument, match="argument 'x'"):
        k(bad)


def test_cycles_are_refused_with_their_path():
    a = [1, 2]
    a.append(a)
    with pytest.raises(UnhashableArgument, match=r"at \[2\]: cycle"):
        k(a)
    d = {"a": {}}
    d["a"]["b"] = d
    with pytest.raises(UnhashableArgument, match=r"at \['a'\]\['b'\]: cycle"):
        k(d)


def test_shared_but_acyclic_references_are_fine():
    shared = [1]
    assert k([shared, shared]) == k([[1], [1]])


def test_nesting_deeper_than_the_limit_is_a_clear_error():
    v = []
    for _ in range(MAX_DEPTH + 5):
        v = [v]
    with pytest.raises(UnhashableArgument, match="nesting deeper than"):
        k(v)


def test_version_joins_the_key():
    assert key_for({"x": 1}) != key_for({"x": 1}, version=2)
    assert key_for({"x": 1}, version=2) == key_for({"x": 1}, version=2)


def test_huge_ints():
    assert k(10**5000) != k(10**5000 + 1)


def test_args_json_is_readable_and_short():
    text = args_json({"day": "2022-05-25", "n": 3, "d": dt.date(2022, 5, 25), "o": Plain(1, 2)})
    data = json.loads(text)
    assert data["day"] == "2022-05-25" and data["n"] == 3 and data["d"] == "2022-05-25"
    assert isinstance(data["o"], str) and len(data["o"]) <= 80
    assert json.loads(args_json({"x": float("nan")}))["x"] == "nan"


_SCRIPT = """
import json, sys
from cachework import key_for
values = json.loads(sys.stdin.read())
def build(v):
    if isinstance(v, dict) and "__set__" in v:
        return frozenset(build(x) for x in v["__set__"])
    if isinstance(v, dict) and "__tuple__" in v:
        return tuple(build(x) for x in v["__tuple__"])
    if isinstance(v, dict):
        return {kk: build(vv) for kk, vv in v.items()}
    if isinstance(v, list):
        return [build(x) for x in v]
    return v
print(json.dumps([key_for({"x": build(v)}) for v in values]))
"""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.builds(
            lambda xs: {"__set__": xs}, st.lists(st.integers() | st.text(max_size=5), max_size=5)
        )
        | st.builds(lambda xs: {"__tuple__": xs}, st.lists(inner, max_size=3))
    ),
    max_leaves=15,
)


@settings(max_examples=5, deadline=None)
@given(st.lists(json_values, min_size=20, max_size=20))
def test_keys_agree_across_processes_and_hash_seeds(batch):
    payload = json.dumps(batch)
    outputs = set()
    for seed in ("0", "1", "12345"):
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            input=payload,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            check=True,
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1


def test_pandas_objects_when_installed():
    pd = pytest.importorskip("pandas")
    a = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    assert k(a) == k(a.copy())
    assert k(a) != k(a.rename(columns={"x": "z"}))
    assert k(a["x"]) != k(a["y"])


def test_ordered_dict_keys_apart_from_dict_but_ignores_nothing_else():
    assert k(OrderedDict(a=1)) == k(OrderedDict(a=1))
    assert k(OrderedDict(a=1)) != k({"a": 1})
