"""The quick encoder of common arguments writes exactly the general encoder's bytes.

``_keys._quick`` serves most calls (strs, ints, floats, small lists and dicts of them) from
tables; ``_keys._encoding`` (the general encoder) is the reference. A byte apart would make
every stored call of that shape miss, or worse, two calls meet; so the two are compared on
generated values, byte for byte, and the quick one must not give up on the shapes it is for.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from cachework import _keys as keys

scalars = (
    st.text()
    | st.integers()
    | st.integers(min_value=-2, max_value=1100)  # both sides of the small-int table
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, math.nan, -math.nan])
    | st.booleans()
    | st.none()
    | st.binary()
    | st.text(min_size=250, max_size=300)  # both sides of the length tables
)
hashable = st.recursive(
    scalars, lambda inner: st.tuples(inner) | st.frozensets(inner, max_size=4), max_leaves=8
)


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    """Every container the quick encoder writes, holding ``inner`` values."""
    return st.one_of(
        st.lists(inner, max_size=12),
        st.tuples(inner, inner),
        st.dictionaries(hashable, inner, max_size=6),
        st.sets(hashable, max_size=6),
        st.frozensets(hashable, max_size=6),
    )


values = st.recursive(scalars, _containers, max_leaves=30)
names = st.text(min_size=1, max_size=12)
calls = st.dictionaries(names, values, max_size=6)
versions = st.none() | scalars | st.tuples(scalars, scalars)


@settings(max_examples=800, deadline=None)
@given(calls, versions)
def test_quick_bytes_equal_the_general_encoders(arguments, version):
    quick = keys._quick(arguments, version)
    if quick is not None:
        assert quick == keys._encoding(arguments, version)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, st.text() | st.integers() | st.floats() | st.booleans(), max_size=5))
def test_quick_takes_plain_calls(arguments):
    """Calls of plain scalars (no lone surrogate) never fall back to the general encoder."""
    if any(type(v) is str and not _encodes(v) for v in arguments.values()):
        return
    assert keys._quick(arguments) == keys._encoding(arguments)


def _encodes(s: str) -> bool:
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True


def test_quick_takes_the_common_shapes():
    """The shapes the performance issue names: a str and an int, a dict of five str, int and
    float values, a ten-element list; each written by the quick encoder."""
    for arguments in (
        {"day": "2026-11-25", "n": 3},
        {"row": {"a": "x", "b": 2, "c": 3.5, "d": "yy", "e": 7}},
        {"xs": list(range(10))},
        {"xs": [[1, 2], {"k": (3, frozenset({4}))}]},
    ):
        quick = keys._quick(arguments)
        assert quick is not None
        assert quick == keys._encoding(arguments)


def test_quick_gives_up_where_the_general_encoder_decides():
    """Subclasses, other types, cycles, deep nesting and lone surrogates go to the general
    encoder, which keeps (or refuses) them as it always did."""

    class Text(str):
        pass

    cycle: list = []
    cycle.append(cycle)
    deep: list = [1]
    for _ in range(6):
        deep = [deep]
    for arguments in (
        {"a": Text("x")},
        {"a": [True, Text("x")]},
        {"a": 1j},
        {"a": cycle},
        {"a": deep},
        {"a": "\ud800"},
        {"a": {"\ud800": 1}},
    ):
        assert keys._quick(arguments) is None
    assert keys.key_for({"a": deep}) == keys.key_for({"a": [[[[[[[1]]]]]]]})


def test_the_tables_hold_what_the_general_encoder_writes():
    """Every entry, not a sample: the tables are built without the encoder's functions."""
    assert tuple(map(keys._int, range(1024))) == keys._SMALL_INTS
    for n in range(keys._SMALL):
        assert keys._COUNTS[n] == keys._len(n)
        assert keys._STR_HEADS[n] + b"x" * n == keys._str("x" * n)
        assert keys._BYTES_HEADS[n] + b"x" * n == keys._bytes(b"x" * n)


# -- keys of calls that pass every parameter by position, made without binding ----------------

parameter_names = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ABCé", min_size=1, max_size=6),
    min_size=0,
    max_size=6,
    unique=True,
)


@settings(max_examples=800, deadline=None)
@given(st.data(), parameter_names, st.none() | st.text() | st.integers())
def test_a_positional_key_is_the_key_of_the_bound_arguments(data, names, version):
    """``keys.PositionalKey`` keys a call from its tuple of arguments; it must give exactly
    ``key_for`` of the same arguments bound to their names (less the ignored ones), or None."""
    ignored = data.draw(st.lists(st.sampled_from(names), unique=True) if names else st.just([]))
    args = tuple(data.draw(values) for _ in names)
    key = keys.PositionalKey.of(names, ignored)
    assert key is not None
    bound = {n: v for n, v in zip(names, args, strict=True) if n not in ignored}
    got = key(args, version)
    if got is not None:
        assert got == keys.key_for(bound, version)
    assert key(args + (1,), version) is None  # another number of arguments: not for this key
    assert key(args, version) == got  # the version's bytes are kept: the same key again


def test_a_positional_key_takes_the_common_shapes_and_declines_the_rest():
    key = keys.PositionalKey.of(("day", "n"))
    assert key is not None
    assert key(("2026-11-25", 3), None) == keys.key_for({"day": "2026-11-25", "n": 3})
    assert key(("2026-11-25", 3), "v2") == keys.key_for({"day": "2026-11-25", "n": 3}, "v2")
    # Values only the general encoder writes, and versions that could change in place.
    import datetime as dt

    assert key((dt.date(2026, 11, 25), 3), None) is None
    assert key(("\udcff", 3), None) is None  # a lone surrogate
    assert key(("2026-11-25", 3), ["v", 2]) is None
    # Keys follow a version that changes between calls (one work's instances can differ).
    assert key(("d", 1), "a") != key(("d", 1), "b")
    assert key(("d", 1), "a") == keys.key_for({"day": "d", "n": 1}, "a")


def test_a_positional_key_travels_by_pickle_and_keys_alike():
    """A work goes to other processes pickled: its positional key travels as its parameters."""
    import pickle

    key = keys.PositionalKey.of(("day", "n", "verbose"), ("verbose",))
    assert key is not None
    copy = pickle.loads(pickle.dumps(key))
    assert (
        copy(("d", 1, True), "v")
        == key(("d", 1, False), "v")
        == keys.key_for({"day": "d", "n": 1}, "v")
    )


def test_ordered_arguments_are_the_bound_arguments_in_the_parameters_order():
    """``Binder.ordered`` turns a keyword call of a plain signature into the tuple the
    positional key reads: the bound arguments in the parameters' order, or None where
    ``bind`` must word the TypeError."""
    from cachework._binding import Binder

    def f(day, n=1, opts=None, flag=False):
        return day

    binder = Binder(f, skip_self=False)
    for args, kwargs in [
        (("d",), {}),
        (("d", 2), {}),
        (("d",), {"flag": True}),
        ((), {"day": "d", "opts": 3}),
        (("d", 2, None, True), {}),
        (("d",), {"flag": True, "n": 5}),
    ]:
        ordered = binder.ordered(args, kwargs)
        assert ordered is not None
        assert dict(zip(binder.names, ordered, strict=True)) == binder(args, kwargs)
    for args, kwargs in [
        ((), {}),  # day missing
        (("d",), {"day": "e"}),  # given twice
        (("d",), {"other": 1}),  # not a parameter
        (("d", 1, 2, 3, 4), {}),  # too many
    ]:
        assert binder.ordered(args, kwargs) is None

    def g(*days, n=1):
        return days

    assert Binder(g, skip_self=False).ordered(("d",), {}) is None  # not a plain signature
