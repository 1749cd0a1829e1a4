"""Entry points run as separate processes by the concurrency and crash tests.

    python tests/workers.py COMMAND STORE_URL OUT_FILE [ARGS...]

Each execution of a work appends one line to OUT_FILE, so a test counts executions by
reading it: O_APPEND writes of one short line never interleave.
"""

from __future__ import annotations

import json
import os
import sys
import time

import cachework


def _record(out: str, line: str) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _wait_until(t0: float) -> None:
    while time.time() < t0:
        time.sleep(0.001)


def same_key(url: str, out: str, start_at: str, sleep_s: str) -> None:
    """Call one key at a shared start time; print the value every caller got."""

    @cachework.work(name="same", store=url)
    def slow(x: int) -> dict:
        _record(out, f"ran {os.getpid()}")
        time.sleep(float(sleep_s))
        return {"x": x, "by": os.getpid()}

    _wait_until(float(start_at))
    print(json.dumps(slow(7)))


def many_keys(url: str, out: str, start_at: str, first: str, count: str) -> None:
    """Call keys first..first+count-1 as fast as possible; overlapping ranges race."""

    @cachework.work(name="many", store=url)
    def square(i: int) -> int:
        _record(out, str(i))
        return i * i

    _wait_until(float(start_at))
    lo = int(first)
    for i in range(lo, lo + int(count)):
        assert square(i) == i * i


def hold(url: str, out: str, key: str, sleep_s: str, fail: str = "") -> None:
    """Run one call that takes a while (to be killed, signalled or waited for)."""

    @cachework.work(name="hold", store=url)
    def long_call(k: str) -> str:
        _record(out, f"start {os.getpid()}")
        time.sleep(float(sleep_s))
        if fail:
            raise RuntimeError("owner failed")
        _record(out, f"end {os.getpid()}")
        return f"done by {os.getpid()}"

    print(long_call(key), flush=True)


def burst(url: str, out: str, count: str) -> None:
    """Run many distinct calls; after each returns, note its key (the test kills us midway)."""

    @cachework.work(name="burst", store=url)
    def step(i: int) -> int:
        return i + 1

    for i in range(int(count)):
        step(i)
        _record(out, str(i))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    globals()[command](*args)
