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
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

_memo: dict[tuple[object, object, int], str] = {}

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
        # Labels only change at whole minutes (zone offsets are whole minutes), so an event
        # loop that asks thousands of times a second computes the label once a minute.
        now = clock()
        memo_key = (every, tz, int(now // 60))
        label = _memo.get(memo_key)
        if label is None:
            label = period_label(every, tz, now)
            if len(_memo) > 256:  # old minutes: drop them all, the current ones come back
                _memo.clear()
            _memo[memo_key] = label
        return label
    check_every(every, tz)
    zone = _zone(tz)
    if isinstance(at, (int, float)):
        moment = _dt.datetime.fromtimestamp(at, tz=_dt.timezone.utc)
    elif at.tzinfo is None:
        moment = at.replace(tzinfo=zone) if zone is not None else at.astimezone()
    else:
        moment = at
    if isinstance(every, _dt.timedelta):
        step = every.total_seconds()
        start = (moment - _EPOCH).total_seconds() // step * step
        return (_EPOCH + _dt.timedelta(seconds=start)).strftime("%Y-%m-%dT%H:%M:%SZ")
    local = moment.astimezone(zone) if zone is not None else moment.astimezone()
    label = local.strftime(_FORMATS[every])
    repeated = (
        zone is not None and local.fold and local.utcoffset() != local.replace(fold=0).utcoffset()
    )
    if every in ("hour", "minute") and repeated:
        label += "~2"
    return label
