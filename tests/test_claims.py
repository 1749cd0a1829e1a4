"""Claims held against takeovers, forgets and many threads; what the store writes (issue 14)."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import cachework

HERE = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this tree first on the path, like the tests."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def _lines(out: Path) -> list[str]:
    return out.read_text().splitlines() if out.exists() else []


def _wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# A run that holds the GIL: ctypes.PyDLL calls C without releasing it, so the process's
# heartbeat thread cannot run for those seconds, exactly like a long numeric C routine.
GIL_OWNER = """
    import ctypes, logging, os, sys
    import cachework

    logging.basicConfig(level=logging.WARNING)

    url, out, hold_s = sys.argv[1], sys.argv[2], int(sys.argv[3])

    @cachework.work(name="gil", store=url, lease=1)
    def compute(x):
        with open(out, "a") as f:
            f.write(f"start {os.getpid()}\\n")
        ctypes.PyDLL(None).sleep(int(hold_s))  # libc sleep(3), seconds
        return f"value of {os.getpid()}"

    print(compute(1), flush=True)
"""


def _start_gil_owner(url: str, out: Path, hold_s: float, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(GIL_OWNER), url, str(out), str(hold_s)],
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_heartbeat_lapses(url: str, work: str, lease: float) -> None:
    """Wait until the running entry's heartbeat is older than its lease (the owner is silent)."""
    store = cachework.Store(url)

    def lapsed() -> bool:
        calls = store.calls(work)
        if not calls or calls[0].status != "running" or calls[0].heartbeat_at is None:
            return False
        return time.time() - calls[0].heartbeat_at.timestamp() > lease * 1.5

    try:
        _wait_for(lapsed, "the owner's heartbeat to lapse")
    finally:
        store.close()


def _call_once_the_owner_is_silent(
    url: str, out: Path, hold_s: float, result: str, **env: str
) -> tuple[subprocess.Popen[str], str, str, Any, Any]:
    """Start a GIL-holding owner of ``gil(1)``; once its heartbeat has lapsed, call ``gil(1)``
    here with a run that returns ``result`` (``{pid}``: this process's). Returns the owner
    (finished), its stdout and stderr, what the call here returned, and the work."""
    owner = _start_gil_owner(url, out, hold_s, **env)
    try:
        _wait_for(lambda: _lines(out), "the owner to start")
        _wait_until_heartbeat_lapses(url, "gil", lease=1)

        @cachework.work(name="gil", store=url, lease=1)
        def compute(x):
            with open(out, "a") as f:
                f.write(f"start {os.getpid()}\n")
            return result.format(pid=os.getpid())

        got = compute(1)
        stdout, stderr = owner.communicate(timeout=60)
    finally:
        if owner.poll() is None:
            owner.kill()
    return owner, stdout, stderr, got, compute


def test_a_live_owner_on_this_host_is_never_taken_over_even_when_its_heartbeat_lapses(
    url, tmp_path
):
    out = tmp_path / "runs.txt"
    # The call waits for the owner, whose process is alive.
    owner, stdout, stderr, got, _ = _call_once_the_owner_is_silent(url, out, 5, "value of {pid}")
    assert owner.returncode == 0, stderr
    assert _lines(out) == [f"start {owner.pid}"]  # exactly one execution
    assert got == stdout.strip() == f"value of {owner.pid}"
    runs = cachework.Store(url).history("gil")
    assert [r.status for r in runs] == ["succeeded"]


def test_a_late_finish_after_a_takeover_keeps_the_takers_entry_and_the_interrupted_run(
    url, tmp_path
):
    # An owner on another host is judged by its heartbeat alone: silent past its lease, it
    # is taken over. When it finishes after all, it must not overwrite what the taker did.
    out = tmp_path / "runs.txt"
    owner, stdout, stderr, got, compute = _call_once_the_owner_is_silent(
        url, out, 4, "value of the taker", CACHEWORK_HOST="elsewhere"
    )
    assert got == "value of the taker"
    assert owner.returncode == 0, stderr
    assert stdout.strip() == f"value of {owner.pid}"  # the late caller keeps its own value
    assert "no longer owned the call" in stderr
    store = cachework.Store(url)
    late, taker = sorted(store.history("gil"), key=lambda r: r.id)
    assert (late.host, late.status) == ("elsewhere", "interrupted")
    assert "taken over" in late.error
    assert taker.status == "succeeded"
    (entry,) = store.calls("gil")
    assert store.result("gil", entry.key) == "value of the taker"
    assert compute(1) == "value of the taker"  # a hit, not a third run
    assert len(_lines(out)) == 2


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (apt faketime)")
def test_a_caller_whose_clock_runs_ahead_does_not_take_over_a_live_owner(sqlite_url, tmp_path):
    # On SQLite each process stamps heartbeats with its own clock: a caller 120 s ahead sees
    # every heartbeat 120 s old. The owner's process is alive, so it must wait all the same.
    out = tmp_path / "runs.txt"
    started = tmp_path / "started"
    code = """
        import logging, os, sys, time
        import cachework

        logging.basicConfig(level=logging.INFO)

        url, out, started, hold = sys.argv[1:5]

        @cachework.work(name="clock", store=url, lease=2)
        def compute(x):
            with open(out, "a") as f:
                f.write(f"start {os.getpid()}\\n")
            open(started, "w").close()
            if hold == "hold":
                while not os.path.exists(started + ".go"):
                    time.sleep(0.01)
            return f"value of {os.getpid()}"

        print(compute(1), flush=True)
    """
    argv = [sys.executable, "-c", textwrap.dedent(code), sqlite_url, str(out), str(started)]
    owner = subprocess.Popen([*argv, "hold"], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        _wait_for(started.exists, "the owner to start")
        log = tmp_path / "ahead.log"
        with open(log, "w") as err:
            ahead = subprocess.Popen(
                ["faketime", "-f", "+120s", *argv, "wait"],
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        # Either it waits for the owner (and says so), or it took the call over and ran it.
        _wait_for(
            lambda: "waiting for clock" in log.read_text() or len(_lines(out)) > 1,
            "the caller ahead to claim",
        )
        Path(str(started) + ".go").touch()
        ahead_out, _ = ahead.communicate(timeout=60)
        owner_out, _ = owner.communicate(timeout=60)
    finally:
        for p in (owner, ahead):
            if p.poll() is None:
                p.kill()
    assert _lines(out) == [f"start {owner.pid}"]
    assert ahead_out.strip() == owner_out.strip() == f"value of {owner.pid}"
    assert [r.status for r in cachework.Store(sqlite_url).history("clock")] == ["succeeded"]


# -- forgetting a running entry -------------------------------------------------------------


class _Held:
    """A work whose calls block until released, counting executions and overlaps."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.release = threading.Event()
        self.started = threading.Event()
        self.lock = threading.Lock()
        self.running = self.runs = self.overlap = 0

    def make(self, **options):
        """A new work object each time: one per thread, as separate callers would have."""

        @cachework.work(name="held", store=self.url, **options)
        def f(x):
            with self.lock:
                self.running += 1
                self.runs += 1
                self.overlap = max(self.overlap, self.running)
                n = self.runs
            self.started.set()
            self.release.wait(60)
            with self.lock:
                self.running -= 1
            return f"run {n}"

        return f

    def start(self) -> tuple[threading.Thread, list]:
        got: list = []
        t = threading.Thread(target=lambda: got.append(self.make()(1)))
        t.start()
        assert self.started.wait(60)
        return t, got


def test_forget_leaves_a_running_entry_alone_and_its_result_is_recorded(url):
    held = _Held(url)
    owner, got = held.start()
    store = cachework.Store(url)
    key = held.make().key(1)
    assert store.forget("held", key=key) == 0
    assert store.forget("held", x=1) == 0
    assert store.forget_all("held") == 0
    assert [c.status for c in store.calls("held")] == ["running"]
    with pytest.raises(cachework.AlreadyRunning):
        held.make(on_running="raise")(1)  # nobody may run it meanwhile
    held.release.set()
    owner.join(60)
    assert got == ["run 1"]
    assert [c.status for c in store.calls("held")] == ["succeeded"]
    assert held.make()(1) == "run 1"  # the owner's result was recorded: a hit
    assert held.runs == 1
    assert store.forget("held", key=key) == 1  # a finished entry is forgotten as before


def test_forget_force_lets_the_run_finish_then_the_next_call_runs_again(url):
    held = _Held(url)
    owner, got = held.start()
    store = cachework.Store(url)
    assert store.forget("held", x=1, force=True) == 1
    waiter_got: list = []
    waiter = threading.Thread(target=lambda: waiter_got.append(held.make()(1)))
    waiter.start()  # waits for the owner, then runs again: the result it waited for is forgotten
    held.release.set()
    owner.join(60)
    waiter.join(60)
    assert got == ["run 1"]  # the owner's caller gets its own value
    assert waiter_got == ["run 2"]
    assert held.overlap == 1  # never two at once
    assert held.make()(1) == "run 2"  # and now it is a hit
    assert held.runs == 2
    assert [r.status for r in store.history("held")] == ["succeeded", "succeeded"]


def test_cli_forget_names_running_entries_it_left_and_force_marks_them(url):
    from click.testing import CliRunner

    from cachework._cli import cli

    held = _Held(url)
    owner, got = held.start()
    r = CliRunner().invoke(cli, ["--url", url, "forget", "held", "--all", "--yes"])
    assert r.exit_code == 0, r.output
    assert "forgot 0 calls" in r.output and "left 1 call running alone" in r.output
    r = CliRunner().invoke(cli, ["--url", url, "forget", "held", "--all", "--yes", "--force"])
    assert r.exit_code == 0, r.output
    assert "forgot 1 call" in r.output
    held.release.set()
    owner.join(60)
    assert held.make()(1) == "run 2"


# -- many threads on one store --------------------------------------------------------------


def test_sixty_four_threads_share_a_store_each_key_runs_once(url):
    # Each thread has its own work object, as separate callers would; they share the store
    # (and on PostgreSQL its connections, which no thread may keep for itself).
    ran: dict[object, int] = {}
    lock = threading.Lock()
    barrier, done = threading.Barrier(64), threading.Barrier(64)
    errors: list[BaseException] = []

    def caller(i: int) -> None:
        @cachework.work(name="threads", store=url)
        def f(x):
            with lock:
                ran[x] = ran.get(x, 0) + 1
            if x == "shared":
                time.sleep(0.2)  # the other 63 wait for it meanwhile
            return repr(x)

        try:
            barrier.wait(60)
            for x in ["shared", *[(i, j) for j in range(3)]]:
                assert f(x) == repr(x)
        except BaseException as e:
            errors.append(e)
        finally:
            done.wait(300)  # long-lived threads: none leaves (and frees anything) early

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    assert ran == {"shared": 1, **{(i, j): 1 for i in range(64) for j in range(3)}}
    assert len(cachework.Store(url).calls("threads")) == 1 + 64 * 3


# -- the SQLite WAL after a long reader -----------------------------------------------------


def test_the_wal_shrinks_back_under_its_limit_once_a_long_reader_closes(sqlite_url, tmp_path):
    limit = 64 * 2**20  # the bound the README gives
    path = str(tmp_path / "store.db")
    wal = path + "-wal"

    @cachework.work(name="wal", store=sqlite_url)
    def f(x):
        return x

    f(-1)
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM cachework_runs").fetchone()  # holds its snapshot
    i = 0
    while os.path.getsize(wal) <= limit:  # ~2,700 misses: checkpoints cannot pass the reader
        f(i)
        i += 1
        assert i < 50_000, "the WAL never grew past the limit"
    reader.close()
    for j in range(5):  # the next checkpoint copies it all; the writer after it truncates
        f(-2 - j)
        if os.path.getsize(wal) <= limit:
            break
    assert os.path.getsize(wal) <= limit
    assert f(0) == 0 and f(i - 1) == i - 1  # all still there


# -- why a call runs, at any history length -------------------------------------------------


def _fill_history(url: str, work: str, n: int) -> None:
    """``n`` finished runs of ``work`` with distinct args, written straight into the table."""
    import datetime as dt
    import json

    import sqlalchemy as sa

    from cachework.schema import runs

    now = dt.datetime.now(dt.timezone.utc)
    pg = url.startswith("postgresql")
    rows = [
        {
            "work": work,
            "key": f"{i + int(now.timestamp() * 1000):032x}",
            "args": {"x": f"filler {i}"} if pg else json.dumps({"x": f"filler {i}"}),
            "status": "succeeded",
            "started_at": now,
            "host": "h",
            "pid": 1,
            "cached": True,
        }
        for i in range(n)
    ]
    engine = cachework.Store(url)._engine()
    with engine.begin() as conn:
        conn.execute(sa.insert(runs), rows)


def _cost_of_why(url: str, store: cachework.Store, args_key: str) -> int:
    """How much work the "new version" question does: SQLite VM steps, PostgreSQL rows."""
    text, fixed, values = store._backend.sql("same_args")
    params = {**fixed, "work": "flat", "key": "0" * 32, "args_key": args_key}
    if url.startswith("sqlite"):
        conn = store._backend.connection()
        steps = [0]

        def step() -> int:
            steps[0] += 1
            return 0

        conn.set_progress_handler(step, 1)
        try:
            conn.execute(text, values(params)).fetchone()
        finally:
            conn.set_progress_handler(None, 1)
        return steps[0]
    import re

    plan = store._backend._lend(lambda c: c.execute("EXPLAIN ANALYZE " + text, params).fetchall())
    # The rows each node produced: the scan of cachework_runs is bounded by its LIMIT.
    return max(int(n) for (line,) in plan for n in re.findall(r"actual time=\S+ rows=(\d+)", line))


def test_why_a_call_runs_stays_flat_and_still_says_new_version(url, caplog):
    from cachework._sql import RECENT_RUNS

    def make(version):
        @cachework.work(name="flat", store=url, version=version)
        def f(x):
            return x

        return f

    store = make(1).store
    make(1)(0)
    _fill_history(url, "flat", RECENT_RUNS + 500)
    short = _cost_of_why(url, store, "1" * 32)
    _fill_history(url, "flat", 4 * RECENT_RUNS)
    long = _cost_of_why(url, store, "1" * 32)
    # Bounded by the window, not by the history's length (the old question visited every
    # run of the work: 4x the steps here). On PostgreSQL the latest runs come from the
    # primary key, backwards; only a table too small to matter may be read whole.
    if url.startswith("sqlite"):
        assert long <= short * 1.05
    else:
        assert long <= RECENT_RUNS
    make(2)(7)
    with caplog.at_level(logging.INFO, logger="cachework"):
        make(3)(7)  # a recent version change, 5,500 runs into the history
    assert "new version" in caplog.text


# -- text the store writes ------------------------------------------------------------------


class Odd(Exception):
    pass


Odd.__qualname__ = "Odd\udce9Error"  # a name Python takes and UTF-8 does not


@pytest.mark.parametrize(
    ("error", "stored_type", "stored"),
    [
        (ValueError(os.fsdecode(b"caf\xe9.csv")), "ValueError", "caf\\udce9.csv"),
        (ValueError("a\x00b"), "ValueError", "a\\x00b"),
        (Odd("plain"), "Odd\\udce9Error", "plain"),
    ],
    ids=["lone-surrogate", "nul", "surrogate-in-type"],
)
def test_a_failure_with_text_no_database_takes_is_recorded_failed_with_its_traceback(
    url, error, stored_type, stored
):
    @cachework.work(name="text", store=url)
    def f(x):
        raise error

    with pytest.raises(type(error)) as raised:
        f(1)
    assert raised.value is error  # the caller gets its own exception, untouched
    (run,) = cachework.Store(url).history("text")
    assert run.status == "failed"
    assert (run.error_type, run.error) == (stored_type, stored)
    assert stored in run.traceback and "raise error" in run.traceback
    assert [c.status for c in cachework.Store(url).calls("text")] == ["failed"]


def test_a_host_name_no_database_takes_is_stored_escaped(url, monkeypatch):
    monkeypatch.setenv("CACHEWORK_HOST", os.fsdecode(b"h\xf4te"))

    @cachework.work(name="host", store=cachework.Store(url))
    def f(x):
        return x

    assert f(1) == 1
    (run,) = cachework.Store(url).history("host")
    assert (run.status, run.host) == ("succeeded", "h\\udcf4te")
