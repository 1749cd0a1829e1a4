"""Claims held against takeovers, forgets and many threads; what the store writes (issue 14)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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


def test_a_live_owner_on_this_host_is_never_taken_over_even_when_its_heartbeat_lapses(
    url, tmp_path
):
    out = tmp_path / "runs.txt"
    owner = _start_gil_owner(url, out, hold_s=5)
    try:
        _wait_for(lambda: _lines(out), "the owner to start")
        _wait_until_heartbeat_lapses(url, "gil", lease=1)

        @cachework.work(name="gil", store=url, lease=1)
        def compute(x):
            with open(out, "a") as f:
                f.write(f"start {os.getpid()}\n")
            return f"value of {os.getpid()}"

        got = compute(1)  # waits for the owner, whose process is alive
        stdout, stderr = owner.communicate(timeout=60)
    finally:
        if owner.poll() is None:
            owner.kill()
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
    owner = _start_gil_owner(url, out, hold_s=4, CACHEWORK_HOST="elsewhere")
    try:
        _wait_for(lambda: _lines(out), "the owner to start")
        _wait_until_heartbeat_lapses(url, "gil", lease=1)

        @cachework.work(name="gil", store=url, lease=1)
        def compute(x):
            with open(out, "a") as f:
                f.write(f"start {os.getpid()}\n")
            return "value of the taker"

        assert compute(1) == "value of the taker"
        stdout, stderr = owner.communicate(timeout=60)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert owner.returncode == 0, stderr
    assert stdout.strip() == f"value of {owner.pid}"  # the late caller keeps its own value
    assert "no longer owned the entry" in stderr
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
