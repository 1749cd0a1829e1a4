"""Periods as inputs: the function gets its call's period, missed periods are caught up and
backfilled, past periods can be run, and the store learns each work's schedule."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

import cachework
from cachework import CatchupFailed, Period, _periodic
from cachework import _periods as periods
from cachework._periods import period_label

UTC = dt.timezone.utc


class Clock:
    """periods.clock, set by the test; ``running=True`` lets it advance with real time."""

    def __init__(self, at: dt.datetime, running: bool = False) -> None:
        self.set(at)
        self.running = running

    def set(self, at: dt.datetime) -> None:
        self.base, self.t0 = at.timestamp(), time.monotonic()

    def __call__(self) -> float:
        return self.base + (time.monotonic() - self.t0 if self.running else 0.0)


@pytest.fixture
def clock(monkeypatch):
    c = Clock(dt.datetime(2026, 11, 20, 10, tzinfo=UTC))
    monkeypatch.setattr(periods, "clock", c)
    monkeypatch.setattr(_periodic, "_recorded", set())  # each test starts as a new process
    return c


def history(url: str, work: str) -> list[tuple[str, str]]:
    """(period label, status) of every run of ``work``, in the order they started."""
    runs = cachework.Store(url).history(work=work, limit=None)
    return [(r.args["_period"], r.status) for r in reversed(runs)]


# -- the period is an input ----------------------------------------------------------------------
def test_the_midnight_race_the_function_gets_the_calls_period(url, clock):
    """Called at 23:59:59.9, a run that takes 0.3 s gets the 25th, and is recorded as the
    25th, although the clock says the 26th when it ends."""
    clock.set(dt.datetime(2026, 11, 25, 23, 59, 59, 900000, tzinfo=UTC))
    clock.running = True

    @cachework.work(name="nightly", store=url, every="day", tz="UTC")
    def nightly(period: Period) -> list[str]:
        time.sleep(0.3)
        return [period.label, period_label("day", "UTC")]

    assert nightly() == ["2026-11-25", "2026-11-26"]  # the clock moved on; the period did not
    assert nightly.period.label == "2026-11-25"
    assert history(url, "nightly") == [("2026-11-25", "succeeded")]
    (run,) = cachework.Store(url).history(work="nightly")
    assert run.args == {"_period": "2026-11-25"}  # the period itself is not an argument
    # The next call is in the 26th: a new period, and the function gets it.
    assert nightly() == ["2026-11-26", "2026-11-26"]


def test_a_run_method_gets_the_period_wherever_it_is_declared(url, clock):
    class Report(cachework.Work):
        def run(self, period, region, *extra, scale=1, **options):
            self.seen = (period.label, region, extra, scale, options)
            return self.seen

    report = Report(name="report", store=url, every="day", tz="Europe/Paris")
    expected = ("2026-11-20", "north", (1, 2), 3, {"x": 4})
    assert report.run("north", 1, 2, scale=3, x=4) == expected
    assert report.period == Period.of("day", "Europe/Paris", "2026-11-20")
    (run,) = cachework.Store(url).history(work="report")
    assert run.args == {
        "_period": "2026-11-20",
        "region": "north",
        "extra": [1, 2],
        "scale": 3,
        "x": 4,
    }
    with pytest.raises(TypeError, match="period is given by cachework.*run_for"):
        report.run("north", period="2026-11-19")


def test_declaring_period_keeps_the_key_so_existing_entries_hit(url, clock):
    ran = []

    @cachework.work(name="ingest", store=url, every="day", tz="UTC")
    def before(region):
        ran.append(region)
        return region

    before("north")

    @cachework.work(name="ingest", store=url, every="day", tz="UTC")
    def after(region, period):
        ran.append((region, period.label))
        return region

    assert after.key("north") == before.key("north")
    assert after("north") == "north" and ran == ["north"]


def test_a_parallel_call_keeps_the_period_of_its_submission(url, clock):
    clock.set(dt.datetime(2026, 11, 25, 23, 59, 59, 900000, tzinfo=UTC))
    gate = threading.Event()
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(gate.wait)  # the worker is busy: the call starts after midnight

        @cachework.work(
            name="later", store=url, every="day", tz="UTC", parallel=True, executor=pool
        )
        def later(period):
            return period.label

        future = later()
        clock.set(dt.datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC))
        gate.set()
        assert future.result(timeout=60) == "2026-11-25"
    assert history(url, "later") == [("2026-11-25", "succeeded")]


def test_a_call_sent_to_another_process_takes_its_period_along(url, clock):
    import multiprocessing

    clock.set(dt.datetime(2026, 11, 25, 23, 59, 59, 900000, tzinfo=UTC))
    # A fresh interpreter, whose clock is the real one: only the call can tell it the period.
    spawn = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:

        @cachework.work(name="far", store=url, every="day", tz="UTC", parallel=True, executor=pool)
        def far(region, period):
            return [region, period.label, os.getpid()]

        future = far("north")
        region, label, pid = future.result(timeout=60)
    assert (region, label) == ("north", "2026-11-25") and pid != os.getpid()
    assert far.period.label == "2026-11-25"
    assert history(url, "far") == [("2026-11-25", "succeeded")]


@pytest.mark.skipif(
    shutil.which("faketime") is None, reason="needs faketime (apt-get install faketime)"
)
def test_the_midnight_race_under_faketime(sqlite_url, tmp_path):
    """The same race with the process's real clock faked: 23:59:59.5 at the call."""
    script = textwrap.dedent(f"""
        import json, time
        import cachework

        midnight = {dt.datetime(2026, 11, 26, tzinfo=UTC).timestamp()!r}
        while time.time() < midnight - 0.5:
            time.sleep(0.01)

        @cachework.work(name="nightly", store={sqlite_url!r}, every="day", tz="UTC")
        def nightly(period):
            time.sleep(1.0)
            return [period.label, cachework.period_label("day", "UTC")]

        print(json.dumps([nightly(), nightly.period.label]))
    """)
    env = {**os.environ, "TZ": "UTC"}  # faketime reads its start time in TZ
    proc = subprocess.run(
        ["faketime", "2026-11-25 23:59:50", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [["2026-11-25", "2026-11-26"], "2026-11-25"]
    assert history(sqlite_url, "nightly") == [("2026-11-25", "succeeded")]


def test_lag_processes_the_last_complete_period(url, clock):
    clock.set(dt.datetime(2026, 11, 26, 0, 15, tzinfo=UTC))

    @cachework.work(name="yesterday", store=url, every="day", tz="UTC", lag=1)
    def yesterday(period):
        return period.label

    assert yesterday() == "2026-11-25" and yesterday.period.label == "2026-11-25"
    clock.set(dt.datetime(2026, 11, 26, 23, 59, tzinfo=UTC))
    assert yesterday() == "2026-11-25"  # a hit, all day long
    assert history(url, "yesterday") == [("2026-11-25", "succeeded")]
    assert yesterday.lag == 1


# -- run_for ---------------------------------------------------------------------------------------
def test_run_for_runs_a_past_period_given_in_any_form(url, clock):
    ran = []

    @cachework.work(name="past", store=url, every="day", tz="Europe/Paris")
    def past(region, period):
        ran.append(period.label)
        return f"{region} {period.label}"

    assert past.run_for("2026-11-18", "north") == "north 2026-11-18"
    assert past.period.label == "2026-11-18"
    assert past.run_for(dt.date(2026, 11, 18), "north") == "north 2026-11-18"  # a hit
    assert past.run_for(dt.datetime(2026, 11, 17, 23, 30, tzinfo=UTC), "north") == (
        "north 2026-11-18"  # 00:30 in Paris
    )
    assert past.run_for(Period.of("day", "Europe/Paris", "2026-11-19"), region="south") == (
        "south 2026-11-19"
    )
    assert past.run_for("2026-11-20", "north") == past("north")  # today: the same call
    assert ran == ["2026-11-18", "2026-11-19", "2026-11-20"]
    with pytest.raises(ValueError, match="2026-11-21 is in the future"):
        past.run_for("2026-11-21", "north")
    with pytest.raises(ValueError, match="not a day label"):
        past.run_for("2026-W47", "north")
    with pytest.raises(ValueError, match="of every='week'"):
        past.run_for(Period.of("week", "Europe/Paris", "2026-W47"), "north")

    @cachework.work(name="plain", store=url)
    def plain():
        return 1

    with pytest.raises(TypeError, match="needs a work with every="):
        plain.run_for("2026-11-18")


# -- catch-up ------------------------------------------------------------------------------------
def daily_work(url: str, ran: list[str], **options):
    @cachework.work(name="daily", store=url, every="day", tz="UTC", **options)
    def daily(period):
        ran.append(period.label)
        return period.label

    return daily


def test_catch_up_after_three_days_off(url, clock):
    ran: list[str] = []
    daily = daily_work(url, ran, catchup=True)
    assert daily() == "2026-11-20"
    clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=UTC))  # the machine was off three days
    assert daily() == "2026-11-24"
    assert ran == ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"]
    assert daily.period.label == "2026-11-24"
    assert daily() == "2026-11-24"
    assert len(ran) == 5  # the next call runs nothing
    again = daily_work(url, ran, catchup=True)  # a new process: it checks, and finds all done
    assert again() == "2026-11-24" and len(ran) == 5
    assert history(url, "daily") == [(d, "succeeded") for d in ran]


def test_catch_up_from_a_given_start_and_limit(url, clock):
    ran: list[str] = []
    clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=UTC))
    capped = daily_work(url, ran, catchup=dt.date(2026, 11, 19), catchup_limit=4)
    with pytest.raises(
        ValueError, match="would run more than 4 periods .*catchup_limit=4; nothing"
    ):
        capped()
    assert ran == [] and history(url, "daily") == []
    daily = daily_work(url, ran, catchup="2026-11-22")
    assert daily() == "2026-11-24"
    assert ran == ["2026-11-22", "2026-11-23", "2026-11-24"]


def test_catch_up_limit_is_checked_without_walking_the_whole_span(url, clock):
    """A minute schedule told to catch up from a month back: was refused only after building
    and checking all 43,000 periods (87 queries; years back took minutes and gigabytes).
    Now the refusal comes once the limit is passed; exactly the limit still runs."""
    ran: list[str] = []

    @cachework.work(name="m", store=url, every="minute", tz="UTC", catchup="2026-10-20T10:00")
    def minutely(period):
        ran.append(period.label)

    minutely.store.lookup("m", "-")  # open the store first: only the catch-up is counted
    queries: list[str] = []
    engine = minutely.store._engine()

    def count(conn, cursor, statement, *rest):
        queries.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    with pytest.raises(ValueError, match=r"more than 1000 periods \(from 2026-10-20T10:00;"):
        minutely()
    sa.event.remove(engine, "before_cursor_execute", count)
    assert ran == [] and history(url, "m") == []
    assert len([q for q in queries if "cachework_calls" in q]) <= 3

    @cachework.work(
        name="m", store=url, every="minute", tz="UTC", catchup="2026-11-20T09:57", catchup_limit=3
    )
    def exactly(period):
        ran.append(period.label)

    exactly()  # 09:57, 09:58, 09:59: exactly the limit
    assert ran == ["2026-11-20T09:57", "2026-11-20T09:58", "2026-11-20T09:59", "2026-11-20T10:00"]


def test_a_failed_period_does_not_stop_the_catch_up(url, clock):
    ran: list[str] = []
    broken = {"2026-11-22"}

    @cachework.work(name="daily", store=url, every="day", tz="UTC", catchup=True)
    def daily(period):
        ran.append(period.label)
        if period.label in broken:
            raise ValueError(f"no data for {period.label}")
        return period.label

    daily()
    clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=UTC))
    with pytest.raises(CatchupFailed) as e:
        daily()
    assert isinstance(e.value, cachework.CacheworkError)
    assert e.value.failed == {"2026-11-22": "ValueError: no data for 2026-11-22"}
    assert e.value.result == "2026-11-24"
    assert "2026-11-22" in str(e.value)
    assert ran == ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"]
    broken.clear()
    assert daily() == "2026-11-24"  # only the failed period runs again
    assert ran[5:] == ["2026-11-22"]
    assert history(url, "daily")[2:] == [
        ("2026-11-22", "failed"),
        ("2026-11-23", "succeeded"),
        ("2026-11-24", "succeeded"),
        ("2026-11-22", "succeeded"),
    ]


CATCH_UP_SCRIPT = """
import json, os, sys, time
import cachework
from cachework import _periods as periods

url, go, out = sys.argv[1:4]
periods.clock = lambda: {now!r}

@cachework.work(name="daily", store=url, every="day", tz="UTC", catchup=True)
def daily(period):
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{{period.label}} {{os.getpid()}}\\n".encode())
    os.close(fd)
    time.sleep(0.2)
    return period.label

while not os.path.exists(go):
    time.sleep(0.005)
print(json.dumps(daily()))
"""


def test_two_processes_catching_up_at_once_run_each_period_once(url, clock, tmp_path):
    ran: list[str] = []
    daily_work(url, ran, catchup=True)()  # 2026-11-20
    now = dt.datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp()
    go, out = tmp_path / "go", tmp_path / "ran"
    script = CATCH_UP_SCRIPT.format(now=now)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(go), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        assert json.loads(stdout) == "2026-11-24"
    labels = sorted(line.split()[0] for line in out.read_text().splitlines())
    assert labels == ["2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"]
    assert sorted(history(url, "daily")) == [
        (f"2026-11-{d}", "succeeded") for d in (20, 21, 22, 23, 24)
    ]


KILLED_SCRIPT = """
import os, sys, time
import cachework
from cachework import _periods as periods

url, out, hang = sys.argv[1:4]
periods.clock = lambda: {now!r}

@cachework.work(name="daily", store=url, every="day", tz="UTC", catchup=True)
def daily(period):
    with open(out, "a") as f:
        f.write(f"{{period.label}} {{os.getpid()}}\\n")
    if period.label == hang:
        time.sleep(600)  # killed here
    return period.label

print(daily())
"""


def test_a_catch_up_killed_mid_period_is_finished_by_the_next_start(url, clock, tmp_path):
    """kill -9 while the second of three missed days runs: the next start runs that day
    again (its dead owner's claim is taken over, recorded interrupted) and the days after
    it, and not the day that had succeeded."""
    ran: list[str] = []
    daily_work(url, ran, catchup=True)()  # 2026-11-20
    script = KILLED_SCRIPT.format(now=dt.datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp())
    out = tmp_path / "ran"
    first = subprocess.Popen(
        [sys.executable, "-c", script, url, str(out), "2026-11-22"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while "2026-11-22" not in (out.read_text() if out.exists() else ""):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        first.kill()  # SIGKILL: no handler, no release
        first.wait(60)
    again = subprocess.run(
        [sys.executable, "-c", script, url, str(out), "never"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "2026-11-24"
    runs = [line.split() for line in out.read_text().splitlines()]
    assert [label for label, _ in runs] == [
        "2026-11-21",
        "2026-11-22",  # killed
        "2026-11-22",
        "2026-11-23",
        "2026-11-24",
    ]
    assert history(url, "daily") == [
        ("2026-11-20", "succeeded"),
        ("2026-11-21", "succeeded"),
        ("2026-11-22", "interrupted"),
        ("2026-11-22", "succeeded"),
        ("2026-11-23", "succeeded"),
        ("2026-11-24", "succeeded"),
    ]


def _calendars(table: str) -> list:
    """Cases from rows of ``id every tz first-call later-call periods-between...``: times in
    UTC, ``6h`` an every of six hours."""
    cases = []
    for row in table.strip().splitlines():
        name, every, tz, first, later, *between = row.split()
        period = dt.timedelta(hours=int(every[:-1])) if every[0].isdigit() else every
        at = [dt.datetime.fromisoformat(t).replace(tzinfo=UTC) for t in (first, later)]
        cases.append(pytest.param(period, tz, *at, between, id=name))
    return cases


# Catch-up and backfill across the hard parts of calendars. In Paris, 2026-03-29 has 23
# hours and 2026-10-25 has 25; 23:30 and 02:30 UTC on the 24th/25th of October are 01:30 and
# 03:30 there, with the hour 02 twice in between (after the clocks went back).
CALENDARS = _calendars("""
23-hour-day    day    Europe/Paris  2026-03-27T12:00  2026-03-31T12:00  2026-03-28 2026-03-29 2026-03-30
25-hour-day    day    Europe/Paris  2026-10-24T12:00  2026-10-27T12:00  2026-10-25 2026-10-26
repeated-hour  hour   Europe/Paris  2026-10-24T23:30  2026-10-25T02:30  2026-10-25T02 2026-10-25T02~2
year-end       day    UTC           2026-12-30T12:00  2027-01-02T12:00  2026-12-31 2027-01-01
weeks          week   Europe/Paris  2026-12-16T00:00  2027-01-12T00:00  2026-W52 2026-W53 2027-W01
months         month  UTC           2026-10-15T00:00  2027-02-10T00:00  2026-11 2026-12 2027-01
timedelta      6h     UTC           2026-12-31T07:00  2027-01-01T07:00  2026-12-31T12:00:00Z 2026-12-31T18:00:00Z 2027-01-01T00:00:00Z
""")


@pytest.mark.parametrize("every,tz,first,later,between", CALENDARS)
def test_catch_up_across_calendars(url, clock, every, tz, first, later, between):
    ran = []

    @cachework.work(name="cal", store=url, every=every, tz=tz, catchup=True)
    def cal(period):
        ran.append(period.label)

    clock.set(first)
    cal()
    clock.set(later)
    cal()
    start, now = period_label(every, tz, first), period_label(every, tz, later)
    assert ran == [start, *between, now]
    cal()
    assert len(ran) == len(between) + 2


@pytest.mark.parametrize("every,tz,first,later,between", CALENDARS)
def test_missing_and_backfill_across_calendars(url, clock, every, tz, first, later, between):
    ran = []

    @cachework.work(name="cal", store=url, every=every, tz=tz)
    def cal(period):
        ran.append(period.label)

    clock.set(first)
    cal()
    clock.set(later)
    start, now = period_label(every, tz, first), period_label(every, tz, later)
    assert cal.missing(start) == [*between, now]
    assert cal.missing(start, between[-1]) == between
    report = cal.backfill(start, dry_run=True)
    assert report.would_run == [*between, now] and report.hit == [start] and ran == [start]
    report = cal.backfill(start)
    assert report == cachework.BackfillReport(
        ran=[*between, now], hit=[start], failed={}, would_run=[]
    )
    assert ran == [start, *between, now]
    assert cal.missing(start) == []


def test_backfill_reports_a_failure_and_runs_the_rest(url, clock):
    clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=UTC))
    broken = {"2026-11-22"}
    ran = []

    @cachework.work(name="fill", store=url, every="day", tz="UTC")
    def fill(region, period):
        ran.append(period.label)
        if period.label in broken:
            raise RuntimeError("source down")

    fill.run_for("2026-11-21", "north")
    report = fill.backfill("2026-11-20", "2026-11-23", "north")
    assert report.ran == ["2026-11-20", "2026-11-23"]
    assert report.hit == ["2026-11-21"]
    assert report.failed == {"2026-11-22": "RuntimeError: source down"}
    assert not report.ok
    assert fill.missing("2026-11-20", None, "north") == ["2026-11-22", "2026-11-24"]
    assert fill.missing("2026-11-20", None, "south") == [f"2026-11-2{d}" for d in range(5)]
    broken.clear()
    report = fill.backfill(dt.date(2026, 11, 20), dt.date(2026, 11, 23), region="north")
    assert report.ran == ["2026-11-22"] and report.ok
    with pytest.raises(ValueError, match="start is after end"):
        fill.missing("2026-11-23", "2026-11-20", "north")
    with pytest.raises(ValueError, match="in the future"):
        fill.backfill("2026-11-20", "2026-11-25", "north")


def test_a_function_with_start_and_end_parameters_can_be_backfilled(url, clock):
    """``missing(start, end, *args, **kwargs)`` took a pipeline's own ``start=`` as its
    range: "got multiple values for argument 'start'". The range is positional now."""
    clock.set(dt.datetime(2026, 11, 22, 10, tzinfo=UTC))

    @cachework.work(name="window", store=url, every="day", tz="UTC")
    def window(period, start=0, end=24):
        return (period.label, start, end)

    assert window.run_for("2026-11-21", start=6, end=18) == ("2026-11-21", 6, 18)
    assert window.missing("2026-11-20", "2026-11-21", start=6, end=18) == ["2026-11-20"]
    report = window.backfill("2026-11-20", None, start=6, end=18)
    assert report.ran == ["2026-11-20", "2026-11-22"] and report.hit == ["2026-11-21"]
    assert window.missing("2026-11-20", None, start=6, end=18) == []
    assert window.missing("2026-11-20", None) == ["2026-11-20", "2026-11-21", "2026-11-22"]


# -- the works table ---------------------------------------------------------------------------
def schedules(url: str) -> dict[str, tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT work, every, tz, lag, updated_at FROM cachework_works"))
        out = {r.work: (r.every, r.tz, r.lag, r.updated_at) for r in rows}
    engine.dispose()
    return out


def test_the_store_learns_each_works_schedule(url, clock, monkeypatch):
    @cachework.work(name="a", store=url, every="day", tz="Europe/Paris")
    def a():
        return 1

    @cachework.work(name="b", store=url, every=dt.timedelta(minutes=15), lag=2)
    def b():
        return 1

    a()
    b()
    found = schedules(url)
    assert {k: v[:3] for k, v in found.items()} == {
        "a": ("day", "Europe/Paris", 0),
        "b": ("900s", None, 2),
    }
    assert periods.parse_every("900s") == dt.timedelta(minutes=15)
    first_written = found["a"][3]
    monkeypatch.setattr(_periodic, "_recorded", set())  # a new process, same schedule
    a.run_for("2026-11-19")
    assert schedules(url)["a"] == found["a"]  # unchanged: not rewritten

    @cachework.work(name="a", store=url, every="day", tz="Europe/Paris", lag=1)
    def a_later():
        return 1

    clock.set(dt.datetime(2026, 11, 22, 10, tzinfo=UTC))
    a_later()  # runs the 21st, and sees the schedule changed
    assert schedules(url)["a"][:3] == ("day", "Europe/Paris", 1)
    assert schedules(url)["a"][3] >= first_written


def test_a_hit_never_reads_the_works_table(url, clock, monkeypatch, caplog):
    @cachework.work(name="daily", store=url, every="day", tz="UTC")
    def daily():
        return "x"

    daily()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE cachework_works"))
    engine.dispose()
    monkeypatch.setattr(_periodic, "_recorded", set())
    with caplog.at_level(logging.WARNING, logger="cachework"):
        assert daily() == "x"  # a hit: had it read the table, it would have failed
        assert caplog.records == []
        assert daily.run_for("2026-11-19") == "x"  # a run: the schedule cannot be written
    assert "could not record the schedule of daily" in caplog.text
    assert history(url, "daily")[-1] == ("2026-11-19", "succeeded")


# -- bad options -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options,message",
    [
        ({"every": "day", "lag": -1}, "lag must be a whole number >= 0"),
        ({"every": "day", "lag": True}, "lag must be a whole number"),
        ({"lag": 1}, "lag= counts periods: give every="),
        ({"catchup": True}, "catchup= counts periods: give every="),
        ({"every": "day", "catchup": "2026-11"}, "catchup must be .*not a day label"),
        ({"every": "hour", "catchup": dt.date(2026, 11, 1)}, "a date names many hours"),
        ({"every": "day", "catchup": True, "catchup_limit": 0}, "catchup_limit must be"),
    ],
)
def test_bad_period_options_are_refused_when_the_work_is_made(options, message):
    with pytest.raises(ValueError, match=message):
        cachework.work(name="w", store="s.db", **options)(lambda: None)


def test_public_names():
    assert {"Period", "CatchupFailed", "BackfillReport"} <= set(cachework.__all__)
    assert cachework.Period.__module__ == cachework.BackfillReport.__module__ == "cachework"
    assert issubclass(CatchupFailed, cachework.CacheworkError)


# -- a parameter or keyword named _period -----------------------------------------------------------
@pytest.mark.parametrize(
    "source",
    [
        "def f(_period): return _period",
        "def f(x, *, _period=1): return _period",
        "def f(*_period): return _period",
        "def f(x, /, _period=None): return _period",
    ],
)
def test_a_parameter_named_period_label_is_refused_when_the_work_is_made(source):
    """Its value would be overwritten by the label in the bound arguments: calls differing
    only in it would share one key (a wrong hit)."""
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(ValueError, match="cannot have a parameter named _period"):
        cachework.work(name="w", store="s.db", every="day")(namespace["f"])
    cachework.work(name="w", store="s.db")(namespace["f"])  # without every=, _period is free

    class Labelled(cachework.Work):
        def run(self, region, _period=None):
            return region

    with pytest.raises(ValueError, match="Labelled.*cannot have a parameter named _period"):
        Labelled(store="s.db", every="day")


def test_a_period_label_keyword_is_refused_at_call_time(url, clock):
    ran = []

    @cachework.work(name="kw", store=url, every="day", tz="UTC")
    def kw(**options):
        ran.append(options)
        return options

    assert kw(region="a") == {"region": "a"}
    for call in (
        lambda: kw(_period="x"),
        lambda: kw.run_for("2026-11-19", _period="x"),
        lambda: kw.missing("2026-11-19", None, _period="x"),
    ):
        with pytest.raises(TypeError, match="_period is the period's label"):
            call()
    assert ran == [{"region": "a"}]
    assert history(url, "kw") == [("2026-11-20", "succeeded")]
