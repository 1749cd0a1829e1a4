"""A data processor and a trainer that each run once per date, however often this starts.

    python examples/daily_pipeline.py              # today: runs both steps
    python examples/daily_pipeline.py              # again: both are skipped, results come back
    python examples/daily_pipeline.py 2026-11-26   # another day: runs again

The store is ./cachework.db (or $CACHEWORK_URL). Look at it with `cachework history`.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys

import cachework

RAN: list[str] = []  # what executed in this process (a hit runs nothing)


class DataProcessor(cachework.Work):
    def run(self, day: str) -> int:
        RAN.append("process")
        print(f"  processing {day} ...")
        self.data = f"/data/{day}.parquet"  # public attributes are state: restored on a hit
        return len(day)


class TrainModel(cachework.Work):
    def run(self, data: str) -> str:
        RAN.append("train")
        print(f"  training on {data} ...")
        self.model = data.replace("/data/", "/models/").replace(".parquet", ".pt")
        return self.model


def main() -> None:
    logging.basicConfig(format="%(name)s: %(message)s")
    logging.getLogger("cachework").setLevel(logging.INFO)  # what ran, and why
    day = sys.argv[1] if len(sys.argv) > 1 else dt.date.today().isoformat()
    data_processor = DataProcessor(name="daily.process")
    train_model = TrainModel(name="daily.train")
    data_processor.run(day)
    model = train_model.run(data_processor.data)
    print(f"day {day}: data={data_processor.data} model={model}")
    print(f"processor {data_processor.status}, trainer {train_model.status}")
    if RAN:
        print("Run me again: both steps will be skipped. Then try: cachework history")
    else:
        print("Both steps were skipped: their results and state came back from the store.")


if __name__ == "__main__":
    main()
