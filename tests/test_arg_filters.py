"""Argument filters (``history``/``calls``/``forget`` values, the command's ``--arg``) are
matched in SQL, on both dialects, exactly as the values were stored."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import cachework
from cachework import _backends
from cachework._cli import cli

#: Values JSON (or jsonb) would merge, and that a filter must keep apart.
KINDS = [1, 1.0, True, "1", None, [1], [1.0], {"a": 1}, {"a": 1.0}, -0.0, 0.0, "-0.0x", 10**30]


@pytest.fixture
def kinds(url, store):
    @cachework.work(name="kinds", store=url)
    def kinds(x, **kw):
        return repr(x)

    for v in KINDS:
        kinds(v)
    return store, kinds


def test_each_kind_of_value_matches_only_itself(kinds):
    store, _ = kinds
    for v in KINDS:
        (call,) = store.calls("kinds", x=v)
        assert call.args == {"x": json.loads(cachework._keys.args_json({"x": v}))["x"]}, v
        (run,) = store.history("kinds", x=v)
        assert run.key == call.key
    assert store.calls("kinds", x=2) == []
    assert store.calls("kinds", x="True") == []
    assert store.calls("kinds", y=1) == []  # no such argument: nothing, not everything


def test_forget_removes_only_the_matching_kind(kinds):
    store, _ = kinds
    assert store.forget("kinds", x=1.0) == 1
    assert store.forget("kinds", x=[1]) == 1
    assert store.forget("kinds", x=None) == 1
    left = {json.dumps(c.args["x"]) for c in store.calls("kinds")}
    assert "1.0" not in left and "[1]" not in left and "null" not in left
    assert {"1", "true", '"1"', "[1.0]"} <= left
    assert len(left) == len(KINDS) - 3


@pytest.mark.parametrize("name", ["a.b", 'a"b', "a\\b", "$x", "a[0]", "é", " sp", "_period"])
def test_names_are_taken_literally(kinds, name):
    store, fn = kinds
    fn(0, **{name: 5, "other": 5})
    fn(0, **{"a": {"b": 5}})  # $.a.b is not a.b
    (call,) = store.calls("kinds", args={name: 5})
    assert call.args[name] == 5
    assert store.calls("kinds", args={name: 6}) == []
    assert len(store.history("kinds", args={name: 5, "x": 0})) == 1
    assert store.forget("kinds", args={name: 5}) == 1


@pytest.mark.parametrize("name", ["\udcff", "a\udcffb", "a\x00b"])
def test_a_kwarg_name_no_database_text_holds_is_stored_escaped_and_found(url, store, name):
    """A ``**kwargs`` name with a lone surrogate (an undecodable byte of a file name) or NUL
    is stored as its values are, escaped (``\\udcff``, ``\\x00``), and hits; the
    filters, given the name as the call spelt it, find it."""
    ran = []

    @cachework.work(name="names", store=url)
    def names(**kw):
        ran.append(kw)
        return sorted(kw)

    assert names(**{name: 1}) == [name]
    assert names(**{name: 1}) == [name] and len(ran) == 1  # a hit
    (call,) = store.calls("names", args={name: 1})
    stored = cachework._keys.jsonable(name)
    assert call.args == {stored: 1} and stored != name
    assert len(store.history("names", args={name: 1})) == 1
    assert store.forget("names", args={name: 1}) == 1


def test_kwarg_names_apart_in_the_key_but_stored_alike_are_refused_together(url, store):
    """``\\udcff`` (a backslash and five letters) is how a lone ``\\udcff`` is stored:
    each alone is its own call with its own key; both in one call would leave one value out
    of the stored arguments, so that call is refused before it runs, naming them."""
    ran = []

    @cachework.work(name="alike", store=url)
    def alike(**kw):
        ran.append(kw)
        return len(ran)

    assert alike(**{"\udcff": 1}) == 1
    assert alike(**{"\\udcff": 1}) == 2
    assert alike(**{"\udcff": 1}) == 1 and alike(**{"\\udcff": 1}) == 2  # hits
    with pytest.raises(cachework.UnhashableArgument) as e:
        alike(**{"\udcff": 1, "\\udcff": 2})
    assert "'\\udcff'" in str(e.value) and "'\\\\udcff'" in str(e.value), str(e.value)
    assert len(ran) == 2
    assert len(store.calls("alike")) == 2


def test_a_kwarg_named_like_a_parameter_filters_by_its_stored_name(url, store):
    @cachework.work(name="pos", store=url)
    def pos(data, /, **kw):
        return data

    pos(2, data=3)
    pos(3, data=2)
    (call,) = store.calls("pos", args={"**data": 3})
    assert call.args == {"data": 2, "**data": 3}
    (call,) = store.calls("pos", data=3)
    assert call.args == {"data": 3, "**data": 2}


def test_without_the_arrow_operator_sqlite_keeps_kinds_apart(sqlite_url, monkeypatch):
    """SQLite before 3.38 has no ``->``: the json_each form must keep every kind apart too."""
    monkeypatch.setattr(_backends, "_SQLITE_ARROW", False)

    @cachework.work(name="kinds", store=sqlite_url)
    def kinds(x, **kw):
        return repr(x)

    for v in KINDS:
        kinds(v)
    kinds(0, **{"a.b": 5})
    store = cachework.Store(sqlite_url)
    for v in KINDS:
        assert len(store.calls("kinds", x=v)) == 1, v
    assert len(store.calls("kinds", args={"a.b": 5})) == 1
    assert store.calls("kinds", args={"a.b": 5.0}) == []


def test_the_period_argument_filters_like_any_other(url, store):
    @cachework.work(name="daily", store=url, every="day")
    def daily(period):
        return str(period)

    daily()
    (call,) = store.calls("daily")
    label = call.args["_period"]
    assert [c.key for c in store.calls("daily", _period=label)] == [call.key]
    assert store.calls("daily", _period="1999-01-01") == []


def test_a_filtered_limit_reads_past_newer_rows_that_do_not_match(url, store):
    """The filter is in the statement: LIMIT counts matching rows, however many newer ones
    do not match (a filter applied after the LIMIT would return fewer)."""

    @cachework.work(name="many", store=url)
    def many(x, i):
        return i

    for i in range(3):
        many("wanted", i)
    for i in range(30):
        many("other", i)
    runs = store.history("many", limit=2, x="wanted")
    assert [r.args["i"] for r in runs] == [2, 1]
    assert [r.args["i"] for r in store.history("many", limit=5, args={"x": "wanted"})] == [2, 1, 0]
    assert [c.args["i"] for c in store.calls("many", x="wanted")] == [0, 1, 2]


def test_the_filter_is_part_of_the_statement(url, store):
    """The SQL sent for a filtered listing names the argument: it is matched by the database."""
    import sqlalchemy as sa

    @cachework.work(name="seen", store=url)
    def seen(x):
        return x

    seen(1)
    sent: list[str] = []
    engine = store._engine()
    sa.event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    assert len(store.history("seen", x=1, limit=1)) == 1
    assert len(store.calls("seen", x=1)) == 1
    sent = [s for s in sent if s.startswith("SELECT")]
    assert len(sent) == 2
    assert "LIMIT" in sent[0].upper()
    assert all("args ->" in s for s in sent)


def test_cli_arg_types_stay_apart(kinds):
    store, _ = kinds
    url = store.url

    def keys(pair):
        r = CliRunner().invoke(cli, ["--url", url, "--json", "history", "kinds", "--arg", pair])
        assert r.exit_code == 0, r.output
        return [c["args"]["x"] for c in json.loads(r.output)]

    assert keys("x=1") == [1]
    assert keys("x=1.0") == [1.0]
    assert keys("x=true") == [True]
    assert keys('x="1"') == ["1"]
    assert keys("x=[1]") == [[1]]
