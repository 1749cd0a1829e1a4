"""A thin command: its filters are ``Store`` arguments, its errors the library's, its output
one layer (a table for people; ``--json``, ``--csv`` and ``--tsv`` for programs)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pickle

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import cachework
from cachework import AmbiguousCall, CacheworkError, NoSuchCall, NoSuchWork, StoreError, schema
from cachework._cli import WORKS_FIELDS, cli, main

UTC = dt.timezone.utc


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def _age(url: str, day: str, days: float) -> str:
    """Make the call of ``day`` look finished (and created) ``days`` ago; returns its key."""
    store = cachework.Store(url)
    (call,) = store.calls("ingest", day=day)
    when = dt.datetime.now(UTC) - dt.timedelta(days=days)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.update(schema.calls)
                .where(schema.calls.c.key == call.key)
                .values(finished_at=when, created_at=when)
            )
    finally:
        engine.dispose()
    return call.key


# -- the new Store arguments and methods ------------------------------------------------------
def test_calls_filters_by_status_and_age(filled):
    store = cachework.Store(filled)
    assert [c.args["day"] for c in store.calls("ingest", status="failed")] == ["bad"]
    assert {c.args["day"] for c in store.calls("ingest", status="succeeded")} == {
        "2022-05-25",
        "2022-05-26",
    }
    assert store.calls("ingest", status="running") == []
    old = _age(filled, "2022-05-25", 40)
    month = dt.timedelta(days=30)
    assert [c.key for c in store.calls("ingest", older_than=month)] == [old]
    assert store.calls("ingest", status="failed", older_than=month) == []
    assert len(store.calls(older_than=dt.timedelta(0))) == 3
    # The filters combine with argument values.
    assert [c.key for c in store.calls("ingest", older_than=month, day="2022-05-25")] == [old]
    with pytest.raises(ValueError, match="status must be one of"):
        store.calls("ingest", status="interrupted")  # a run's status, never a call's
    with pytest.raises(TypeError, match="older_than must be a timedelta"):
        store.calls("ingest", older_than=30)  # type: ignore[arg-type]


def test_call_resolves_one_call_or_raises_a_typed_error(filled):
    store = cachework.Store(filled)
    call = store.call("ingest", day="2022-05-26")
    assert call.args == {"day": "2022-05-26", "n": 3}
    assert store.call("ingest", call.key) == call
    assert store.call("ingest", args={"day": "2022-05-26", "n": 3}) == call
    with pytest.raises(NoSuchWork, match="no work named 'nope'"):
        store.call("nope", day="x")
    with pytest.raises(NoSuchCall, match="no call of ingest matches day='x'") as e:
        store.call("ingest", day="x")
    assert not isinstance(e.value, NoSuchWork)
    with pytest.raises(NoSuchCall, match="key " + "0" * 32):
        store.call("ingest", "0" * 32)
    with pytest.raises(AmbiguousCall) as ambiguous:
        store.call("ingest", n=1)  # 2022-05-25 and bad
    assert ambiguous.value.work == "ingest" and len(ambiguous.value.keys) == 2
    assert "2 calls of ingest match" in str(ambiguous.value)
    again = pickle.loads(pickle.dumps(ambiguous.value))
    assert (again.work, again.keys, str(again)) == (
        "ingest",
        ambiguous.value.keys,
        str(ambiguous.value),
    )
    for error in (NoSuchWork, NoSuchCall, AmbiguousCall):
        assert issubclass(error, CacheworkError) and issubclass(error, LookupError)
    with pytest.raises(ValueError, match="a key or argument values"):
        store.call("ingest")
    # A work whose calls were all forgotten still has its runs: it exists, no call matches.
    store.forget_all("ingest")
    with pytest.raises(NoSuchCall) as e:
        store.call("ingest", day="2022-05-25")
    assert not isinstance(e.value, NoSuchWork)


def test_open_checks_the_store_now_and_returns_it(tmp_path, filled):
    store = cachework.Store(filled, create=False)
    assert store.open() is store
    missing = cachework.Store(tmp_path / "absent.db", create=False)
    with pytest.raises(StoreError, match="does not exist"):
        missing.open()
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(StoreError, match="cannot reach"):
        cachework.Store("postgresql+psycopg://nobody@127.0.0.1:1/none", create=False).open()


# -- the command on top of them ---------------------------------------------------------------
def test_forget_older_than_and_status_through_the_store(filled):
    _age(filled, "2022-05-25", 40)
    r = invoke("--url", filled, "--json", "forget", "ingest", "--older-than", "30d")
    out = json.loads(r.output)
    assert out["forgotten"] == 1 and [c["args"]["day"] for c in out["matched"]] == ["2022-05-25"]
    r = invoke("--url", filled, "forget", "ingest", "--older-than", "30d", "--status", "failed")
    assert r.output == "nothing matches\n"
    assert {c.args["day"] for c in cachework.Store(filled).calls("ingest")} == {
        "2022-05-26",
        "bad",
    }


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["show", "nope", "--arg", "a=1"], "no work named 'nope' in "),
        (["show", "ingest", "--arg", "day=x"], "no call of ingest matches day='x'"),
        (["show", "ingest", "--arg", "n=1"], "2 calls of ingest match; name one by key ("),
    ],
)
def test_show_prints_the_librarys_typed_errors_as_one_line(filled, capsys, args, line):
    with pytest.raises(SystemExit) as e:
        main(["--url", filled, *args])
    assert e.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and line in captured.err


# -- one output layer -------------------------------------------------------------------------
LISTINGS = [
    ["works"],
    ["history", "ingest"],
    ["sql", "SELECT work, key, status FROM cachework_calls ORDER BY key"],
]


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda a: a[0])
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_and_tsv_hold_what_json_holds(filled, listing, fmt):
    document = json.loads(invoke("--url", filled, "--json", *listing).output)
    assert isinstance(document, list) and document
    for args in (["--url", filled, f"--{fmt}", *listing], ["--url", filled, *listing, f"--{fmt}"]):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        rows = list(
            csv.DictReader(io.StringIO(r.output), dialect="excel-tab" if fmt == "tsv" else "excel")
        )
        assert [list(row) for row in rows] == [list(obj) for obj in document]
        for row, obj in zip(rows, document, strict=True):
            for name, value in obj.items():
                if value is None:
                    assert row[name] == ""
                elif isinstance(value, bool):
                    assert row[name] == str(value).lower()
                elif isinstance(value, (dict, list)):
                    assert json.loads(row[name]) == value
                else:
                    assert row[name] == str(value), name


def test_csv_quotes_what_needs_quoting(filled):
    # The failed run's traceback has newlines and commas; args hold quotes. A csv reader
    # gets each field back whole.
    r = invoke("--url", filled, "history", "ingest", "--status", "failed", "--csv")
    (row,) = list(csv.DictReader(io.StringIO(r.output)))
    (run,) = cachework.Store(filled).history("ingest", status="failed")
    assert row["traceback"] == run.traceback and "\n" in row["traceback"]
    assert json.loads(row["args"]) == {"day": "bad", "n": 1}


def test_empty_listings_keep_their_header(filled):
    r = invoke("--url", filled, "history", "nope", "--csv")
    assert r.output == ",".join(cachework.Run._fields) + "\n"
    assert json.loads(invoke("--url", filled, "history", "nope", "--json").output) == []


def test_every_json_document_is_shaped_the_same_way(filled):
    key = cachework.Store(filled).call("ingest", day="2022-05-25").key
    listings = [*LISTINGS, ["calendar"]]
    records = [
        ["stats"],
        ["show", "ingest", key],
        ["forget", "ingest", "--all", "--dry-run"],
        ["prune", "--older-than", "300d"],
    ]
    for args in listings + records:
        r = invoke("--url", filled, "--json", *args)
        assert r.exit_code == 0, (args, r.output)
        document = json.loads(r.output)
        # The same indent everywhere: the whole document re-dumped the one way.
        assert r.output == json.dumps(document, indent=2, ensure_ascii=False) + "\n", args
        if args in listings:
            assert isinstance(document, list) and all(isinstance(x, dict) for x in document)
        else:
            assert isinstance(document, dict), args


def test_a_record_command_refuses_csv_before_doing_anything(filled):
    r = invoke("--url", filled, "--csv", "forget", "ingest", "--all", "--yes")
    assert r.exit_code == 2 and "forget prints one record: --json, not --csv" in r.output
    assert len(cachework.Store(filled).calls("ingest")) == 3
    r = invoke("--url", filled, "--tsv", "stats")
    assert r.exit_code == 2 and "stats prints one record" in r.output


def test_two_formats_at_once_are_a_usage_error(filled):
    r = invoke("--url", filled, "--json", "works", "--csv")
    assert r.exit_code == 2 and "not --json and --csv" in r.output
    assert invoke("--url", filled, "--json", "works", "--json").exit_code == 0


def test_piped_listing_is_an_aligned_plain_table(filled):
    r = invoke("--url", filled, "works")
    header, row = r.output.splitlines()
    assert header.split() == WORKS_FIELDS  # work, calls, succeeded, ... mean_duration_s
    # Numbers right-aligned under their header: the header ends where the number ends.
    end = header.index("calls") + len("calls")
    assert row[end - 1] == "3" and row[end] == " "


# -- --url before or after the subcommand -----------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["works", "--json"],
        ["history", "--json"],
        ["show", "ingest", "--arg", "day=2022-05-25", "--json"],
        ["forget", "ingest", "--arg", "day=nope", "--json"],
        ["prune", "--older-than", "300d", "--json"],
        ["sql", "SELECT count(*) AS n FROM cachework_calls", "--json"],
        ["stats", "--json"],
        ["calendar", "--json"],
    ],
    ids=lambda a: a[0],
)
def test_url_after_the_subcommand(filled, tmp_path, args):
    before = invoke("--url", filled, *args)
    after = invoke(*args, "--url", filled)
    assert after.exit_code == 0, after.output
    assert after.output == before.output
    # After the subcommand it wins over the group's and over CACHEWORK_URL.
    other = str(tmp_path / "other.db")
    r = CliRunner(env={"CACHEWORK_URL": other}).invoke(
        cli, ["--url", other, *args, "--url", filled]
    )
    assert r.exit_code == 0 and r.output == before.output


def test_db_commands_take_url_after_the_subcommand(tmp_path):
    path = str(tmp_path / "fresh.db")
    assert "0003" in invoke("db", "upgrade", "--url", path).output
    assert invoke("db", "current", "--url", path).output == "0003\n"
    assert "none" in invoke("db", "downgrade", "base", "--yes", "--url", path).output
