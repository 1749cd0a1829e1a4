"""The store: schema, migrations, the hit statement, history records, bad stores."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import run_script

import cachework
from cachework import StoreError, _backends, _migrate, _sql, schema
from cachework import _store as store_mod
from cachework._claims import Busy, Claim, Outcome
from cachework.schema import metadata

ROOT = Path(__file__).resolve().parents[1]


def test_hot_lookup_is_what_sqlalchemy_compiles_from_the_schema():
    from sqlalchemy.dialects import sqlite

    stmt = _sql.statements("sqlite")["lookup"]
    compiled = str(stmt.compile(dialect=sqlite.dialect(paramstyle="qmark")))
    assert compiled == _backends.SQLITE_LOOKUP
    hit = _sql.statements("sqlite")["hit"]
    assert str(hit.compile(dialect=sqlite.dialect(paramstyle="qmark"))) == _backends.SQLITE_HIT


def test_positional_binding_puts_every_value_where_sqlalchemy_would():
    """SQLite statements are bound by position from the caller's dict: for each one, the
    tuple must be exactly SQLAlchemy's own positional parameters for the same values."""
    import sqlalchemy as sa

    dialect = _sql.sqlite_dialect()
    stmts = dict(_sql.statements("sqlite"))
    stmts["one parameter"] = sa.select(sa.bindparam("only"))
    for name, stmt in stmts.items():
        compiled = stmt.compile(dialect=dialect)
        ours = _sql.compile_one(stmt, dialect)
        # A distinct value for every parameter the caller supplies.
        given = {k: f"{name}:{k}" for k, b in compiled.binds.items() if b.required}
        expected = compiled.construct_params(given)
        assert ours.text == str(compiled), name
        assert ours.values({**ours.fixed, **given}) == tuple(
            expected[k] for k in compiled.positiontup
        ), name


def test_library_revision_is_alembics_head():
    assert _migrate.heads() == (store_mod.SCHEMA_REVISION,)
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(_migrate.script_location()))
    assert {r.revision for r in script.walk_revisions()} == set(store_mod.KNOWN_REVISIONS)


def test_migrations_build_exactly_the_schema_module(url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    s = cachework.Store(url)
    s.lookup("w", "k")  # opens, so migrates
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _ours})
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diff == []


def _ours(name, type_, parent):
    return type_ != "table" or (
        name.startswith("cachework_") and name != "cachework_alembic_version"
    )


def test_history_returns_typed_records(url):
    @cachework.work(name="typed", store=url)
    def f(day):
        return day

    f("2022-05-25")
    (run,) = cachework.Store(url).history(work="typed")
    assert isinstance(run, cachework.Run)
    assert run.args == {"day": "2022-05-25"} and run.status == "succeeded" and run.cached
    assert run.started_at.tzinfo is not None and run.pid == os.getpid()
    assert run.finished_at >= run.started_at
    assert cachework.Store(url).history(work="typed", day="2022-05-26") == []
    assert cachework.Store(url).history(status="failed") == []
    since = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert cachework.Store(url).history(since=since) == []
    (call,) = cachework.Store(url).calls("typed")
    assert call.status == "succeeded" and call.result_size > 0 and call.owner is None


def test_a_claim_and_a_finish_each_write_one_time(url):
    """Each transaction stamps everything it writes with one time: SQLite's clock read once,
    PostgreSQL's ``now()`` (its transaction's start, written by the statements themselves)."""
    seen = {}

    @cachework.work(name="stamped", store=url)
    def f(day):
        (call,) = cachework.Store(url).calls("stamped")
        seen["created"], seen["beat"] = call.created_at, call.heartbeat_at
        time.sleep(0.01)
        return day

    before = dt.datetime.now(dt.timezone.utc)
    f("mon")
    (run,) = cachework.Store(url).history(work="stamped")
    (call,) = cachework.Store(url).calls("stamped")
    assert seen["created"] == seen["beat"] == run.started_at == call.created_at
    assert run.finished_at == call.finished_at
    assert run.finished_at - run.started_at >= dt.timedelta(seconds=0.01)
    assert abs(run.started_at - before) < dt.timedelta(seconds=5)  # one clock, this machine's


def test_history_limits_newest_first_and_refuses_bad_filters(url):
    @cachework.work(name="days", store=url)
    def f(day, n=0):
        return day

    for i in range(6):
        f(f"d{i}", n=i % 2)
    store = cachework.Store(url)
    assert [r.args["day"] for r in store.history(work="days", limit=3)] == ["d5", "d4", "d3"]
    # A values filter is matched row by row, so the limit counts matches, not rows read.
    assert [r.args["day"] for r in store.history(work="days", n=0, limit=2)] == ["d4", "d2"]
    assert len(store.history(work="days", limit=None)) == 6
    assert store.history(work="days", limit=0) == []
    for bad, message in [
        ({"status": "done"}, "status must be one of"),
        ({"limit": -1}, "limit must be a whole number"),
        ({"limit": 2.5}, "limit must be a whole number"),
        ({"since": "yesterday"}, "since must be a datetime or ISO-8601 text, not 'yesterday'"),
    ]:
        with pytest.raises(ValueError, match=message):
            store.history(**bad)


def test_a_hit_writes_nothing(sqlite_url, tmp_path):
    @cachework.work(name="quiet", store=sqlite_url)
    def f(x):
        return x

    f(1)
    files = [tmp_path / "store.db", tmp_path / "store.db-wal"]  # -shm holds read marks only
    before = {p: p.read_bytes() for p in files}
    watcher = sqlite3.connect(tmp_path / "store.db")
    version = watcher.execute("PRAGMA data_version").fetchall()
    for _ in range(500):
        assert f(1) == 1
    # data_version moves whenever another connection commits anything at all.
    assert watcher.execute("PRAGMA data_version").fetchall() == version
    assert {p: p.read_bytes() for p in files} == before

    def rows():
        return [
            watcher.execute(f"SELECT * FROM {t}").fetchall()
            for t in ("cachework_calls", "cachework_runs")
        ]

    snapshot = rows()
    run_script(
        f"""
        import cachework
        @cachework.work(name="quiet", store={sqlite_url!r})
        def f(x):
            raise AssertionError("must hit")
        assert f(1) == 1
        """
    )
    assert rows() == snapshot


def test_empty_file_is_upgraded(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    s = cachework.Store(path)
    assert s.lookup("w", "k") is None
    assert s.revision() == store_mod.SCHEMA_REVISION
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_downgrade_then_open_upgrades_again(url):
    @cachework.work(name="m", store=url)
    def f(x):
        return x

    f(1)
    s = cachework.Store(url)
    s.downgrade("base")
    assert s.revision() is None
    store_mod._registry.clear()
    again = cachework.Store(url)
    assert again.lookup("m", "k") is None
    assert again.revision() == store_mod.SCHEMA_REVISION


def test_four_processes_open_one_new_file_at_once(tmp_path):
    db = tmp_path / "new.db"
    code = f"""
    import sys, cachework
    @cachework.work(name="boot", store={str(db)!r})
    def f(i):
        return i * 10
    assert f(int(sys.argv[1])) == int(sys.argv[1]) * 10
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(i)], stderr=subprocess.PIPE, text=True
        )
        for i in range(4)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    s = cachework.Store(db)
    assert s.revision() == store_mod.SCHEMA_REVISION
    assert len(s.history(work="boot", limit=None)) >= 4


def test_newer_schema_is_refused(url):
    s = cachework.Store(url)
    s.lookup("w", "k")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cachework_alembic_version SET version_num = '9999'")
    engine.dispose()
    store_mod._registry.clear()
    with pytest.raises(StoreError, match="newer than this cachework"):
        cachework.Store(url).lookup("w", "k")


def test_another_applications_database_is_left_alone(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()

    @cachework.work(store=str(path))
    def f(x):
        return x

    assert f(2) == 2
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM users").fetchall() == [("ada",)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "cachework_calls", "cachework_runs", "cachework_alembic_version"} <= tables


def test_migrations_run_from_an_installed_wheel(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("cachework-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run_script(
        """
        import cachework, cachework._migrate as m
        print(cachework.__file__)
        print(m.script_location())
        @cachework.work(name="wheel", store="w.db")
        def f(x):
            return x + 1
        assert f(1) == 2
        print(cachework.Store("w.db").revision())
        """,
        env={"PYTHONPATH": str(target)},
        cwd=elsewhere,
    ).stdout.split()
    assert out[0].startswith(str(target)) and out[1].startswith(str(target))
    assert out[2] == store_mod.SCHEMA_REVISION


def test_a_cold_hit_imports_neither_sqlalchemy_nor_alembic(sqlite_url):
    """Nor ``logging`` or ``traceback`` (nobody could be listening before some code imports
    logging), nor what only a busy retry, a URL with a ``%`` or a SIGTERM needs. And it
    compiles no expression: a process's first ``compile()`` builds every AST type (~10 M
    instructions, what ``typing.NamedTuple`` paid to check its annotations)."""

    @cachework.work(name="cold", store=sqlite_url)
    def f(x):
        return x

    f(1)
    unneeded = ("sqlalchemy", "alembic", "rich", "cloudpickle", "logging", "traceback")
    unneeded += ("random", "urllib", "signal")
    # Nor typing (issue 19: its names used at run time are _typing's), nor the modules only
    # every= works, backfills and the calendar use.
    unneeded += ("typing",)
    modules = ("cachework._periods", "cachework._periodic", "cachework._calendar")
    out = run_script(
        f"""
        import builtins, sys
        def compile(source, filename, mode, *args, _compile=builtins.compile, **kwargs):
            # A module without its .pyc compiles as "exec"; typing's annotations as "eval".
            assert mode == "exec", f"compiled {{source!r}}"
            return _compile(source, filename, mode, *args, **kwargs)
        builtins.compile = compile
        import cachework
        @cachework.work(name="cold", store={sqlite_url!r})
        def f(x):
            raise AssertionError("must hit")
        assert f(1) == 1
        heavy = sorted(
            m for m in sys.modules if m.split(".")[0] in {unneeded!r} or m in {modules!r}
        )
        print(heavy)
        """
    ).stdout.strip()
    assert out == "[]"


def test_a_cold_hit_of_an_every_work_imports_no_typing_nor_sqlalchemy(sqlite_url):
    """A daily job's process: it loads the period modules, and still neither ``typing``
    (issue 19) nor SQLAlchemy."""

    @cachework.work(name="daily", store=sqlite_url, every="day", tz="UTC")
    def f(x):
        return x

    f(1)
    out = run_script(
        f"""
        import sys, cachework
        @cachework.work(name="daily", store={sqlite_url!r}, every="day", tz="UTC")
        def f(x):
            raise AssertionError("must hit")
        assert f(1) == 1
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("typing", "sqlalchemy")))
        """
    ).stdout.strip()
    assert out == "[]"


def test_records_reach_a_logger_the_program_configures(sqlite_url):
    """The library takes its logger at first use (a cold hit imports no ``logging``); a
    program that configures logging, before or after importing cachework, gets every record
    as before: here the hit's debug record and a run's info records."""
    out = run_script(
        f"""
        import cachework, logging
        logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
        @cachework.work(name="quiet", store={sqlite_url!r})
        def f(x):
            return x
        f(1)  # runs
        f(1)  # hits
        """
    ).stderr
    assert "cachework DEBUG hit quiet" in out
    assert "cachework INFO running quiet" in out and "cachework INFO succeeded quiet" in out


def test_history_since_honours_the_zone_it_is_given(url):
    @cachework.work(name="zones", store=url)
    def f(x):
        return x

    f(1)
    now = dt.datetime.now(dt.timezone.utc)
    ahead = dt.timezone(dt.timedelta(hours=5))
    # The same instant written in another zone: one minute ago still finds the run...
    assert (
        len(
            cachework.Store(url).history(
                work="zones", since=(now - dt.timedelta(minutes=1)).astimezone(ahead)
            )
        )
        == 1
    )
    # ...and one minute from now does not, though its wall-clock fields are 5 h later.
    assert (
        cachework.Store(url).history(
            work="zones", since=(now + dt.timedelta(minutes=1)).astimezone(ahead)
        )
        == []
    )
    behind = dt.timezone(dt.timedelta(hours=-5))
    assert (
        cachework.Store(url).history(
            work="zones", since=(now + dt.timedelta(minutes=1)).astimezone(behind)
        )
        == []
    )


def test_a_claim_told_absent_still_meets_an_entry_made_meanwhile(url):
    """A miss claims by inserting at once; an entry that appeared since its lookup wins."""
    import pickle

    @cachework.work(name="race", store=url)
    def f(x):
        return x * 2

    f(1)
    s = cachework.Store(url)
    hit = s.claim("race", f.key(1), "{}", cached=True, accept_hit=True, lease=60, absent=True)
    assert not isinstance(hit, (Claim, Busy)) and pickle.loads(hit.result) == 2

    key = f.key(2)
    mine = s.claim("race", key, "{}", cached=True, accept_hit=True, lease=60, absent=True)
    assert isinstance(mine, Claim)
    again = s.claim("race", key, "{}", cached=True, accept_hit=True, lease=60, absent=True)
    assert isinstance(again, Busy)
    mine.release("test")
    # The insert the busy claim undid left no history row behind.
    assert [r.status for r in s.history(work="race", key=key)] == ["interrupted"]
    assert [r.status for r in s.history(work="race", key=f.key(1))] == ["succeeded"]


def test_claiming_an_existing_entry_clears_what_its_last_run_left(url):
    """A re-run takes the entry over: while it runs, the old result, state, finish and
    expiry are gone and the owner is this process; its finish clears the owner again."""
    s = cachework.Store(url)
    one = s.claim("again", "k", "{}", cached=True, accept_hit=True, lease=60)
    assert isinstance(one, Claim)
    one.finish(Outcome("succeeded", 0.1, result=b"old", state=b"st", ttl_s=3600))
    (done,) = s.calls("again")
    assert done.result_size == 3 and done.finished_at and done.expires_at and not done.owner

    two = s.claim("again", "k", "{}", cached=True, accept_hit=False, lease=60)
    assert isinstance(two, Claim) and two.run_id != one.run_id
    (running,) = s.calls("again")
    assert running.status == "running" and running.owner and running.heartbeat_at
    assert (running.result_size, running.finished_at, running.expires_at) == (None, None, None)

    two.finish(Outcome("failed", 0.1, error_type="E"))
    (failed,) = s.calls("again")
    assert failed.status == "failed" and failed.finished_at and failed.expires_at is None
    assert (failed.owner, failed.heartbeat_at) == (None, None)
    assert [r.status for r in s.history(work="again")] == ["failed", "succeeded"]


def test_timestamps_keep_time_order_across_seconds():
    """utc_text formats each whole second once; times around many seconds still read back."""
    backend = _backends.SQLiteBackend("sqlite://", ":memory:")
    base = 1_795_615_738.0
    times = sorted(
        base + k + f for k in (-1, 0, 1, 2, 86_400) for f in (0.0, 0.000001, 0.5, 0.999999)
    )
    # Format them jumping from second to second, so the cached second keeps changing.
    formatted = {t: _backends.utc_text(t) for t in sorted(times, key=lambda t: t % 1)}
    texts = [formatted[t] for t in times]
    assert texts == sorted(texts)
    for t, text in zip(times, texts, strict=True):
        assert abs(backend.epoch(text) - t) < 2e-6
        second = dt.datetime.fromtimestamp(int(t), dt.timezone.utc)
        assert text[:19] == second.strftime("%Y-%m-%dT%H:%M:%S")


def test_records_name_the_columns_their_statements_read():
    """Rows leave the driver as records; a record's fields are its statement's columns."""
    from cachework._records import Held, Hit, Stored

    assert Hit._fields == tuple(c.name for c in _sql.HIT_COLUMNS)
    assert Stored._fields == tuple(c.name for c in _sql.LOOKUP_COLUMNS)
    assert Held._fields == tuple(c.name for c in _sql.CLAIM_COLUMNS)


def test_a_record_is_what_typing_namedtuple_makes():
    """``_typing.NamedTuple`` builds records without compiling their annotations; what it
    makes behaves as ``typing.NamedTuple``'s class of the same body."""
    import pickle
    import typing

    from cachework import _typing

    def body(base):
        class Point(base):
            """A point."""

            x: int
            y: int = 0
            label: str | None = None

            @property
            def norm(self) -> int:
                return abs(self.x) + abs(self.y)

            def moved(self, dx: int) -> Point:
                return self._replace(x=self.x + dx)

        return Point

    ours, theirs = body(_typing.NamedTuple), body(typing.NamedTuple)
    for attr in ("_fields", "_field_defaults", "__doc__", "__module__", "__qualname__"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert ours.__mro__[1:] == theirs.__mro__[1:] == (tuple, object)
    assert ours.__annotations__ == {"x": "int", "y": "int", "label": "str | None"}
    p, q = ours(3, label="a"), theirs(3, label="a")
    assert p == q == (3, 0, "a") and repr(p) == repr(q) and p.norm == q.norm == 3
    assert p.moved(1) == ours._make((4, 0, "a")) and p._asdict() == q._asdict()
    (x, y, label) = p
    assert (x, y, label) == (3, 0, "a")
    run = cachework.Run(
        1, "w", "k", {}, "succeeded", dt.datetime.now(), None, None, None, None, None, "h", 1, False
    )
    assert pickle.loads(pickle.dumps(run)) == run and run.reason is None
    with pytest.raises(TypeError, match="without a default follows one with"):

        class Bad(_typing.NamedTuple):
            x: int = 0
            y: int

    with pytest.raises(AttributeError, match="cannot overwrite NamedTuple attribute _make"):

        class Worse(_typing.NamedTuple):
            x: int

            def _make(self) -> None: ...


def test_a_claim_carries_its_call_and_owns_its_heartbeat(url):
    """The handle knows its call; it is in the heartbeats from the claim to its finish or
    release, and leaving ``with claim`` without either hands the call to the next caller."""
    import pickle

    from cachework._heartbeat import heartbeats

    s = cachework.Store(url)
    one = s.claim("handle", "k1", "{}", cached=True, accept_hit=True, lease=60)
    assert isinstance(one, Claim) and (one.store, one.work, one.key) == (s, "handle", "k1")
    assert one.reason == "new" and heartbeats.owns(one.run_id)
    assert one.finish(Outcome("succeeded", 0.1, result=pickle.dumps(1))) is True
    assert not heartbeats.owns(one.run_id)
    entry = s.lookup("handle", "k1")
    assert entry is not None and entry.status == "succeeded" and s.is_fresh(entry)

    two = s.claim("handle", "k2", "{}", cached=True, accept_hit=True, lease=60)
    assert isinstance(two, Claim) and heartbeats.owns(two.run_id)
    two.release("test")
    assert not heartbeats.owns(two.run_id) and s.lookup("handle", "k2") is None

    three = s.claim("handle", "k3", "{}", cached=True, accept_hit=True, lease=60)
    assert isinstance(three, Claim)
    with three:
        assert isinstance(
            s.claim("handle", "k3", "{}", cached=True, accept_hit=True, lease=60), Busy
        )
    taker = s.claim("handle", "k3", "{}", cached=True, accept_hit=True, lease=60)
    assert isinstance(taker, Claim) and taker.reason.startswith("taking over")
    taker.finish(Outcome("failed", 0.1, error_type="E"))
    statuses = {r.key: r.status for r in reversed(s.history("handle"))}
    assert statuses == {"k1": "succeeded", "k2": "interrupted", "k3": "failed"}


def test_forget_all_clears_one_work_as_forgets_error_recommends(url):
    """``forget`` with nothing to match names ``forget_all``: it removes every finished
    call of that work, and only of that work; the history stays."""

    @cachework.work(name="all.a", store=url)
    def a(x):
        return x

    @cachework.work(name="all.b", store=url)
    def b(x):
        return x

    for x in range(3):
        a(x)
    b(1)
    s = cachework.Store(url)
    with pytest.raises(ValueError, match="forget_all"):
        s.forget("all.a")
    assert s.forget_all("all.a") == 3
    assert s.calls("all.a") == [] and [c.key for c in s.calls("all.b")] == [b.key(1)]
    assert len(s.history("all.a")) == 3


def test_hits_on_one_cursor_leave_no_read_open(tmp_path):
    """A thread's hits share one cursor; each must end its read as it returns. A read left
    open would pin this connection to an old snapshot: another process's forget unseen, and
    the WAL never checkpointed past it."""
    db = tmp_path / "cursor.db"
    ran = []

    @cachework.work(name="cursor", store=str(db))
    def f(x: int) -> int:
        ran.append(x)
        return x

    assert [f(1), f(1), f(2), f(2)] == [1, 1, 2, 2]  # runs, then hits on the shared cursor
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("DELETE FROM cachework_calls WHERE work = 'cursor'")
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0  # no reader held a snapshot
    finally:
        other.close()
    assert f(1) == 1 and f(2) == 2
    assert ran == [1, 2, 1, 2]  # the delete was seen at once


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_hits_through_its_parents_connection(tmp_path):
    """The child's first store call may be a write (a refresh): the new connection it opens
    must also take over the hits' cursor, never left on the parent's connection."""

    @cachework.work(name="forked", store=str(tmp_path / "s.db"))
    def g(x):
        return x

    g(1)
    g(1)  # a hit: this thread's cursor for hits is made
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if every hit used the child's own connection
        ok = False
        try:
            g.refresh(2)
            g(1)
            local = g.store._backend._local
            ok = local.hits.connection is local.conn
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_hit_is_served_exactly_where_the_freshness_rules_allow(url):
    """The hit's statement holds ``Claims._stale``'s rules but expiry in its SQL, so that a
    hit reads three columns: for every state a call can be in, it must offer a result
    exactly where the full lookup calls the call fresh, never elsewhere."""
    import sqlalchemy as sa

    store = cachework.Store(url)

    @cachework.work(name="w", store=store)
    def f(x: int) -> int:
        return x

    @cachework.work(name="short", store=store, ttl=0.05)
    def short(x: int) -> int:
        return x

    @cachework.work(name="long", store=store, ttl=3600)
    def long_(x: int) -> int:
        return x

    changes = {
        "as stored": {},
        "failed": {"status": "failed", "result": None},
        "running": {"status": "running"},
        "not cached": {"cached": False},
        "another key scheme": {"key_scheme": 1},
    }
    calls = {what: ("w", f.key(i)) for i, what in enumerate(changes)}
    for i in range(len(changes)):
        f(i)
    short(0)
    long_(0)
    calls["expired"] = ("short", short.key(0))
    calls["expires later"] = ("long", long_.key(0))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for what, values in changes.items():
                if values:
                    conn.execute(
                        sa.update(schema.calls)
                        .where(schema.calls.c.key == calls[what][1])
                        .values(**values)
                    )
    finally:
        engine.dispose()
    time.sleep(0.1)  # past short's time to live
    served = {}
    for what, (work, key) in calls.items():
        hit = store.hit(work, key)
        assert hit is not None  # an existing call always gives a row: a miss then claims at once
        served[what] = hit.result is not None and not store._expired(hit)
        assert served[what] == store.is_fresh(store.lookup(work, key)), what
    assert served == {**dict.fromkeys(calls, False), "as stored": True, "expires later": True}
    assert store.hit("w", f.key(99)) is None
