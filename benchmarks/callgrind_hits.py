"""Hits for callgrind: instructions per call, which do not depend on the machine's load.

    PYTHONHASHSEED=0 valgrind --tool=callgrind python benchmarks/callgrind_hits.py f 500
    PYTHONHASHSEED=0 valgrind --tool=callgrind python benchmarks/callgrind_hits.py f 2500

(instructions of the second minus the first) / 2,000 is the cost of one call: start-up and
imports cancel. Workloads: ``f`` one key again and again, ``g`` 500 stored keys cycled
(the key memo answers them), ``d`` 2,000 stored keys cycled (more than the memo holds, so
every hit encodes and hashes, as a pipeline's does), ``r`` the seed's ``Work``
subclass with ``every="day"``, ``k`` one key called by keyword (``f(day=..., n=3)``). For ``d`` take N = 500 and 8,692: the memo fills for 1,024
hits and then rests for 3,072 (``_keys.MEMO_REST``), so only whole cycles of 4,096 give
the average hit.
"""

from __future__ import annotations

import os
import sys
import tempfile

import cachework

STORE = os.path.join(tempfile.mkdtemp(), "p.db")  # a new store each run, never in the cwd


@cachework.work(name="f", store=STORE)
def f(day: str, n: int) -> dict[str, object]:
    return {"day": day, "n": n}


@cachework.work(name="g", store=STORE)
def g(day: str, n: int) -> dict[str, object]:
    return {"day": day, "n": n}


class R(cachework.Work):
    def run(self) -> int:
        self.done = True
        return 1


def main() -> None:
    which, n = sys.argv[1], int(sys.argv[2])
    r = R(name="r", store=STORE, every="day", tz="UTC")
    keys = 2000 if which == "d" else 500
    days = [f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}" for i in range(keys)]
    f("2026-11-25", 3)
    r.run()
    for _ in range(2):  # runs, then hits: the timed loop below only hits
        for i, day in enumerate(days):
            g(day, i)
    if which == "f":
        for _ in range(n):
            f("2026-11-25", 3)
    elif which == "k":
        for _ in range(n):
            f(day="2026-11-25", n=3)
    elif which == "r":
        for _ in range(n):
            r.run()
    else:
        for i in range(n):
            g(days[i % keys], i % keys)


if __name__ == "__main__":
    main()
