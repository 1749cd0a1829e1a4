"""The seed's endless event loop, made durable: each step runs once a day.

    python examples/event_loop.py                    # loops until Ctrl-C
    python examples/event_loop.py --iterations 1000  # or stops after that many turns

`DataProcessor.run()` takes no arguments: `every="day"` puts today's date into its key,
so the loop can spin as fast as it likes (each turn is two hits, no database write)
and the work still runs once per day, in this process or the next one after a restart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

import cachework


class DataProcessor(cachework.Work):
    def __init__(self) -> None:
        super().__init__(name="loop.process", every="day")
        self.data: str | None = None

    def run(self) -> None:
        today = cachework.period_label("day")
        print(f"  downloading and processing {today} ...")
        self.data = f"/data/{today}.parquet"


class TrainModel(cachework.Work):
    def run(self, data: str) -> str:
        print(f"  training on {data} ...")
        return data.replace(".parquet", ".model")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=None, help="stop after this many turns")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds between turns")
    args = parser.parse_args()
    logging.basicConfig(format="%(name)s: %(message)s")
    logging.getLogger("cachework").setLevel(logging.INFO)

    data_processor = DataProcessor()
    train_model = TrainModel(name="loop.train")
    turns = 0
    started = time.perf_counter()
    try:
        while args.iterations is None or turns < args.iterations:  # the Lightning event loop
            data_processor.run()
            train_model.run(data_processor.data)
            turns += 1
            if args.sleep:
                time.sleep(args.sleep)
    except KeyboardInterrupt:
        print("\nstopped")  # Ctrl-C between or inside steps: a step it cut is recorded interrupted
    elapsed = time.perf_counter() - started
    print(
        f"{turns} turns in {elapsed:.2f} s ({elapsed / max(turns, 1) * 1e6:.0f} µs a turn) on "
        f"{dt.date.today()}; processor {data_processor.status}, trainer {train_model.status}"
    )


if __name__ == "__main__":
    main()
