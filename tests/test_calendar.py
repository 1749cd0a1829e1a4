"""The calendar grid (the library side of `cachework calendar`): works x periods x status."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from conftest import daily_with_every_status

import cachework
from cachework import _calendar
from cachework import _periods as periods
from cachework._calendar import BEFORE_FIRST_RUN, NEVER_RUN, calendar

UTC = dt.timezone.utc


def test_every_status_in_its_cell(url, clock):
    started, release = threading.Event(), threading.Event()

    daily = daily_with_every_status(url, lambda: (started.set(), release.wait(60)))
    running = threading.Thread(target=daily)
    running.start()
    assert started.wait(60)
    try:
        (row,) = calendar(cachework.Store(url), since=dt.date(2026, 11, 18))
    finally:
        release.set()
        running.join(60)
    assert (row.work, row.every, row.tz, row.lag) == ("daily", "day", "UTC", 0)
    assert row.cells == [
        ("2026-11-18", BEFORE_FIRST_RUN),  # before its first run: nothing was expected
        ("2026-11-19", BEFORE_FIRST_RUN),
        ("2026-11-20", "succeeded"),
        ("2026-11-21", "failed"),
        ("2026-11-22", NEVER_RUN),  # no row in the database at all
        ("2026-11-23", "interrupted"),
        ("2026-11-24", "running"),
    ]
    (row,) = calendar(cachework.Store(url), since=dt.date(2026, 11, 18))
    assert row.cells[-1] == ("2026-11-24", "succeeded")
    data = json.loads(json.dumps(row.as_dict()))
    assert data["periods"][2] == {"period": "2026-11-20", "status": "succeeded"}


def test_rows_per_work_with_their_own_periods(url, clock):
    @cachework.work(name="hourly", store=url, every="hour", tz="Europe/Paris")
    def hourly():
        return 1

    @cachework.work(name="regions", store=url, every="day", tz="UTC", lag=1)
    def regions(region):
        if region == "south":
            raise RuntimeError("down")
        return region

    @cachework.work(name="plain", store=url)
    def plain():
        return 1

    hourly()
    plain()
    regions("north")
    with pytest.raises(RuntimeError):
        regions("south")
    regions.run_for("2026-11-21", "north")
    store = cachework.Store(url)
    rows = {r.work: r for r in calendar(store)}
    assert set(rows) == {"hourly", "regions"}  # only works with a schedule
    assert len(rows["hourly"].cells) == len(rows["regions"].cells) == _calendar.DEFAULT_PERIODS
    assert rows["hourly"].cells[-1] == ("2026-11-24T11", "succeeded")
    assert rows["regions"].lag == 1
    # The current period is shown (today), the worst call of a period is its status.
    assert rows["regions"].cells[-4:] == [
        ("2026-11-21", "succeeded"),
        ("2026-11-22", NEVER_RUN),
        ("2026-11-23", "failed"),  # north succeeded, south failed
        ("2026-11-24", BEFORE_FIRST_RUN),  # lag=1: today is not due before tomorrow
    ]
    (only,) = calendar(store, ["regions"], since=dt.date(2026, 11, 22), until=dt.date(2026, 11, 23))
    assert only.cells == [("2026-11-22", NEVER_RUN), ("2026-11-23", "failed")]
    with pytest.raises(ValueError, match="no schedule recorded for plain"):
        calendar(store, ["plain"])


def test_a_long_range_keeps_the_latest_periods(sqlite_url, clock):
    @cachework.work(name="minutes", store=sqlite_url, every="minute", tz="UTC")
    def minutes():
        return 1

    minutes()
    (row,) = calendar(cachework.Store(sqlite_url), since=dt.date(2026, 11, 1))
    assert len(row.cells) == _calendar.MAX_PERIODS
    assert row.cells[-1] == ("2026-11-24T10:00", "succeeded")


def test_a_long_range_of_minutes_makes_only_the_periods_shown(sqlite_url, clock, monkeypatch):
    """``since`` two months back on a minute schedule built all 86,000 periods to keep the
    last 1,000; now the span is walked from the latest back, only as far as it is shown."""

    @cachework.work(name="minutes", store=sqlite_url, every="minute", tz="UTC")
    def minutes():
        return 1

    minutes()
    made = []
    for step in ("next", "previous"):
        real = getattr(cachework.Period, step)

        def counted(self, real=real):
            made.append(self)
            return real(self)

        monkeypatch.setattr(cachework.Period, step, counted)
    (row,) = calendar(cachework.Store(sqlite_url), since=dt.date(2026, 9, 24))
    assert len(row.cells) == _calendar.MAX_PERIODS
    assert row.cells[0][0] == "2026-11-23T17:21" and row.cells[-1] == (
        "2026-11-24T10:00",
        "succeeded",
    )
    assert len(made) <= _calendar.MAX_PERIODS + 1
    (row,) = calendar(cachework.Store(sqlite_url), since=dt.date(2026, 11, 24))
    assert len(row.cells) == 601 and row.cells[0][0] == "2026-11-24T00:00"


def test_a_fixed_offset_zone_or_an_unknown_one_leaves_the_others_drawn(url, clock, caplog):
    """A work with ``tz=timezone(timedelta(hours=2))`` was recorded as "UTC+02:00", which
    no zoneinfo knows: the whole calendar raised. A named fixed offset ("EET") was recorded
    by its name, another zone (EET has DST). Now offsets are recorded as offsets and read
    back; a zone that cannot be read leaves out that work only, with a warning."""
    plus_two = dt.timezone(dt.timedelta(hours=2), "EET")

    @cachework.work(name="fixed", store=url, every="hour", tz=plus_two)
    def fixed(period):
        return period.label

    @cachework.work(name="named", store=url, every="day", tz="UTC")
    def named(period):
        return period.label

    assert fixed() == "2026-11-24T12" and named() == "2026-11-24"
    store = cachework.Store(url)
    rows = {r.work: r for r in calendar(store, since=dt.date(2026, 11, 24))}
    assert rows["fixed"].tz == "UTC+02:00"
    assert rows["fixed"].cells[-1] == ("2026-11-24T12", "succeeded")
    assert rows["fixed"].cells[0][0] == "2026-11-24T00"  # midnight at +02:00
    assert periods.tz_of_text("UTC-09:30") == dt.timezone(-dt.timedelta(hours=9, minutes=30))

    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE cachework_works SET tz = 'Mars/Olympus' WHERE work = 'fixed'"))
    engine.dispose()
    with caplog.at_level("WARNING", logger="cachework"):
        assert [r.work for r in calendar(store)] == ["named"]
    assert "leaving out fixed" in caplog.text and "Mars/Olympus" in caplog.text
    with pytest.raises(ValueError, match="cannot draw the calendar of fixed: .*Mars/Olympus"):
        calendar(store, ["fixed"])
