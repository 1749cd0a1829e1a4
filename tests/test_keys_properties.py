"""Property tests of keys over nested mixed values (issue 17): equal values share a key in
every process and hash seed; values that differ in type or content never do.

Over 10,000 generated examples in all, each test with a fixed ``max_examples``,
``derandomize=True`` and no example database, so that every CI run checks the same values.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import pickle
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachework import key_for

#: Examples per test; their sum is the "at least 10,000" of the issue.
SAME_PROCESS_EXAMPLES = 4000  # values keyed here and in three other processes
DISTINCT_EXAMPLES = 6000  # pairs of a value and a near copy of it
SEEDS = ("0", "1", "4242")


def stable(max_examples: int) -> settings:
    """Settings that check the same examples on every run."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def k(value):
    return key_for({"x": value})


# -- the values ---------------------------------------------------------------------------------
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, math.nan, -math.nan, 1.0, math.inf]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-2, max_value=2)  # small ints meet True, False and 1.0 often
    | floats
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.dates()
    | st.datetimes()
)


def _containers(hashable):
    """One level of nesting: what holds values (lists, tuples, dicts) and what holds only
    hashable ones (dict keys, set members)."""
    return lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.tuples(inner),
        st.dictionaries(hashable, inner, max_size=4),
        st.sets(hashable, max_size=4),
    )


_hashable = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=6
)
values = st.recursive(
    scalars | st.frozensets(_hashable, max_size=3), _containers(_hashable), max_leaves=10
)


def canon(v):
    """An independent notion of "the function cannot tell them apart": exact types all the
    way down, NaN equal to NaN, -0.0 apart from 0.0, a datetime's fold counted."""
    tp = type(v)
    if tp is float:
        return ("float", "nan" if math.isnan(v) else v.hex())
    if tp in (list, tuple):
        return (tp.__name__, tuple(canon(x) for x in v))
    # Members as a multiset: two NaN objects are two members of a set, and len() tells.
    if tp is dict:
        return ("dict", _multiset((canon(a), canon(b)) for a, b in v.items()))
    if tp in (set, frozenset):
        return (tp.__name__, _multiset(canon(x) for x in v))
    if tp is dt.datetime:
        return ("datetime", v, v.fold)
    if tp is bytearray:
        return ("bytearray", bytes(v))
    return (tp.__name__, v)


def _multiset(items):
    return frozenset(collections.Counter(items).items())


def rebuilt(v):
    """An equal value made of new objects, its dicts and sets filled in another order."""
    tp = type(v)
    if tp is dict:
        return {rebuilt(a): rebuilt(b) for a, b in reversed(list(v.items()))}
    if tp in (set, frozenset):
        return tp(rebuilt(x) for x in reversed(list(v)))
    if tp is list:
        return [rebuilt(x) for x in v]
    if tp is tuple:
        return tuple(rebuilt(x) for x in v)
    if tp is float:
        return float.fromhex(v.hex()) if not math.isnan(v) else float("nan")
    if tp in (str, bytes):
        return tp(v[:0]) + v  # a new object where Python makes one
    return v


# -- near copies: one change somewhere inside ---------------------------------------------------
def _twins(v):
    """Values that Python may call equal, or nearly, to ``v`` but the key must not."""
    tp = type(v)
    out = []
    if tp is bool:
        out += [int(v), float(v)]
    elif tp is int:
        out += [float(v) if abs(v) < 2**53 else str(v), str(v), v + 1]
        if v in (0, 1):
            out.append(bool(v))
    elif tp is float:
        out += [-v, str(v)]
        if v == 0.0:
            out.append(0)
        if math.isfinite(v) and v == int(v) and abs(v) < 2**53:
            out.append(int(v))
    elif tp is str:
        out += [v.encode("utf-8", "surrogatepass"), v + "a", [v]]
    elif tp is bytes:
        out += [v.decode("latin-1"), bytearray(v), v + b"\0"]
    elif tp is dt.datetime:
        out += [v.date(), v.replace(fold=1 - v.fold), v.isoformat()]
    elif tp is dt.date:
        out += [dt.datetime(v.year, v.month, v.day), v.isoformat()]
    elif v is None:
        out += [False, 0, "", ()]
    elif tp is list:
        out += [tuple(v), v + [None], v[:-1] if v else [[]]]
    elif tp is tuple:
        out += [list(v), (*v, None), v[:-1] if v else ((),)]
    elif tp is set:
        out += [frozenset(v), list(v), v | {"extra"}]
    elif tp is frozenset:
        out += [set(v), tuple(v), v | {"extra"}]
    elif tp is dict:
        out += [list(v.items()), {**v, "extra": None}]
        if v:
            first = next(iter(v))
            out.append({kk: vv for kk, vv in v.items() if kk != first})
    return out


def _children(v):
    """Where a change can go: (child, rebuild with the child replaced)."""
    tp = type(v)
    if tp in (list, tuple):
        return [(x, lambda new, i=i: tp([*v[:i], new, *v[i + 1 :]])) for i, x in enumerate(v)]
    if tp is dict:
        return [(x, lambda new, a=a: {**v, a: new}) for a, x in v.items()]
    return []


@st.composite
def near_copies(draw):
    """A value and a copy of it with one change at some depth."""
    v = draw(values)
    here = v
    rebuild = [lambda new: new]
    while True:
        children = _children(here)
        if not children or draw(st.booleans()):
            break
        child, put = draw(st.sampled_from(children))
        outer = rebuild[-1]
        rebuild.append(lambda new, put=put, outer=outer: outer(put(new)))
        here = child
    twins = _twins(here)
    if not twins:
        return v, v
    return v, rebuild[-1](draw(st.sampled_from(twins)))


# -- the properties -----------------------------------------------------------------------------
_CHILD = """
import pickle, sys
from cachework import key_for
values = pickle.load(sys.stdin.buffer)
sys.stdout.write("\\n".join(key_for({"x": v}) for v in values))
"""


def test_equal_values_share_a_key_in_every_process_and_hash_seed():
    """Values generated here, rebuilt here, and unpickled in three processes with other hash
    seeds (so their sets and dicts iterate in other orders): one key each, everywhere."""
    generated = []

    @stable(SAME_PROCESS_EXAMPLES)
    @given(values)
    def collect(v):
        key = k(v)
        assert k(rebuilt(v)) == key
        generated.append((v, key))

    collect()
    assert len(generated) >= SAME_PROCESS_EXAMPLES * 0.9  # hypothesis ran them all
    payload = pickle.dumps([v for v, _ in generated], protocol=pickle.HIGHEST_PROTOCOL)
    expected = [key for _, key in generated]
    for seed in SEEDS:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=payload,
            capture_output=True,
            env={**_env(), "PYTHONHASHSEED": seed},
            check=False,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        got = proc.stdout.decode().split("\n")
        mismatched = [
            generated[i][0] for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b
        ]
        assert len(got) == len(expected) and not mismatched, (seed, mismatched[:3])


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}


@stable(DISTINCT_EXAMPLES)
@given(near_copies())
def test_values_that_differ_in_type_or_content_never_share_a_key(pair):
    a, b = pair
    if canon(a) != canon(b):
        assert k(a) != k(b), (a, b)
    else:
        assert k(a) == k(b), (a, b)
