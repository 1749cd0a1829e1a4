"""A three-step pipeline that crashes at step 3 the first time; run it again to resume.

    python examples/resume_after_crash.py   # steps 1 and 2 run, step 3 crashes
    python examples/resume_after_crash.py   # steps 1 and 2 come back from the store, 3 runs

The crash is simulated once per store, as a flaky step would: step 3 fails while the
store holds no failed run of it (the store is ./cachework.db, or $CACHEWORK_URL).
"""

from __future__ import annotations

import logging
import sys

import cachework


@cachework.work(name="resume.download")
def download(source: str) -> list[int]:
    print(f"  step 1: downloading {source}")
    return list(range(10))


@cachework.work(name="resume.clean")
def clean(rows: list[int]) -> list[int]:
    print("  step 2: cleaning")
    return [r * 2 for r in rows]


@cachework.work(name="resume.report")
def report(rows: list[int]) -> int:
    print("  step 3: reporting")
    if not report.store.history("resume.report", status="failed", limit=1):
        raise RuntimeError("step 3 crashed (simulated); run the script again")
    return sum(rows)


def main() -> None:
    logging.basicConfig(format="%(name)s: %(message)s")
    logging.getLogger("cachework").setLevel(logging.INFO)  # what ran, and why
    try:
        total = report(clean(download("https://example.invalid/data.csv")))
    except RuntimeError as e:
        print(f"crashed: {e}")
        sys.exit(1)
    print(f"total = {total}")


if __name__ == "__main__":
    main()
