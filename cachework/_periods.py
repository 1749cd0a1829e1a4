"""Once per period: the label of the period a moment falls in, by the calendar of a time zone.

A work with ``every="day"`` puts today's label into its key (and its args, as ``_period``),
so an argument-less ``run()`` runs once a day however often it is called or the script starts.
Labels come from the wall clock in ``tz``, so they follow DST: a day is a calendar day
whether it has 23, 24 or 25 hours.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Callable

from ._formats import SQLITE_TIME_FORMAT, WHOLE_SECOND_FORMAT
from ._typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "UNITS",
    "Period",
    "check_every",
    "clock",
    "current",
    "every_text",
    "parse_every",
    "period_label",
    "tz_of_text",
    "tz_text",
]

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

#: The current period of each (every, tz, lag): (start, end, Period), start and end those of
#: the period holding now, as clock() timestamps. Valid while the clock stays in [start, end),
#: whatever the period's length.
_memo: dict[tuple[object, object, int], tuple[float, float, Period]] = {}

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
        return current(every, tz).label
    check_every(every, tz)
    zone = _zone(tz)
    return _label(every, zone, _moment(at, zone))


def current(every: str | _dt.timedelta, tz: str | _dt.tzinfo | None = None, lag: int = 0) -> Period:
    """The period holding now (``clock()``), or the one ``lag`` periods before it."""
    # An event loop may ask thousands of times a second: the answer is kept with the bounds
    # of the period holding now and served while the clock stays inside them.
    now = clock()
    memo = _memo.get((every, tz, lag))
    if memo is not None and memo[0] <= now < memo[1]:
        return memo[2]
    check_every(every, tz)
    period = Period.of(every, tz, _dt.datetime.fromtimestamp(now, tz=_UTC))
    start, end = period.start.timestamp(), period.end.timestamp()
    for _ in range(lag):
        period = period.previous()
    if len(_memo) > 256:  # many works or zones: start over, the current ones come back
        _memo.clear()
    _memo[(every, tz, lag)] = (start, end, period)
    return period


def _moment(at: _dt.datetime | float, zone: _dt.tzinfo | None) -> _dt.datetime:
    """An aware datetime for ``at``: a timestamp, an aware datetime, or wall time in ``zone``."""
    if isinstance(at, (int, float)):
        return _dt.datetime.fromtimestamp(at, tz=_UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone) if zone is not None else at.astimezone()
    # Through UTC: a wall time that does not exist (skipped by DST) becomes the real moment
    # it names (as fold=0 reads it), not a label no moment has.
    return at.astimezone(_UTC)


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
        return start.strftime(SQLITE_TIME_FORMAT)
    return start.strftime(WHOLE_SECOND_FORMAT + "Z")


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


# -- Period ----------------------------------------------------------------------------------
_EXAMPLES = {
    "minute": "2026-11-25T14:03",
    "hour": "2026-11-25T14",
    "day": "2026-11-25",
    "week": "2026-W48",
    "month": "2026-11",
}
_LABEL_RE = {
    "minute": re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(~2)?"),
    "hour": re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2})(~2)?"),
    "day": re.compile(r"\d{4}-\d{2}-\d{2}"),
    "week": re.compile(r"(\d{4})-W(\d{2})"),
    "month": re.compile(r"(\d{4})-(\d{2})"),
}
_STEP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z")
_DAY = _dt.timedelta(days=1)


def _every_text(every: str | _dt.timedelta) -> str:
    return repr(every) if isinstance(every, _dt.timedelta) else f"{every!r}"


def every_text(every: str | _dt.timedelta) -> str:
    """``every`` as stored in ``cachework_works``: a unit, or a timedelta in seconds (``900s``)."""
    if isinstance(every, str):
        return every
    seconds = every.total_seconds()
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds!r}s"


def parse_every(text: str) -> str | _dt.timedelta:
    """The inverse of ``every_text``."""
    if text in UNITS:
        return text
    if text.endswith("s"):
        try:
            every = _dt.timedelta(seconds=float(text[:-1]))
        except ValueError:
            pass
        else:
            check_every(every)
            return every
    raise ValueError(f"every {text!r} is not a unit {UNITS} nor a number of seconds like '900s'")


def tz_text(tz: str | _dt.tzinfo | None) -> str | None:
    """``tz`` as stored: a zoneinfo name, ``UTC+02:00`` for a fixed offset, or None for
    the machine's local time."""
    if tz is None or isinstance(tz, str):
        return tz
    if isinstance(tz, _dt.timezone):
        # By its offset: str() of a named one is its name ("EET"), which zoneinfo reads
        # as another zone, one with DST.
        return str(_dt.timezone(tz.utcoffset(None)))
    return getattr(tz, "key", None) or str(tz)


_OFFSET_RE = re.compile(r"UTC([+-])(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{6}))?)?")


def tz_of_text(text: str | None) -> str | _dt.tzinfo | None:
    """The inverse of ``tz_text``: a fixed offset as a ``timezone``, a name as itself
    (checked: a ``ValueError`` names one no zoneinfo knows)."""
    if text is None:
        return None
    match = _OFFSET_RE.fullmatch(text)
    if match is None:
        _zone(text)
        return text
    sign, hours, minutes, seconds, micros = match.groups()
    offset = _dt.timedelta(
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds or 0),
        microseconds=int(micros or 0),
    )
    return _dt.timezone(-offset if sign == "-" else offset)


class Period:
    """One period of an ``every=`` schedule: the day (hour, week, ...) a call belongs to.

    ``start`` and ``end`` are aware datetimes in the schedule's zone, ``end`` exclusive and
    equal to the next period's ``start``, so a 23- or 25-hour day is exactly that long.
    ``label`` is what the key and the ``_period`` argument hold. Periods of one schedule
    are ordered by time; make them with ``Period.of``. Immutable and hashable.
    """

    # Written out rather than a frozen dataclass: dataclasses imports inspect, which a cold
    # start of cachework does not otherwise pay for.
    __slots__ = ("label", "start", "end", "every", "tz")
    #: What the key and the ``_period`` argument hold: ``2026-11-24``, ``2026-W48``,
    #: ``2026-11-24T10`` (an hour), ``2026-11-24T10:15:00Z`` (a step of a timedelta).
    label: str
    #: The first moment of the period, aware, in the schedule's zone.
    start: _dt.datetime
    #: The first moment after it (the next period's ``start``): ``end`` is exclusive.
    end: _dt.datetime
    #: The schedule: ``"day"``, ``"week"``, ... or a ``timedelta`` step.
    every: str | _dt.timedelta
    #: The schedule's zone, as given (None: the machine's local time).
    tz: str | _dt.tzinfo | None

    def __init__(
        self,
        label: str,
        start: _dt.datetime,
        end: _dt.datetime,
        every: str | _dt.timedelta,
        tz: str | _dt.tzinfo | None,
    ) -> None:
        for name, value in zip(self.__slots__, (label, start, end, every, tz), strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Period is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Period is immutable: cannot delete {name!r}")

    def _fields(self) -> tuple[Any, ...]:
        return (self.label, self.start, self.end, self.every, self.tz)

    # Equal when they are the same period of the same schedule, however the zone was
    # spelt ("UTC" or ZoneInfo("UTC")): as ordering says, so a == b exactly when a <= b <= a,
    # and a set or dict of periods holds each period once. Periods of different units
    # ("day" and timedelta(days=1)) or zones are never equal, even where they coincide.
    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Period:
            return NotImplemented
        if self is other:
            return True
        pair = self._order(other)
        return pair is not None and pair[0] == pair[1] and self.label == cast(Period, other).label

    def __hash__(self) -> int:
        return hash((self.label, self.every, self.start))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Period, self._fields())

    @classmethod
    def of(
        cls,
        every: str | _dt.timedelta,
        tz: str | _dt.tzinfo | None,
        value: Period | str | _dt.date | _dt.datetime,
    ) -> Period:
        """The period of ``every`` in ``tz`` named by ``value``: a label (``2026-11-25``),
        a ``date`` (the period holding its first moment; periods of a day or longer), a
        ``datetime`` (naive: wall time in ``tz``) or a Period of the same schedule.

        A value of another unit (a month label for a day, a week Period for a day) or a
        label no moment has (an hour skipped by DST) is refused with a ``ValueError``.
        """
        check_every(every, tz)
        zone = _zone(tz)
        if isinstance(value, Period):
            if value.every != every or _zone(value.tz) != zone:
                raise ValueError(
                    f"period {value.label!r} is of every={_every_text(value.every)}, "
                    f"tz={value.tz!r}; this schedule is every={_every_text(every)}, tz={tz!r}"
                )
            return value if value.tz == tz else _at(every, tz, zone, value.start)
        if isinstance(value, _dt.datetime):
            return _at(every, tz, zone, _moment(value, zone))
        if isinstance(value, _dt.date):
            return _at(every, tz, zone, _day_start(every, zone, value))
        if isinstance(value, str):
            return _parse(every, tz, zone, value)
        raise TypeError(
            f"a period is given as a label, a date, a datetime or a Period, not {value!r}"
        )

    def next(self) -> Period:
        """The period that starts where this one ends."""
        return _at(self.every, self.tz, _zone(self.tz), self.end)

    def previous(self) -> Period:
        """The period that ends where this one starts."""
        # In UTC: arithmetic on a zoned datetime is wall-clock arithmetic, which lands in
        # the wrong hour next to a clock change.
        return _at(self.every, self.tz, _zone(self.tz), self.start.astimezone(_UTC) - _US)

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Period({self.label!r}, every={_every_text(self.every)}, tz={self.tz!r})"

    # Ordered by time, within one schedule. Compared in UTC: two datetimes with the same
    # zone compare by wall time, which would make the two passes of a repeated hour equal.
    def _order(self, other: object) -> tuple[_dt.datetime, _dt.datetime] | None:
        if (
            not isinstance(other, Period)
            or other.every != self.every
            or _zone(other.tz) != _zone(self.tz)
        ):
            return None
        return self.start.astimezone(_UTC), other.start.astimezone(_UTC)

    def __lt__(self, other: object) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]


Period.__module__ = "cachework"


def _at(
    every: str | _dt.timedelta, tz: Any, zone: _dt.tzinfo | None, moment: _dt.datetime
) -> Period:
    """The period holding ``moment``."""
    label = _label(every, zone, moment)
    start, end = _bounds(every, zone, moment, label)
    return Period(label, _local(start, zone), _local(end, zone), every, tz)


def _day_start(every: str | _dt.timedelta, zone: _dt.tzinfo | None, day: _dt.date) -> _dt.datetime:
    """The first moment of ``day``, for schedules whose periods are a day or longer: a date
    names many shorter periods, so for those it is refused."""
    if isinstance(every, _dt.timedelta):
        if every % _DAY:
            raise ValueError(
                f"a date names many periods of every={_every_text(every)}: give a datetime "
                "or a label"
            )
        # Timedelta periods are steps of UTC time: a date is its UTC midnight.
        return _dt.datetime.combine(day, _dt.time(), tzinfo=_UTC)
    if every in ("minute", "hour"):
        raise ValueError(
            f"a date names many {every}s: give a datetime or a label like {_EXAMPLES[every]!r}"
        )
    # Midnight, wall time: where it does not exist (DST at midnight), the day starts when
    # the clocks jump, which is what the zone gives fold=0 in a gap.
    return _moment(_dt.datetime.combine(day, _dt.time()), zone)


def _parse(every: str | _dt.timedelta, tz: Any, zone: _dt.tzinfo | None, label: str) -> Period:
    if isinstance(every, _dt.timedelta):
        example = _step_label(every, _step_start(every, _EPOCH + 20416 * _DAY))
        match = _STEP_RE.fullmatch(label)
        if match is None or bool(match.group(1)) != (every < _SECOND):
            raise ValueError(
                f"{label!r} is not a label of every={_every_text(every)} (like {example!r})"
            )
        shown = _dt.datetime.strptime(label[:19], WHOLE_SECOND_FORMAT).replace(tzinfo=_UTC)
        if match.group(1):
            shown += int(match.group(1)[1:]) * _US
        # The label shows the step's start, truncated to the second: the step starting first
        # at or after it is the only candidate.
        moment = _EPOCH - ((_EPOCH - shown) // every) * every
    else:
        unit = every
        match = _LABEL_RE[unit].fullmatch(label)
        if match is None:
            raise ValueError(f"{label!r} is not a {unit} label (like {_EXAMPLES[unit]!r})")
        try:
            if unit == "week":
                wall = _dt.datetime.combine(
                    _dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1),
                    _dt.time(),
                )
            elif unit == "month":
                wall = _dt.datetime(int(match.group(1)), int(match.group(2)), 1)
            elif unit == "day":
                wall = _dt.datetime.fromisoformat(label)
            else:
                wall = _dt.datetime.fromisoformat(
                    f"{match.group(1)}T{match.group(2)}:{match.group(3) if unit == 'minute' else '00'}"
                ).replace(fold=1 if label.endswith("~2") else 0)
        except ValueError as e:
            raise ValueError(f"{label!r} is not a {unit} label: {e}") from None
        moment = _moment(wall, zone)
    period = _at(every, tz, zone, moment)
    if period.label != label and label.endswith("~2"):
        # Where the clocks go back by less than the unit (Lord Howe: 30 minutes), the
        # hour's start is not repeated; its second pass follows the first.
        period = period.next()
    if period.label != label and isinstance(every, _dt.timedelta):
        # Not a clock change: steps are UTC time, so the label is simply not a step's start.
        raise ValueError(
            f"{label!r} is not the start of a period of every={_every_text(every)} (those "
            f"around it are {period.previous().label!r} and {period.label!r})"
        )
    if period.label != label:
        where = f"in {tz}" if tz is not None else "in this machine's local time"
        raise ValueError(
            f"no moment {where} has the {every if isinstance(every, str) else 'period'} "
            f"label {label!r} (a time skipped, or not repeated, by a clock change?)"
        )
    return period
