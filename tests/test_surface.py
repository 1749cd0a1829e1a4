"""The store's outer surface (issue 14): `sql` that cannot write, no password in any message,
`show` that never unpickles, paths that are paths, and argument filters named like options."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import run_script

import cachework
from cachework._cli import cli, main
from cachework._errors import StoreError
from cachework._store import SCHEMA_REVISION

SECRET = "s3cret"


def _filled(url: str) -> cachework.Store:
    """A store with ten entries and runs of ``ingest``, keys spread over the hex digits."""

    @cachework.work(name="ingest", store=url)
    def ingest(day: int) -> dict:
        return {"day": day}

    for day in range(10):
        ingest(day)
    return cachework.Store(url)


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the command, expect exit 1, return its one line of error."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("cachework: error:") and err.count("\n") == 1, err
    return err


# -- 10. `cachework sql` and Store.query only read ---------------------------------------------


def _sqlite_state(folder: Path, db: Path) -> tuple[object, ...]:
    """Everything an attack could change: the files beside the store, the bytes of the
    database and its WAL, the tables and the rows."""
    import sqlite3

    files = sorted(p.name for p in folder.iterdir() if p.name != db.name + "-shm")
    digests = tuple(
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (db, Path(str(db) + "-wal"))
        if p.exists()
    )
    conn = sqlite3.connect(db)
    try:
        tables = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
        counts = tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("cachework_calls", "cachework_runs")
        )
        version = conn.execute("PRAGMA user_version").fetchone()
        journal = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    return files, digests, tables, counts, version, journal


SQLITE_ATTACKS = [
    "ATTACH 'elsewhere.db' AS e",
    "ATTACH 'file:elsewhere.db?mode=rwc' AS e",
    "VACUUM INTO 'copy.db'",
    "VACUUM",
    "DELETE FROM cachework_calls WHERE key < '8'",
    "DROP TABLE cachework_runs",
    "COMMIT; DELETE FROM cachework_calls",
    "SELECT 1; DROP TABLE cachework_runs",
    "PRAGMA user_version = 99",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA wal_checkpoint(TRUNCATE)",
    "CREATE TEMP TABLE t AS SELECT * FROM cachework_calls",
    "CREATE TEMP VIEW v AS SELECT 1",
    "SELECT load_extension('./evil')",
]


@pytest.mark.parametrize("attack", SQLITE_ATTACKS)
def test_sql_on_sqlite_changes_nothing(attack, tmp_path, capsys):
    db = tmp_path / "store.db"
    store = _filled(str(db))
    store.close()
    before = _sqlite_state(tmp_path, db)
    with pytest.raises(StoreError, match="query refused"):
        cachework.Store(str(db)).query(attack)
    err = _error_line(capsys, ["--url", str(db), "sql", attack])
    assert "query refused" in err
    assert _sqlite_state(tmp_path, db) == before
    assert not (tmp_path / "elsewhere.db").exists() and not (tmp_path / "copy.db").exists()


def _pg_state(pg_url: str) -> tuple[object, ...]:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename"
            ).all()
            counts = tuple(
                conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                for t in ("cachework_calls", "cachework_runs")
            )
            objects = conn.exec_driver_sql("SELECT count(*) FROM pg_largeobject_metadata").scalar()
            role = conn.exec_driver_sql(
                "SELECT rolconfig FROM pg_roles WHERE rolname = current_user"
            ).scalar()
    finally:
        engine.dispose()
    return tables, counts, objects, role


# Each attack is refused with one StoreError, except those a read-only transaction may
# run (they then change nothing that outlives the call): True = must be refused.
PG_ATTACKS = [
    ("COMMIT; DELETE FROM cachework_calls WHERE key < '8'", True),
    ("COMMIT; DROP TABLE cachework_runs", True),
    ("SELECT 1; DELETE FROM cachework_calls", True),
    ("DELETE FROM cachework_calls", True),
    ("DELETE FROM cachework_calls RETURNING key", True),
    ("WITH d AS (DELETE FROM cachework_calls RETURNING key) SELECT * FROM d", True),
    ("DROP TABLE cachework_runs", True),
    ("SET transaction_read_only = off", True),
    ("SET default_transaction_read_only = off", True),
    ("SELECT set_config('transaction_read_only', 'off', false)", True),
    ("CREATE TABLE cachework_x AS SELECT 1 AS a", True),
    ("SELECT * INTO cachework_y FROM cachework_calls", True),
    ("COPY (SELECT 1) TO PROGRAM 'touch {marker}'", True),
    ("COPY (SELECT 1) TO '{marker}'", True),
    ("DO $$ BEGIN DELETE FROM cachework_calls; END $$", True),
    ("ALTER ROLE CURRENT_USER SET default_transaction_read_only = off", True),
    ("SELECT nextval('cachework_runs_id_seq')", True),
    ("SELECT * FROM cachework_calls FOR UPDATE", True),
    # Allowed, and undone: the session that ran them is closed after the call.
    ("SELECT set_config('default_transaction_read_only', 'off', false)", False),
    ("SELECT lo_create(0)", False),
]


@pytest.mark.parametrize(("attack", "refused"), PG_ATTACKS)
def test_sql_on_postgres_changes_nothing(attack, refused, pg_url, tmp_path, capsys):
    _filled(pg_url).close()
    marker = tmp_path / "pwned"
    attack = attack.replace("{marker}", str(marker))
    before = _pg_state(pg_url)
    store = cachework.Store(pg_url)
    if refused:
        with pytest.raises(StoreError, match="query refused"):
            store.query(attack)
        err = _error_line(capsys, ["--url", pg_url, "sql", attack])
        assert "query refused" in err
    else:
        store.query(attack)
    # The next statement, in the same process, still cannot write.
    with pytest.raises(StoreError, match="read-only"):
        store.query("SELECT nextval('cachework_runs_id_seq')")
    with pytest.raises(StoreError):
        store.query("WITH d AS (DELETE FROM cachework_calls RETURNING key) SELECT * FROM d")
    store.close()
    assert _pg_state(pg_url) == before
    assert not marker.exists()


def test_sql_still_reads_with_parameters_and_percent_signs(url):
    store = _filled(url)
    cols, rows = store.query(
        "SELECT count(*) AS n, '5%' AS pct FROM cachework_calls WHERE work = :w", {"w": "ingest"}
    )
    assert cols == ["n", "pct"] and rows == [(10, "5%")]
    cols, rows = store.query("SELECT key FROM cachework_runs WHERE id = :id", {"id": 1})
    assert cols == ["key"] and len(rows) == 1
    r = CliRunner().invoke(cli, ["--url", url, "--json", "sql", "VALUES (1)"])
    assert r.exit_code == 0 and len(json.loads(r.output)) == 1


# -- 11. no password in any message, log line, repr or output --------------------------------


def _with_password(pg_url: str, where: str) -> str:
    """The test URL with a password (trust authentication ignores it) in the user part or
    as a ``?password=`` option."""
    if where == "user":
        return pg_url.replace("://postgres@", f"://postgres:{SECRET}@", 1)
    return pg_url.replace("?", f"?password={SECRET}&", 1)


def _assert_no_secret(*texts: object, caplog: pytest.LogCaptureFixture) -> None:
    for text in texts:
        assert SECRET not in str(text), text
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.getMessage()
        assert SECRET not in (record.exc_text or ""), record.exc_text
        if record.exc_info:
            assert SECRET not in str(record.exc_info[1])


@pytest.mark.parametrize("where", ["user", "query"])
def test_no_password_when_the_schema_is_missing_or_newer(where, pg_url, caplog, capsys):
    import sqlalchemy as sa

    caplog.set_level(logging.INFO, logger="cachework")
    url = _with_password(pg_url, where)
    assert SECRET in url
    store = cachework.Store(url, create=False)
    with pytest.raises(StoreError, match="no cachework schema") as missing:
        store.lookup("w", "k")
    err_missing = _error_line(capsys, ["--url", url, "works"])
    cachework.Store(url).upgrade()  # logs "migrating <url>"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cachework_alembic_version SET version_num = '0099'")
    engine.dispose()
    with pytest.raises(StoreError, match="0099") as newer:
        cachework.Store(url).lookup("w", "k")
    err_newer = _error_line(capsys, ["--url", url, "history"])
    assert "0099" in err_newer
    assert any("migrating" in r.getMessage() for r in caplog.records)
    shown = [
        missing.value,
        newer.value,
        err_missing,
        err_newer,
        repr(store),
        str(store),
        store.safe_url(),
        f"{store!r}",
    ]
    _assert_no_secret(*shown, caplog=caplog)
    assert "***" in repr(store)


@pytest.mark.parametrize("port", ["1", "5432x", "99999"])
def test_no_password_when_the_server_cannot_be_reached(port, caplog, capsys):
    url = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{port}/test"
    with pytest.raises(StoreError) as e:
        cachework.Store(url).lookup("w", "k")
    err = _error_line(capsys, ["--url", url, "works"])
    _assert_no_secret(e.value, err, repr(cachework.Store(url)), caplog=caplog)


def test_stats_and_db_commands_print_no_password(pg_url, caplog):
    url = _with_password(pg_url, "user")
    _filled(url)
    for args in (["--json", "stats"], ["db", "upgrade"], ["db", "current"], ["works"]):
        r = CliRunner().invoke(cli, ["--url", url, *args])
        assert r.exit_code == 0, r.output
        _assert_no_secret(r.output, caplog=caplog)
    assert (
        "***"
        in json.loads(CliRunner().invoke(cli, ["--url", url, "--json", "stats"]).output)["url"]
    )


def test_a_failing_heartbeat_logs_no_password(pg_url, caplog):
    """The heartbeat warning names the store (its repr): during an outage it is logged on
    every beat, so it must never hold the password."""
    import sqlalchemy as sa

    caplog.set_level(logging.WARNING, logger="cachework")
    url = _with_password(pg_url, "user")
    started, release = threading.Event(), threading.Event()

    @cachework.work(name="slow", store=url, lease=0.4)
    def slow() -> int:
        started.set()
        release.wait(60)
        return 1

    worker = threading.Thread(target=slow)
    worker.start()
    admin = sa.create_engine(pg_url)
    try:
        assert started.wait(60)
        with admin.begin() as conn:  # the beat's table vanishes: every beat now fails
            conn.exec_driver_sql("ALTER TABLE cachework_calls RENAME TO cachework_gone")
        deadline = time.monotonic() + 60
        while not any("heartbeat to" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no heartbeat warning was logged"
            time.sleep(0.05)
        with admin.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE cachework_gone RENAME TO cachework_calls")
    finally:
        release.set()
        worker.join(60)
        admin.dispose()
    warnings = [r for r in caplog.records if "heartbeat to" in r.getMessage()]
    assert warnings and "***" in warnings[0].getMessage()
    _assert_no_secret(caplog=caplog)


# -- 12. `cachework show` never unpickles -----------------------------------------------------


class _CreatesAFile:
    """Loading this pickle opens (creates) the file: what a crafted row could do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_show_never_loads_the_stored_result(url, tmp_path, capsys):
    store = _filled(url)
    marker = tmp_path / "loaded"
    crafted = pickle.dumps(_CreatesAFile(str(marker)), protocol=5)
    engine = store._engine()
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE cachework_calls SET result = :r WHERE work = 'ingest'"), {"r": crafted}
        )
    for args in (
        ["--json", "show", "ingest", "--arg", "day=3"],
        ["show", "ingest", "--arg", "day=3"],
    ):
        r = CliRunner().invoke(cli, ["--url", url, *args])
        assert r.exit_code == 0, r.output
        assert not marker.exists(), "show loaded the stored result"
        assert "io.open(...)" in r.output and str(len(crafted)) in r.output
    record = json.loads(
        CliRunner().invoke(cli, ["--url", url, "--json", "show", "ingest", "--arg", "day=3"]).output
    )
    assert record["result_type"] == "io.open(...)" and record["call"]["result_size"] == len(crafted)
    assert store.result_type("ingest", record["call"]["key"]) == "io.open(...)"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"a": 1}, "dict"),
        ((1, 2), "tuple"),
        (b"x", "bytes"),
        (None, "NoneType"),
        (Path("/x"), "pathlib.PosixPath"),
        (__import__("datetime").date(2024, 1, 1), "datetime.date"),
        (__import__("decimal").Decimal("1.5"), "decimal.Decimal"),
    ],
)
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_pickled_type_names_the_class_without_loading(value, shown, protocol):
    from cachework._pickled import pickled_type

    assert pickled_type(pickle.dumps(value, protocol=protocol)) == shown


def test_pickled_type_of_garbage_is_none():
    from cachework._pickled import pickled_type

    assert pickled_type(b"") is None and pickled_type(b"not a pickle") is None
    assert pickled_type(b"cos\nsystem\n(S'touch x'\ntR.") == "os.system(...)"


# -- 13. a path is a path ------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["we?ird", "pct%41", "h#ash", "sp ace", "a%3Fb"])
@pytest.mark.parametrize("absolute", [False, True])
def test_paths_with_url_characters_open_exactly_that_file(folder, absolute, tmp_path, capsys):
    (tmp_path / folder).mkdir()
    path = str(tmp_path / folder / "c.db") if absolute else f"{folder}/c.db"
    ran = []

    @cachework.work(name="w", store=path)
    def w(x: int) -> int:
        ran.append(x)
        return x * 2

    assert w(1) == 2 and w(1) == 2 and ran == [1]  # a run, then a hit
    store = cachework.Store(path)
    assert store.path == str(tmp_path / folder / "c.db")
    assert [r.status for r in store.history("w")] == ["succeeded"]
    assert store.query("SELECT count(*) FROM cachework_runs")[1] == [(1,)]
    assert store.revision() == SCHEMA_REVISION
    for args in (
        ["--json", "sql", "SELECT count(*) AS n FROM cachework_calls"],
        ["--json", "history", "w"],
        ["--json", "works"],
        ["--json", "stats"],
        ["db", "current"],
    ):
        main(["--url", path, *args])  # returns: exit code 0
    out = capsys.readouterr().out
    assert '"n": 1' in out and SCHEMA_REVISION in out
    cachework.Store(path).close()
    made = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    assert made - {f"{folder}/c.db-wal", f"{folder}/c.db-shm"} == {folder, f"{folder}/c.db"}


def test_a_sqlite_url_with_options_is_refused_not_misread(tmp_path):
    with pytest.raises(StoreError, match="%3F"):
        cachework.Store("sqlite:///we?ird/c.db")
    (tmp_path / "pctA").mkdir()
    # In a URL, %41 is an escape (as SQLAlchemy reads it): the folder is pctA, everywhere.
    store = cachework.Store("sqlite:///pct%41/c.db")
    assert store.path == str(tmp_path / "pctA" / "c.db")
    store.query("SELECT 1")
    assert store.revision() == SCHEMA_REVISION
    assert sorted(os.listdir(tmp_path)) == ["pctA"]


@pytest.mark.parametrize("spec", ["a\x00b.db", "sqlite:///a%00b.db", "sqlite:///dir\x00/c.db"])
def test_a_sqlite_path_with_a_nul_is_one_store_error(spec, tmp_path):
    """No file name holds a NUL: refused with a StoreError naming the store (the NUL shown
    as ``\\x00``), from Store and from a work's first call, instead of a raw ValueError."""
    with pytest.raises(StoreError, match=r"NUL") as e:
        cachework.Store(spec)
    assert "\\x00" in str(e.value) and "\x00" not in str(e.value), str(e.value)

    with pytest.raises(StoreError, match=r"NUL"):

        @cachework.work(name="w", store=spec)
        def f(x):
            return x

        f(1)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("create", [True, False])
def test_a_postgres_search_path_naming_no_schema_is_one_store_error(create, pg_url, capsys, caplog):
    """A search_path whose schemas do not exist leaves the server nowhere to create tables
    (before: SQLAlchemy's ProgrammingError and its SQL; with create=False "run `cachework db
    upgrade`", which failed the same way): one StoreError naming the store, masked, and the
    search_path, from Store.open (a work's first call opens it so) and the command."""
    url = _with_password(pg_url, "user").replace(
        "options=-csearch_path%3Dcw_", "options=-csearch_path%3Dnone_", 1
    )
    assert "none_" in url
    with pytest.raises(StoreError) as e:
        cachework.Store(url, create=create).open()
    message = str(e.value)
    assert message.startswith(f"store {cachework.Store(url).safe_url()}:"), message
    assert "none_" in message and "search_path" in message and "CREATE SCHEMA" in message, message
    assert "\n" not in message and "sqlalche.me" not in message
    err = _error_line(capsys, ["--url", url, "works"])
    assert "none_" in err and "search_path" in err
    _assert_no_secret(message, err, caplog=caplog)


@pytest.mark.parametrize("spec", [":memory:", "sqlite:///:memory:", "sqlite://", "sqlite:///"])
def test_an_in_memory_store_is_refused_with_what_to_use_instead(spec, tmp_path, monkeypatch):
    """A store is durable, shared by connections, threads and processes: an in-memory SQLite
    database is none of these. ``Store(":memory:")`` created a file named ``:memory:``; now
    every spelling is one StoreError saying to use a file path, from Store, from a work
    and from CACHEWORK_URL, and nothing is created."""
    with pytest.raises(StoreError, match="in-memory.*file path"):
        cachework.Store(spec)

    with pytest.raises(StoreError, match="in-memory.*file path"):  # when made, or at its call

        @cachework.work(name="w", store=spec)
        def f(x):
            return x

        f(1)
    monkeypatch.setenv("CACHEWORK_URL", spec)
    with pytest.raises(StoreError, match="in-memory.*file path"):
        cachework.Store()
    assert os.listdir(tmp_path) == []


# -- argument filters named like the methods' own parameters -----------------------------------


@pytest.fixture
def clashing(url):
    @cachework.work(name="clash", store=url)
    def clash(key: str, status: str = "s", work: str = "w", limit: int = 0, since: str = "") -> str:
        return key

    clash("k1", status="a", work="x", limit=1, since="2020")
    clash("k2", status="b", work="y", limit=2, since="2021")
    return url


def test_store_methods_filter_by_arguments_named_like_their_options(clashing):
    store = cachework.Store(clashing)
    for name, value, key in (
        ("key", "k1", "k1"),
        ("status", "b", "k2"),
        ("work", "x", "k1"),
        ("limit", 2, "k2"),
        ("since", "2020", "k1"),
    ):
        (run,) = store.history("clash", args={name: value})
        assert run.args["key"] == key
        (call,) = store.calls("clash", args={name: value})
        assert call.args["key"] == key
    # Both forms merge; a name given both ways is an error, not a guess.
    assert len(store.history("clash", args={"key": "k1"}, status="failed")) == 0  # the run's
    assert len(store.history("clash", args={"key": "k1"}, status="succeeded")) == 1
    assert [c.args["key"] for c in store.calls(args={"key": "k2", "work": "y"})] == ["k2"]
    with pytest.raises(ValueError, match="'limit'"):
        store.calls("clash", args={"limit": 1}, limit=1)
    with pytest.raises(TypeError, match="args"):
        store.history("clash", args=[("key", "k1")])
    assert store.forget("clash", args={"key": "k1"}) == 1
    assert [c.args["key"] for c in store.calls("clash")] == ["k2"]


def test_cli_arg_filters_named_like_options(clashing):
    def invoke(*args):
        r = CliRunner().invoke(cli, ["--url", clashing, "--json", *args])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    for pair, key in (
        ("key=k1", "k1"),
        ("status=b", "k2"),
        ("work=x", "k1"),
        ("limit=2", "k2"),
        ('since="2020"', "k1"),  # JSON: the string, as stored
    ):
        (run,) = invoke("history", "clash", "--arg", pair)
        assert run["args"]["key"] == key
        assert invoke("show", "clash", "--arg", pair)["call"]["args"]["key"] == key
    assert invoke("forget", "clash", "--arg", "key=k2")["forgotten"] == 1
    assert [c.args["key"] for c in cachework.Store(clashing).calls("clash")] == ["k1"]


# -- issue 18, item 3: every reading command works on a read-only store -----------------------


@pytest.mark.parametrize("left_open", [False, True])
def test_every_reading_command_works_on_a_read_only_store(left_open, tmp_path):
    """A read-only store (here a read-only file system) serves hits; it also answers every
    command that only reads, whether it was closed cleanly (no -wal/-shm) or copied while
    a writer had it open."""
    import sqlite3

    from test_hardening import read_only

    folder = tmp_path / "data"
    folder.mkdir()
    # Filled by another process, which closes it: no connection of this one stays open.
    run_script(
        f"from test_surface import _filled; _filled({str(folder / 's.db')!r})",
        env={"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])},
    )
    assert sorted(os.listdir(folder)) == ["s.db"]
    writer = sqlite3.connect(folder / "s.db") if left_open else None
    if writer is not None:
        writer.execute("SELECT count(*) FROM cachework_runs").fetchall()  # -wal, -shm appear
    try:
        with read_only(folder) as view:
            path = str(view / "s.db")
            before = sorted(os.listdir(view))
            for args in (
                ["--json", "works"],
                ["--json", "history", "ingest", "--arg", "day=3"],
                ["--json", "stats"],
                ["--json", "sql", "SELECT count(*) AS n FROM cachework_runs"],
                ["--json", "show", "ingest", "--arg", "day=3"],
                ["db", "current"],
            ):
                # Another process, as a user would run it: nothing stays open on the mount.
                proc = subprocess.run(
                    [sys.executable, "-m", "cachework", "--url", path, *args],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert (proc.returncode, proc.stderr) == (0, ""), args
                out = proc.stdout
                assert "ingest" in out or '"n": 10' in out or SCHEMA_REVISION in out, (args, out)
            proc = subprocess.run(
                [sys.executable, "-m", "cachework", "--url", path, "sql", "ATTACH 'x.db' AS x"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 1 and "ATTACH" in proc.stderr
            assert proc.stderr.count("\n") == 1
            assert sorted(os.listdir(view)) == before
    finally:
        if writer is not None:
            writer.close()


def test_a_driver_error_while_listing_is_one_line(url, capsys):
    import sqlalchemy as sa

    store = _filled(url)
    with store._engine().begin() as conn:
        conn.execute(sa.text("DROP TABLE cachework_runs"))
    store.close()
    with pytest.raises(StoreError, match="cachework_runs") as e:
        cachework.Store(url).history()
    assert "\n" not in str(e.value) and "sqlalche.me" not in str(e.value)
    for args in (["history"], ["works"], ["stats"]):
        err = _error_line(capsys, ["--url", url, *args])
        assert "StoreError" not in err and "sqlalche.me" not in err and "cachework_runs" in err
