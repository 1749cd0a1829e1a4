"""Once per period: the label of the period a moment falls in, by the calendar of a time zone.

A work with ``every="day"`` puts today's label into its key (and its args, as ``_period``),
so an argument-less ``run()`` runs once a day however often it is called or the script starts.
Labels come from the wall clock in ``tz``, so they follow DST: a day is a calendar day
whether it has 23, 24 or 25 hours.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable

__all__ = ["UNITS", "check_every", "clock", "period_label"]

UNITS = ("minute", "hour", "day", "week", "month")
_FORMATS = {
    "minute": "%Y-%m-%dT%H:%M",
    "hour": "%Y-%m-%dT%H",
    "day": "%Y-%m-%d",
    "week": "%G-W%V",  # ISO week: Monday to Sunday, week 1 holds the year's first Thursday
    "month": "%Y-%m",
}
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_US = _dt.timedelta(microseconds=1)
_SECOND = _dt.timedelta(seconds=1)

#: The current period of each (every, tz): (start, end, label), start and end as clock()
#: timestamps. Valid while the clock stays in [start, end), whatever the period's length.
_memo: dict[tuple[object, object], tuple[float, float, str]] = {}

#: Where "now" comes from. Tests and simulations replace it to step through days.
clock: Callable[[], float] = time.time


def _zone(tz: str | _dt.tzinfo | None) -> _dt.tzinfo | None:
    if tz is None or isinstance(tz, _dt.tzinfo):
        return tz
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"tz {tz!r} is not a known time zone name (e.g. 'Europe/Paris')") from e


def check_every(every: str | _dt.timedelta, tz: str | _dt.tzinfo | None = None) -> None:
    """Refuse a bad ``every``/``tz`` when the work is made, not at its first call."""
    if isinstance(every, _dt.timedelta):
        if every.total_seconds() <= 0:
            raise ValueError(f"every must be a positive timedelta, not {every!r}")
    elif every not in UNITS:
        raise ValueError(f"every must be one of {UNITS} or a timedelta, not {every!r}")
    _zone(tz)


def period_label(
    every: str | _dt.timedelta,
    tz: str | _dt.tzinfo | None = None,
    at: _dt.datetime | float | None = None,
) -> str:
    """The label of the period holding ``at`` (default: now), e.g. ``2026-11-25``.

    ``tz`` is a zoneinfo name; None means the machine's local time. A timedelta period
    counts fixed steps from the Unix epoch, and its label is the step's start in UTC. In
    the hour repeated when DST ends, ``hour`` and ``minute`` labels of the second pass get
    a ``~2`` suffix, so the two real hours stay two periods.
    """
    if at is None:
        # An event loop may ask thousands of times a second: the current period's label is
        # kept with its bounds and served while the clock stays inside them.
        now = clock()
        memo = _memo.get((every, tz))
        if memo is not None and memo[0] <= now < memo[1]:
            return memo[2]
        check_every(every, tz)
        zone = _zone(tz)
        moment = _moment(now, zone)
        label = _label(every, zone, moment)
        start, end = _bounds(every, zone, moment, label)
        if len(_memo) > 256:  # many works or zones: start over, the current ones come back
            _memo.clear()
        _memo[(every, tz)] = (start.timestamp(), end.timestamp(), label)
        return label
    check_every(every, tz)
    zone = _zone(tz)
    return _label(every, zone, _moment(at, zone))


def _moment(at: _dt.datetime | float, zone: _dt.tzinfo | None) -> _dt.datetime:
    """An aware datetime for ``at``: a timestamp, an aware datetime, or wall time in ``zone``."""
    if isinstance(at, (int, float)):
        return _dt.datetime.fromtimestamp(at, tz=_UTC)
    if at.tzinfo is None:
        return at.replace(tzinfo=zone) if zone is not None else at.astimezone()
    return at


def _local(moment: _dt.datetime, zone: _dt.tzinfo | None) -> _dt.datetime:
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def _label(every: str | _dt.timedelta, zone: _dt.tzinfo | None, moment: _dt.datetime) -> str:
    if isinstance(every, _dt.timedelta):
        return _step_label(every, _step_start(every, moment))
    local = _local(moment, zone)
    label = local.strftime(_FORMATS[every])
    repeated = (
        zone is not None and local.fold and local.utcoffset() != local.replace(fold=0).utcoffset()
    )
    if every in ("hour", "minute") and repeated:
        label += "~2"
    return label


def _step_start(every: _dt.timedelta, moment: _dt.datetime) -> _dt.datetime:
    # timedelta // timedelta is exact integer arithmetic in microseconds: no float drift.
    return _EPOCH + ((moment - _EPOCH) // every) * every


def _step_label(every: _dt.timedelta, start: _dt.datetime) -> str:
    if every < _SECOND:  # steps shorter than a second need the fraction to stay apart
        return start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the bounds of a period ------------------------------------------------------------------
# Calendar periods are found from the labels themselves: a period starts at the first moment
# that has its label and ends at the first later moment that has another. Wall-clock
# arithmetic gives the answer while the zone's offset holds; where it changes (DST, or a
# zone's history), the change is located by bisection and the search goes on from there.
# So bounds agree with period_label by construction, in any zone.


def _bounds(
    every: str | _dt.timedelta, zone: _dt.tzinfo | None, moment: _dt.datetime, label: str
) -> tuple[_dt.datetime, _dt.datetime]:
    """The [start, end) of the period ``label`` that holds ``moment``, as aware UTC datetimes."""
    if isinstance(every, _dt.timedelta):
        start = _step_start(every, moment)
        return start, start + every
    return _start(every, zone, moment, label), _end(every, zone, moment, label)


def _floor_wall(every: str, wall: _dt.datetime) -> _dt.datetime:
    if every == "minute":
        return wall.replace(second=0, microsecond=0)
    if every == "hour":
        return wall.replace(minute=0, second=0, microsecond=0)
    day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    if every == "day":
        return day
    if every == "week":
        return day - _dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_wall(every: str, floor: _dt.datetime) -> _dt.datetime:
    if every == "minute":
        return floor + _dt.timedelta(minutes=1)
    if every == "hour":
        return floor + _dt.timedelta(hours=1)
    if every == "day":
        return floor + _dt.timedelta(days=1)
    if every == "week":
        return floor + _dt.timedelta(days=7)
    if floor.month == 12:
        return floor.replace(year=floor.year + 1, month=1)
    return floor.replace(month=floor.month + 1)


def _offset(instant: _dt.datetime, zone: _dt.tzinfo | None) -> _dt.timedelta:
    return _local(instant, zone).utcoffset() or _dt.timedelta(0)


def _instant(wall: _dt.datetime, offset: _dt.timedelta) -> _dt.datetime:
    """The UTC instant of naive wall time ``wall`` at UTC offset ``offset``."""
    return (wall.replace(tzinfo=None) - offset).replace(tzinfo=_UTC)


def _first(
    lo: _dt.datetime, hi: _dt.datetime, changed: Callable[[_dt.datetime], bool]
) -> _dt.datetime:
    """The first instant in (lo, hi] where ``changed`` holds, given it fails at lo and holds
    at hi: a zone changes its offset once in a period, at a precise instant."""
    lo_us, hi_us = (lo - _EPOCH) // _US, (hi - _EPOCH) // _US
    while hi_us - lo_us > 1:
        mid = (lo_us + hi_us) // 2
        if changed(_EPOCH + mid * _US):
            hi_us = mid
        else:
            lo_us = mid
    return _EPOCH + hi_us * _US


def _start(every: str, zone: _dt.tzinfo | None, moment: _dt.datetime, label: str) -> _dt.datetime:
    at = moment.astimezone(_UTC)
    while True:
        offset = _offset(at, zone)
        start = _instant(_floor_wall(every, _local(at, zone)), offset)
        if _offset(start, zone) != offset:
            # The offset changed after the wall-clock start: begin at the change, or before it
            # if the moment just before still has this label.
            def same(t: _dt.datetime, offset: _dt.timedelta = offset) -> bool:
                return _offset(t, zone) == offset

            start = _first(start, at, same)
        if _label(every, zone, start - _US) != label:
            return start
        at = start - _US


def _end(every: str, zone: _dt.tzinfo | None, moment: _dt.datetime, label: str) -> _dt.datetime:
    at = moment.astimezone(_UTC)
    while True:
        offset = _offset(at, zone)
        end = _instant(_next_wall(every, _floor_wall(every, _local(at, zone))), offset)
        if _offset(end - _US, zone) != offset:

            def moved(t: _dt.datetime, offset: _dt.timedelta = offset) -> bool:
                return _offset(t, zone) != offset

            end = _first(at, end - _US, moved)
        if _label(every, zone, end) != label:
            return end
        at = end
