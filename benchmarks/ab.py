"""Interleaved A/B of hits and misses between two source trees (before and after a change).

    git worktree add /tmp/ab-old cc53a67          # e.g. main just before the periods merge
    python benchmarks/ab.py --old /tmp/ab-old --new .
    python benchmarks/ab.py --old /tmp/ab-old --only "daily(),refresh.run()"

Each tree runs in a process of its own (its own PYTHONPATH, its own store in a temporary
folder), kept warm for the whole run; the parent asks them in turn for one round of
calls, A then B then A..., so a noisy neighbour slows both alike. The workloads:

- ``hit f(day, n)``: the same arguments again and again (the key memo answers);
- ``hit, 2,000 keys``: 2,000 stored keys cycled, each hit once per cycle, as a pipeline hits;
- ``miss``: new arguments every call (a claim, a run, a finish: two commits);
- ``daily()``, ``refresh.run()``: an argument-less ``every="day"`` work, a ``@work``
  function and the seed's ``Work`` subclass.

The table gives the median over rounds of µs per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import cachework

@cachework.work(name="daily", store="ab.db", every="day", tz="UTC")
def daily():
    return 1

class Refresh(cachework.Work):
    def run(self):
        self.done = True
        return 1

refresh = Refresh(name="refresh", store="ab.db", every="day", tz="UTC")

@cachework.work(name="f", store="ab.db")
def f(day, n):
    return {"day": day, "n": n}

@cachework.work(name="g", store="ab.db")
def g(day, n):
    return {"day": day, "n": n}

@cachework.work(name="m", store="ab.db")
def m(i):
    return {"i": i}

DAYS = [f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}" for i in range(2000)]
daily(); refresh.run(); f("2026-11-25", 3)  # the runs: every timed call after this is a hit
for i, day in enumerate(DAYS):
    g(day, i)
misses = iter(range(10**9))
print(json.dumps({"file": cachework.__file__}), flush=True)

def same(n):
    for _ in range(n):
        f("2026-11-25", 3)

def distinct(n):
    for i in range(n):
        g(DAYS[i % 2000], i % 2000)

def miss(n):
    for _ in range(n):
        m(next(misses))

def repeat(call):
    def calls(n):
        for _ in range(n):
            call()
    return calls

workloads = {
    "hit f(day, n)": same,
    "hit, 2,000 keys": distinct,
    "miss": miss,
    "daily()": repeat(daily),
    "refresh.run()": repeat(refresh.run),
}
only = [w for w in sys.argv[1].split(",") if w] or list(workloads)
for line in sys.stdin:
    n = int(line)
    out = {}
    for name in only:
        calls = n // 20 if name == "miss" else n  # a miss costs ~20 hits
        t0 = time.perf_counter()
        workloads[name](calls)
        out[name] = (time.perf_counter() - t0) / calls * 1e6
    print(json.dumps(out), flush=True)
"""


def _start(tree: Path, folder: Path, only: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    env.pop("CACHEWORK_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, only],
        cwd=folder,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
    where = Path(first["file"]).resolve()
    if tree.resolve() not in where.parents:
        raise SystemExit(f"{tree} imported cachework from {where}: check PYTHONPATH")
    return proc


def _round(proc: subprocess.Popen[str], n: int) -> dict[str, float]:
    proc.stdin.write(f"{n}\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]
    return json.loads(proc.stdout.readline())  # type: ignore[union-attr,no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="tree A (before)")
    parser.add_argument("--new", type=Path, default=Path("."), help="tree B (after)")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=20_000, help="hits per round and workload")
    parser.add_argument("--only", default="", help="workloads, comma-separated (default: all)")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    with tempfile.TemporaryDirectory() as tmp:
        procs = {}
        for side, tree in (("old", args.old), ("new", args.new)):
            folder = Path(tmp) / side
            folder.mkdir()
            procs[side] = _start(tree, folder, args.only)
        try:
            _round(procs["old"], args.calls)  # warm-up round, not counted
            _round(procs["new"], args.calls)
            for i in range(args.rounds):
                order = ("old", "new") if i % 2 == 0 else ("new", "old")
                for side in order:
                    for name, us in _round(procs[side], args.calls).items():
                        results[side].setdefault(name, []).append(us)
        finally:
            for proc in procs.values():
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(30)
    print(
        f"{args.rounds} interleaved rounds of {args.calls:,} hits (misses: a 20th) per workload\n"
    )
    print("| workload | A: old µs/hit | B: new µs/hit | B / A |")
    print("|---|---:|---:|---:|")
    for name in results["old"]:
        old = statistics.median(results["old"][name])
        new = statistics.median(results["new"][name])
        print(f"| {name} | {old:.2f} | {new:.2f} | {new / old:.3f} |")


if __name__ == "__main__":
    main()
