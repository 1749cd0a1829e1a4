"""Once per period: labels by the calendar of a zone, across DST, month and year ends."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

import cachework
from cachework import _periods as periods
from cachework._periods import period_label

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


# -- Period ------------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cachework import Period  # noqa: E402

ZONES = [
    "Europe/Paris",
    "UTC",
    "America/New_York",
    "Australia/Lord_Howe",  # DST moves the clocks by 30 minutes
    "America/Sao_Paulo",  # until 2019, DST began and ended at midnight
]
EVERYS = [
    "minute",
    "hour",
    "day",
    "week",
    "month",
    dt.timedelta(seconds=10),
    dt.timedelta(seconds=90),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=6),
    dt.timedelta(days=1),
    dt.timedelta(days=7),
    dt.timedelta(milliseconds=250),
]
# Moments where periods are hard: clock changes, month and year ends, ISO week 53.
ANCHORS = [
    dt.datetime(2026, 3, 29, 1, tzinfo=UTC),  # Paris: 23-hour day
    dt.datetime(2026, 10, 25, 1, tzinfo=UTC),  # Paris: 25-hour day
    dt.datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York
    dt.datetime(2026, 11, 1, 6, tzinfo=UTC),
    dt.datetime(2026, 4, 4, 15, tzinfo=UTC),  # Lord Howe: 02:00 -> 01:30
    dt.datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
    dt.datetime(2018, 11, 4, 3, tzinfo=UTC),  # Sao Paulo: midnight -> 01:00
    dt.datetime(2019, 2, 17, 2, tzinfo=UTC),  # Sao Paulo: midnight -> 23:00 the day before
    dt.datetime(2026, 12, 31, 23, tzinfo=UTC),
    dt.datetime(2027, 1, 4, tzinfo=UTC),
    dt.datetime(2028, 2, 29, 23, tzinfo=UTC),
]
moments = st.one_of(
    st.datetimes(
        min_value=dt.datetime(2015, 1, 1),
        max_value=dt.datetime(2030, 12, 31),
        timezones=st.just(UTC),
    ),
    st.builds(
        lambda anchor, us: anchor + dt.timedelta(microseconds=us),
        st.sampled_from(ANCHORS),
        st.integers(-3 * 86400 * 10**6, 3 * 86400 * 10**6),
    ),
    st.builds(  # exactly on, or a microsecond either side of, an anchor's whole hour
        lambda anchor, h, us: anchor + dt.timedelta(hours=h, microseconds=us),
        st.sampled_from(ANCHORS),
        st.integers(-30, 30),
        st.sampled_from([-1, 0, 1]),
    ),
)
_US = dt.timedelta(microseconds=1)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(EVERYS), moments)
def test_a_period_agrees_with_period_label(zone, every, moment):
    p = Period.of(every, zone, moment)
    assert p.label == str(p) == period_label(every, zone, moment)
    assert p.start <= moment < p.end  # aware comparisons: by instant
    assert (
        p.start.tzinfo is not None
        and p.start.utcoffset() == p.start.astimezone(ZoneInfo(zone)).utcoffset()
    )
    # The period is exactly the moments with its label: none just before or at its end.
    # (Steps in UTC: arithmetic on a zoned datetime is wall-clock arithmetic.)
    start, end = p.start.astimezone(UTC), p.end.astimezone(UTC)
    assert period_label(every, zone, start) == p.label
    assert period_label(every, zone, end - _US) == p.label
    assert period_label(every, zone, start - _US) != p.label
    assert period_label(every, zone, end) != p.label


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(EVERYS), moments)
def test_period_round_trips(zone, every, moment):
    p = Period.of(every, zone, moment)
    assert Period.of(every, zone, p.label) == p
    assert Period.of(every, zone, p) == p
    assert Period.of(every, zone, p.start) == p
    assert Period.of(every, ZoneInfo(zone), p).label == p.label
    nxt, prev = p.next(), p.previous()
    assert nxt.start == p.end and prev.end == p.start
    assert nxt.previous() == p == prev.next()
    assert prev < p < nxt and p <= p and p >= p and not p < p
    assert sorted([nxt, p, prev]) == [prev, p, nxt]
    assert len({prev, p, nxt}) == 3
    if every in ("day", "week", "month"):  # a date of the period names it too
        local_day = p.start.astimezone(ZoneInfo(zone)).date()
        assert Period.of(every, zone, local_day) == p


def test_days_are_23_24_and_25_hours_long_in_paris():
    def hours(label):
        p = Period.of("day", "Europe/Paris", label)
        return (p.end.astimezone(UTC) - p.start.astimezone(UTC)) / dt.timedelta(hours=1)

    assert [hours(d) for d in ("2026-03-29", "2026-03-30", "2026-10-25")] == [23, 24, 25]
    day = Period.of("day", "Europe/Paris", "2026-10-25")
    assert day.start == dt.datetime(2026, 10, 25, tzinfo=ZoneInfo("Europe/Paris"))
    assert day.start.tzinfo == ZoneInfo("Europe/Paris") and day.every == "day"
    assert day.tz == "Europe/Paris"


def test_the_two_passes_of_a_repeated_hour_are_two_ordered_periods():
    first = Period.of("hour", "Europe/Paris", "2026-10-25T02")
    second = first.next()
    assert second.label == "2026-10-25T02~2" and second.next().label == "2026-10-25T03"
    assert first < second and first != second
    assert second.start.astimezone(UTC) == dt.datetime(2026, 10, 25, 1, tzinfo=UTC)


def test_weeks_months_and_years_turn_over():
    assert Period.of("week", "UTC", "2026-W53").next().label == "2027-W01"
    assert Period.of("week", "UTC", dt.date(2027, 1, 1)).label == "2026-W53"
    assert Period.of("month", "UTC", "2026-12").next().label == "2027-01"
    assert Period.of("day", "UTC", "2027-01-01").previous().label == "2026-12-31"
    assert Period.of("day", "UTC", "2028-02-28").next().label == "2028-02-29"
    step = Period.of(dt.timedelta(hours=6), "UTC", "2026-12-31T18:00:00Z")
    assert step.next().label == "2027-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "every,value,message",
    [
        ("day", "2026-11", "not a day label .*2026-11-25"),
        ("month", "2026-11-25", "not a month label"),
        ("week", "2026-W54", "not a week label"),
        ("day", "2026-02-30", "not a day label"),
        ("hour", "2026-03-29T02", "no moment in Europe/Paris has the hour label"),  # skipped
        ("hour", "2026-10-25T03~2", "no moment"),  # not repeated
        ("hour", dt.date(2026, 11, 25), "a date names many hours"),
        # not a step's start: said so, with the steps around it (not "a clock change?")
        (
            dt.timedelta(hours=6),
            "2026-11-25T01:00:00Z",
            r"not the start of a period .*'2026-11-25T00:00:00Z' and '2026-11-25T06:00:00Z'",
        ),
        (dt.timedelta(hours=6), "2026-11-25", "not a label of every="),
        (dt.timedelta(hours=6), dt.date(2026, 11, 25), "a date names many periods"),
    ],
)
def test_a_value_of_another_unit_is_refused(every, value, message):
    with pytest.raises(ValueError, match=message):
        Period.of(every, "Europe/Paris", value)


def test_a_period_of_another_schedule_is_refused():
    week = Period.of("week", "Europe/Paris", "2026-W48")
    with pytest.raises(ValueError, match="of every='week'.*this schedule is every='day'"):
        Period.of("day", "Europe/Paris", week)
    with pytest.raises(ValueError, match="tz='UTC'"):
        Period.of("day", "Europe/Paris", Period.of("day", "UTC", "2026-11-25"))
    with pytest.raises(TypeError):
        _ = week < Period.of("day", "Europe/Paris", "2026-11-25")
    with pytest.raises(TypeError, match="label, a date, a datetime or a Period"):
        Period.of("day", "UTC", 20261125)


def test_period_is_public_frozen_and_pickles():
    import pickle

    p = Period.of("day", "Europe/Paris", "2026-11-25")
    assert "Period" in cachework.__all__ and Period.__module__ == "cachework"
    assert repr(p) == "Period('2026-11-25', every='day', tz='Europe/Paris')"
    with pytest.raises(AttributeError, match="immutable"):
        p.label = "2026-11-26"
    assert pickle.loads(pickle.dumps(p)) == p
    assert Period.of(dt.timedelta(seconds=10), None, p.start).label == "2026-11-24T23:00:00Z"


def test_a_period_equals_itself_however_its_zone_is_spelt():
    """Equality agrees with ordering and hashing: the same day of "UTC" and ZoneInfo("UTC")
    was <= and >= but not ==, and hashed apart (a set held it twice)."""
    named, zoned = (
        Period.of("day", "UTC", "2026-11-25"),
        Period.of("day", ZoneInfo("UTC"), "2026-11-25"),
    )
    assert named <= zoned <= named
    assert named == zoned and hash(named) == hash(zoned) and len({named, zoned}) == 1
    # Different units or zones never compare equal, even where their bounds coincide.
    assert named != Period.of(dt.timedelta(days=1), "UTC", "2026-11-25T00:00:00Z")
    assert named != Period.of("day", "Europe/London", "2026-11-25")
    assert named != Period.of("day", "UTC", "2026-11-26")
    first = Period.of("hour", "Europe/Paris", "2026-10-25T02")
    second = Period.of("hour", "Europe/Paris", "2026-10-25T02~2")
    assert first != second and first < second and len({first, second}) == 2
