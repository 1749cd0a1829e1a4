"""Once per period: labels by the calendar of a zone, across DST, month and year ends."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

import cachework
from cachework import periods
from cachework.periods import period_label

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    "every,at,label",
    [
        ("minute", dt.datetime(2026, 11, 25, 14, 3, 59, tzinfo=UTC), "2026-11-25T14:03"),
        ("hour", dt.datetime(2026, 11, 25, 14, 59, tzinfo=UTC), "2026-11-25T14"),
        ("day", dt.datetime(2026, 11, 25, 23, 59, tzinfo=UTC), "2026-11-25"),
        ("week", dt.datetime(2026, 11, 25, tzinfo=UTC), "2026-W48"),
        ("month", dt.datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "2026-11"),
        ("day", dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "2026-12-31"),
        ("day", dt.datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "2027-01-01"),
        ("month", dt.datetime(2027, 1, 1, tzinfo=UTC), "2027-01"),
        ("week", dt.datetime(2027, 1, 1, tzinfo=UTC), "2026-W53"),  # ISO: Friday of 2026's week 53
        ("week", dt.datetime(2027, 1, 4, tzinfo=UTC), "2027-W01"),
        ("month", dt.datetime(2028, 2, 29, 12, tzinfo=UTC), "2028-02"),
    ],
)
def test_labels_in_utc(every, at, label):
    assert period_label(every, "UTC", at) == label


def test_day_follows_the_zone():
    at = dt.datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert period_label("day", "UTC", at) == "2026-11-25"
    assert period_label("day", "Europe/Paris", at) == "2026-11-26"
    assert period_label("day", "America/New_York", at) == "2026-11-25"


@pytest.mark.parametrize(
    "zone,spring,fall",
    [
        ("Europe/Paris", dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
        ("America/New_York", dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
    ],
)
def test_days_across_dst_are_calendar_days(zone, spring, fall):
    tz = ZoneInfo(zone)
    for day, hours in ((spring, 23), (fall, 25)):
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(UTC)
        labels = {
            period_label("day", zone, start + dt.timedelta(minutes=m))
            for m in range(0, hours * 60, 7)
        }
        assert labels == {day.isoformat()}
        assert (
            period_label("day", zone, start + dt.timedelta(hours=hours))
            == (day + dt.timedelta(days=1)).isoformat()
        )


@pytest.mark.parametrize(
    "zone,fall",
    [("Europe/Paris", dt.date(2026, 10, 25)), ("America/New_York", dt.date(2026, 11, 1))],
)
def test_the_repeated_hour_is_two_periods(zone, fall):
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(fall, dt.time(0), tzinfo=tz).astimezone(UTC)
    hours = [period_label("hour", zone, start + dt.timedelta(hours=h)) for h in range(25)]
    assert len(set(hours)) == 25  # 25 real hours, 25 labels
    assert any(h.endswith("~2") for h in hours)


def test_spring_forward_skips_an_hour_label():
    zone = "Europe/Paris"
    start = dt.datetime(2026, 3, 29, 0, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    hours = [period_label("hour", zone, start + dt.timedelta(hours=h)) for h in range(23)]
    assert len(set(hours)) == 23 and "2026-03-29T02" not in hours


def test_timedelta_periods_count_from_the_epoch():
    at = dt.datetime(2026, 11, 25, 14, 7, tzinfo=UTC)
    assert period_label(dt.timedelta(minutes=15), None, at) == "2026-11-25T14:00:00Z"
    assert period_label(dt.timedelta(hours=6), None, at) == "2026-11-25T12:00:00Z"


def test_bad_every_and_tz():
    with pytest.raises(ValueError, match="every"):
        period_label("fortnight", "UTC")
    with pytest.raises(ValueError, match="time zone"):
        period_label("day", "Mars/Olympus")


def test_argument_less_run_runs_once_per_simulated_day(url, monkeypatch):
    clock = [dt.datetime(2026, 11, 25, 0, 5, tzinfo=UTC).timestamp()]
    monkeypatch.setattr(periods, "clock", lambda: clock[0])
    ran = []

    class Refresh(cachework.Work):
        def run(self):
            ran.append(period_label("day", "UTC", clock[0]))
            self.refreshed = ran[-1]

    refresh = Refresh(name="refresh", store=url, every="day", tz="UTC")
    for _day in range(3):
        for _ in range(48):  # every half hour of the day, like a cron tick
            refresh.run()
            clock[0] += 1800
    assert ran == ["2026-11-25", "2026-11-26", "2026-11-27"]
    runs = cachework.Store(url).history(work="refresh", limit=None)
    assert sorted(r.args["_period"] for r in runs) == ran
    cols, rows = cachework.Store(url).query(
        "SELECT count(*) FROM cachework_calls WHERE work = 'refresh'"
    )
    assert rows[0][0] == 3
    assert json.loads(json.dumps(runs[0].args)) == {"_period": "2026-11-27"}


def test_periods_shorter_than_a_minute_are_exact(monkeypatch):
    """The current label is kept with its period's bounds, not per minute: a 10-second
    period changes label every 10 seconds, a 90-second one off the minute boundaries."""
    t0 = dt.datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC).timestamp()
    now = [t0]
    monkeypatch.setattr(periods, "clock", lambda: now[0])
    ten, ninety = dt.timedelta(seconds=10), dt.timedelta(seconds=90)
    seen = []
    for step in range(0, 200, 5):
        now[0] = t0 + step
        seen.append((period_label(ten, "UTC"), period_label(ninety, "UTC")))
        assert seen[-1] == (period_label(ten, "UTC", now[0]), period_label(ninety, "UTC", now[0]))
    assert len({s[0] for s in seen}) == 21 and len({s[1] for s in seen}) == 3
    now[0] = t0  # a clock set back is answered for the time it says, not from the memo
    assert period_label(ten, "UTC") == "2026-11-25T12:00:00Z"


def test_every_ten_seconds_runs_every_ten_seconds(url, monkeypatch):
    now = [dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC).timestamp()]
    monkeypatch.setattr(periods, "clock", lambda: now[0])
    ran = []

    @cachework.work(name="often", store=url, every=dt.timedelta(seconds=10))
    def often():
        ran.append(now[0])

    for _ in range(60):  # one call a second for a minute
        often()
        now[0] += 1
    assert len(ran) == 6
