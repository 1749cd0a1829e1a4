"""Exactly once under concurrency and crashes, with real processes and real signals."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from conftest import run_script

import cachework
from cachework import AlreadyRunning

WORKERS = str(Path(__file__).with_name("workers.py"))


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKERS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(p: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return out


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_eight_processes_one_key_run_once_and_agree(url, tmp_path):
    out = tmp_path / "runs.txt"
    start_at = str(time.time() + 1.5)
    procs = [spawn("same_key", url, str(out), start_at, "0.5") for _ in range(8)]
    values = {finish(p) for p in procs}
    assert len(lines(out)) == 1
    assert len(values) == 1
    assert json.loads(values.pop())["x"] == 7


def test_eight_processes_overlapping_keys_each_key_runs_once(url, tmp_path):
    out = tmp_path / "runs.txt"
    start_at = str(time.time() + 2.0)
    # process i calls keys 100*i .. 100*i+299: every key is wanted by up to three processes
    procs = [spawn("many_keys", url, str(out), start_at, str(100 * i), "300") for i in range(8)]
    for p in procs:
        finish(p, timeout=300)
    ran = lines(out)
    assert sorted(map(int, ran)) == list(range(1000))
    runs = cachework.Store(url).history(work="many", limit=None)
    assert len(runs) == 1000 and {r.status for r in runs} == {"succeeded"}


def test_sixteen_threads_one_key_run_once(url):
    ran = []
    lock = threading.Lock()

    @cachework.work(name="threads", store=url)
    def f(x):
        with lock:
            ran.append(x)
        time.sleep(0.3)
        return x * 3

    barrier = threading.Barrier(16)
    results = []

    def call():
        barrier.wait()
        results.append(f(5))

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert ran == [5] and results == [15] * 16


def _status_of(url: str, work: str) -> list[str]:
    return [r.status for r in cachework.Store(url).history(work=work, limit=None)]


def test_killed_run_is_taken_over_at_once_on_this_host(url, tmp_path):
    out = tmp_path / "runs.txt"
    victim = spawn("hold", url, str(out), "k", "60")
    wait_for(lambda: len(lines(out)) == 1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    t0 = time.monotonic()
    survivor = spawn("hold", url, str(out), "k", "0")
    assert finish(survivor).startswith("done by")
    assert time.monotonic() - t0 < 30  # not the 60 s lease: the dead pid was seen at once
    assert _status_of(url, "hold") == ["succeeded", "interrupted"]
    (interrupted,) = cachework.Store(url).history(work="hold", status="interrupted")
    assert f"{victim.pid}" in interrupted.error


def test_other_hosts_owner_is_taken_over_only_after_its_lease(url, tmp_path):
    out = tmp_path / "runs.txt"
    lease = {"CACHEWORK_LEASE": "3"}
    victim = spawn("hold", url, str(out), "k", "60", env={"CACHEWORK_HOST": "host-a", **lease})
    wait_for(lambda: len(lines(out)) == 1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = time.monotonic()
    env = {"CACHEWORK_HOST": "host-b", **lease}
    # Within the lease, host-b must not take over: its pid check does not apply to host-a.
    early = subprocess.run(
        [sys.executable, "-c", _RAISE_IF_RUNNING.format(url=url)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "AlreadyRunning" in early.stdout, early.stderr
    assert time.monotonic() - killed_at < 3
    later = spawn("hold", url, str(out), "k", "0", env=env)
    assert finish(later).startswith("done by")
    assert time.monotonic() - killed_at >= 3
    assert _status_of(url, "hold") == ["succeeded", "interrupted"]


_RAISE_IF_RUNNING = """
import cachework
@cachework.work(name="hold", store={url!r}, on_running="raise")
def long_call(k):
    raise AssertionError("must not run")
try:
    long_call("k")
except cachework.AlreadyRunning as e:
    print("AlreadyRunning", e)
"""


def test_kill_during_a_burst_loses_nothing_that_returned(sqlite_url, tmp_path):
    out = tmp_path / "returned.txt"
    p = spawn("burst", sqlite_url, str(out), "1000")
    wait_for(lambda: len(lines(out)) >= 150, timeout=120)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    returned = [int(x) for x in lines(out)]
    path = sqlite_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    done = {
        json.loads(a)["i"]
        for (a,) in conn.execute(
            "SELECT args FROM cachework_calls WHERE work='burst' AND status='succeeded'"
        )
    }
    assert set(returned) <= done
    conn.close()
    # The next start cleans up: the run the kill interrupted (if any) is taken over.
    again = spawn("burst", sqlite_url, str(tmp_path / "again.txt"), "1000")
    finish(again)
    store = cachework.Store(sqlite_url)
    assert {c.status for c in store.calls("burst")} == {"succeeded"}
    assert len(store.calls("burst")) == 1000


def test_sigterm_releases_the_claim_and_records_interrupted(url, tmp_path):
    out = tmp_path / "runs.txt"
    p = spawn("hold", url, str(out), "k", "60")
    wait_for(lambda: len(lines(out)) == 1)
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    assert p.returncode == -signal.SIGTERM  # the signal carried on as usual
    assert _status_of(url, "hold") == ["interrupted"]
    assert cachework.Store(url).calls("hold") == []
    finish(spawn("hold", url, str(out), "k", "0"))
    assert _status_of(url, "hold") == ["succeeded", "interrupted"]


def test_keyboard_interrupt_releases_the_claim(url):
    @cachework.work(name="ctrl_c", store=url)
    def f(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        f(1)
    assert _status_of(url, "ctrl_c") == ["interrupted"]
    assert cachework.Store(url).calls("ctrl_c") == []


def test_on_running_skip_raise_and_wait_timeout(url, tmp_path):
    out = tmp_path / "runs.txt"
    owner = spawn("hold", url, str(out), "k", "3")
    wait_for(lambda: len(lines(out)) == 1)

    def make(**options):
        @cachework.work(name="hold", store=url, **options)
        def long_call(k):
            raise AssertionError("must not run while the owner lives")

        return long_call

    assert make(on_running="skip")("k") is None
    with pytest.raises(AlreadyRunning, match="running in"):
        make(on_running="raise")("k")
    t0 = time.monotonic()
    with pytest.raises(AlreadyRunning, match="after 0.3 s"):
        make(wait_timeout=0.3)("k")
    assert time.monotonic() - t0 < 2.5
    waited = make()("k")  # the default waits, then hits the owner's result
    assert waited == f"done by {owner.pid}"
    finish(owner)


def test_a_waiter_runs_the_call_itself_when_the_owner_fails(url, tmp_path):
    out = tmp_path / "runs.txt"
    owner = spawn("hold", url, str(out), "k", "1", "fail")
    wait_for(lambda: len(lines(out)) == 1)
    waiter = spawn("hold", url, str(out), "k", "0")
    assert finish(waiter).strip() == f"done by {waiter.pid}"
    owner.communicate(timeout=60)
    assert owner.returncode == 1
    assert _status_of(url, "hold") == ["succeeded", "failed"]


def test_a_forked_child_claims_as_itself(url):
    """The process id is cached (a miss would ask for it six times); a fork must renew it."""
    from cachework import _owner

    @cachework.work(name="forked", store=url)
    def f(x):
        return os.getpid()

    assert f(0) == os.getpid()  # the parent has its connection and its pid cached
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            ok = f(1) == os.getpid() == _owner.pid()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (run,) = cachework.Store(url).history(work="forked", x=1)
    assert run.pid == child and run.status == "succeeded"
    assert f(1) == child  # a hit, served to the parent from the child's run


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _shared_work(url, started, release, ran, **options):
    """``shared``: its run of ``d1`` holds until ``release`` is set."""

    class Shared(cachework.Work):
        def run(self, day):
            ran.append(day)
            if day == "d1":
                started.set()
                assert release.wait(60)
            return f"{day} done"

    return Shared(name="shared", store=url, **options)


def test_threads_sharing_one_work_each_make_a_cached_call(url):
    started, release, ran = threading.Event(), threading.Event(), []
    shared = _shared_work(url, started, release, ran)
    assert shared.run("warm") == "warm done"
    log = _Collect()
    logging.getLogger("cachework").addHandler(log)
    logging.getLogger("cachework").setLevel(logging.INFO)
    try:
        results = []
        owner = threading.Thread(target=lambda: results.append(shared.run("d1")))
        owner.start()
        assert started.wait(30)

        def other():
            results.append(shared.run("d2"))
            results.append(shared.run("d1"))

        others = [threading.Thread(target=other) for _ in range(3)]
        for t in others:
            t.start()
        # The three others wait on the running d1 (or, wrongly, run it themselves).
        wait_for(
            lambda: (
                sum(m.startswith("waiting for shared") for m in log.messages) >= 3
                or ran.count("d1") > 1
            )
        )
    finally:
        release.set()
        for t in [owner, *others]:
            t.join(60)
        logging.getLogger("cachework").removeHandler(log)
        logging.getLogger("cachework").setLevel(logging.NOTSET)
    assert ran.count("d1") == 1 and ran.count("d2") == 1
    assert sorted(results) == ["d1 done"] * 4 + ["d2 done"] * 3
    runs = cachework.Store(url).history(work="shared", limit=None)
    assert sorted((r.args["day"], r.status) for r in runs) == [
        ("d1", "succeeded"),
        ("d2", "succeeded"),
        ("warm", "succeeded"),
    ]


def test_a_parallel_work_running_in_the_pool_still_caches_other_calls(url):
    started, release, ran = threading.Event(), threading.Event(), []
    shared = _shared_work(url, started, release, ran, parallel=True)
    first = shared.run("d1")
    try:
        assert started.wait(30)
        second = shared.run("d2")  # a Future like any call, not the raw run in this thread
        assert isinstance(second, Future) and second.result(30) == "d2 done"
        assert isinstance(shared.run("d2"), Future) and ran == ["d1", "d2"]
    finally:
        release.set()
    assert first.result(30) == "d1 done"
    assert _status_of(url, "shared") == ["succeeded", "succeeded"]


def test_super_run_inside_the_running_call_is_not_a_second_call(url):
    ran = []

    class Base(cachework.Work):
        def run(self, x):
            ran.append(("base", x))
            return x * 2

    class Child(Base):
        def run(self, x):
            ran.append(("child", x))
            return super().run(x) + 1

    child = Child(name="child", store=url)
    assert child.run(3) == 7 and child.run(3) == 7
    assert ran == [("child", 3), ("base", 3)]
    assert [r.args for r in cachework.Store(url).history(work="child")] == [{"x": 3}]


def test_a_sigterm_handler_installed_by_a_run_stays_after_it(sqlite_url):
    code = f"""
        import os, signal, cachework

        got = []

        def mine(signum, frame):
            got.append(signum)

        @cachework.work(store={sqlite_url!r})
        def installs(x):
            signal.signal(signal.SIGTERM, mine)
            return x

        @cachework.work(store={sqlite_url!r})
        def plain(x):
            assert signal.getsignal(signal.SIGTERM) is mine  # the program's: not armed over
            return x

        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        installs(1)
        assert signal.getsignal(signal.SIGTERM) is mine, signal.getsignal(signal.SIGTERM)
        plain(1)
        assert signal.getsignal(signal.SIGTERM) is mine
        os.kill(os.getpid(), signal.SIGTERM)
        print(got == [signal.SIGTERM], [r.status for r in cachework.Store({sqlite_url!r}).history()])
    """
    out = run_script(code).stdout.split()
    assert out == ["True", "['succeeded',", "'succeeded']"]


def test_sigterm_is_default_again_after_a_run_that_installs_nothing(sqlite_url):
    code = f"""
        import signal, cachework

        @cachework.work(store={sqlite_url!r})
        def plain(x):
            assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL  # armed for the run
            return x

        plain(1)
        print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    """
    assert run_script(code).stdout.split() == ["True"]
