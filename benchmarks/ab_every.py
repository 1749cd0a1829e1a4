"""Interleaved A/B of a hit of an ``every="day"`` work between two source trees.

    git worktree add /tmp/ab-old cc53a67          # main just before the periods merge
    python benchmarks/ab_every.py --old /tmp/ab-old --new .

Each tree runs in a process of its own (its own PYTHONPATH, its own store in a temporary
folder), kept warm for the whole run; the parent asks them in turn for one round of hits,
A then B then A..., so a noisy neighbour slows both alike. Two workloads: a ``@work``
function ``daily()`` and the seed's ``Work`` subclass ``refresh.run()``, both argument-less
with ``every="day", tz="UTC"``. The table gives the median over rounds of µs per call.
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
daily(); refresh.run()  # the runs: every timed call after this is a hit
print(json.dumps({"file": cachework.__file__}), flush=True)
workloads = {"daily()": daily, "refresh.run()": refresh.run}
for line in sys.stdin:
    n = int(line)
    out = {}
    for name, call in workloads.items():
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        out[name] = (time.perf_counter() - t0) / n * 1e6
    print(json.dumps(out), flush=True)
"""


def _start(tree: Path, folder: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    env.pop("CACHEWORK_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
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
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    with tempfile.TemporaryDirectory() as tmp:
        procs = {}
        for side, tree in (("old", args.old), ("new", args.new)):
            folder = Path(tmp) / side
            folder.mkdir()
            procs[side] = _start(tree, folder)
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
    print(f"{args.rounds} interleaved rounds of {args.calls:,} hits per workload\n")
    print("| workload | A: old µs/hit | B: new µs/hit | B / A |")
    print("|---|---:|---:|---:|")
    for name in results["old"]:
        old = statistics.median(results["old"][name])
        new = statistics.median(results["new"][name])
        print(f"| {name} | {old:.2f} | {new:.2f} | {new / old:.3f} |")


if __name__ == "__main__":
    main()
