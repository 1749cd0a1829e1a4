"""A data processor and a trainer that run once per day, for yesterday (the last complete
day), catching up the days this machine was off, however often this starts.

    python examples/daily_pipeline.py              # yesterday: runs both steps
    python examples/daily_pipeline.py              # again: both are skipped, results come back
    python examples/daily_pipeline.py 2026-11-20   # one past day, explicitly (run_for)
    cachework calendar                             # which days ran, failed, or are missing
    cachework backfill examples.daily_pipeline:process --from 2026-11-01   # fill the gaps

The store is ./cachework.db (or $CACHEWORK_URL). Look at it with `.venv/bin/cachework history`
(or `python -m cachework history`; plain `cachework` once the venv is activated).
"""

from __future__ import annotations

import logging
import sys

import cachework

RAN: list[str] = []  # what executed in this process (a hit runs nothing)


class DataProcessor(cachework.Work):
    def run(self, period: cachework.Period) -> int:
        # The day is the call's period, fixed when the call was made: a run that crosses
        # midnight still processes its own day, never "today" read from the clock.
        RAN.append("process")
        print(f"  processing {period} ({period.start:%H:%M} to {period.end:%H:%M %Z}) ...")
        self.data = f"/data/{period}.parquet"  # public attributes are state: restored on a hit
        return len(self.data)


class TrainModel(cachework.Work):
    def run(self, data: str) -> str:
        RAN.append("train")
        print(f"  training on {data} ...")
        self.model = data.replace("/data/", "/models/").replace(".parquet", ".pt")
        return self.model


# Made at import, as `cachework backfill MODULE:ATTR` needs them (nothing opens until a call).
# lag=1: a call today processes yesterday, the last complete day. catchup=True: a call first
# runs, oldest first, every day since the first one recorded that has not succeeded, so the
# days a cron job missed (the machine was off) are processed the next time it starts.
process = DataProcessor(name="daily.process", every="day", tz="UTC", lag=1, catchup=True)
train = TrainModel(name="daily.train")


def main() -> None:
    logging.basicConfig(format="%(name)s: %(message)s")
    logging.getLogger("cachework").setLevel(logging.INFO)  # what ran, and why
    if len(sys.argv) > 1:
        process.run_for(sys.argv[1])  # a past day (a label or date); no catch-up before it
    else:
        process.run()  # yesterday, after any missed day
    model = train.run(process.data)
    print(f"day {process.period}: data={process.data} model={model}")
    print(f"processor {process.status}, trainer {train.status}")
    if RAN:
        print(
            "Run me again: both steps will be skipped. Then try: .venv/bin/cachework calendar"
            " (or `python -m cachework calendar`, or `cachework calendar` in an activated venv)"
        )
    else:
        print("Both steps were skipped: their results and state came back from the store.")


if __name__ == "__main__":
    main()
