"""The calendar: works x periods, one status per cell, read from the store without any code.

The store knows each scheduled work's ``every``, ``tz`` and ``lag`` (``cachework_works``),
so the calendar lists the periods a work should have run for itself: a period with no row
in the database is "never run", shown as such, while periods before the work's first run
are blank. ``cachework calendar`` draws it; ``--json`` prints ``Calendar.as_dict()``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from . import _periods as periods
from ._errors import StoreError
from ._log import log
from ._periodic import first_period, label_column
from ._periods import Period
from ._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ._records import JSON
    from ._reports import Reports

__all__ = ["BEFORE_FIRST_RUN", "NEVER_RUN", "STATUSES", "CalendarRow", "calendar"]

#: A period of the work's schedule with no call and no run: it should have run and did not.
NEVER_RUN = "never run"
#: A period nothing was expected of: before the work's first run, or not due yet (with
#: ``lag=1`` today's period runs tomorrow). Shown blank.
BEFORE_FIRST_RUN = ""
#: Every status a cell can have, worst first: a period with several calls (other arguments)
#: shows the worst of them.
STATUSES = ("running", "failed", "interrupted", NEVER_RUN, "succeeded", BEFORE_FIRST_RUN)
#: Periods per row when no range is given.
DEFAULT_PERIODS = 30
#: At most this many periods per row (the latest): a minute work over a month is 43,200.
MAX_PERIODS = 1000


class CalendarRow(NamedTuple):
    """One work's row of ``Store.calendar``: its schedule and, oldest first, (period label,
    status) cells. A status is ``succeeded``, ``failed``, ``running``, ``interrupted``,
    ``never run`` (due, and no call or run at all) or ``""`` (nothing expected of it)."""

    work: str
    every: str
    tz: str | None
    lag: int
    cells: list[tuple[str, str]]

    def as_dict(self) -> dict[str, JSON]:
        """The row as ``cachework calendar --json`` prints it: the schedule and a list of
        ``{"period": label, "status": status}``, where a period nothing was expected of
        has status ``None`` (JSON ``null``) rather than the blank cell's ``""``."""
        return {
            "work": self.work,
            "every": self.every,
            "tz": self.tz,
            "lag": self.lag,
            "periods": [
                {"period": label, "status": status or None} for label, status in self.cells
            ],
        }


CalendarRow.__module__ = "cachework"


def calendar(
    store: Reports,
    works: Iterable[str] | None = None,
    *,
    since: _dt.datetime | _dt.date | None = None,
    until: _dt.datetime | _dt.date | None = None,
) -> list[CalendarRow]:
    """One row per work with a schedule (``works``: only these), each with its periods from
    ``since`` (default: the last 30 periods) to ``until`` (default: now), at most the latest
    ``MAX_PERIODS``. A date means its first moment for ``since`` and its last for ``until``.
    """
    wanted = None if works is None else set(works)
    rows = []
    for name, every_text, tz_text, lag in _schedules(store):
        if wanted is not None and name not in wanted:
            continue
        try:
            every = periods.parse_every(every_text)
            tz = periods.tz_of_text(tz_text)
        except (ValueError, OverflowError) as e:
            # A schedule this library cannot read (a zone it does not know, say one written
            # by a machine with other zone data): that work only, not the whole calendar.
            if wanted is not None:
                raise ValueError(f"cannot draw the calendar of {name}: {e}") from None
            log.warning("calendar: leaving out %s, whose schedule cannot be read: %s", name, e)
            continue
        span = _span(every, tz, since, until)
        first_run = first_period(store, name, every, tz)
        due = periods.current(every, tz, lag)
        found = _statuses(store, name, [p.label for p in span])
        cells = []
        for p in span:
            expected = first_run is not None and first_run <= p <= due
            cells.append((p.label, found.get(p.label, NEVER_RUN if expected else BEFORE_FIRST_RUN)))
        rows.append(CalendarRow(name, every_text, tz_text, lag, cells))
    if wanted is not None:
        unknown = wanted - {r.work for r in rows}
        if unknown:
            raise ValueError(
                f"no schedule recorded for {', '.join(sorted(unknown))}: a work appears in the "
                "calendar once it has run with every="
            )
    return rows


def _moment(value: _dt.datetime | _dt.date, end: bool) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value
    # A date: its first moment, or its last for the end of a range (wall time in tz).
    return _dt.datetime.combine(value, _dt.time.max if end else _dt.time())


def _span(
    every: str | _dt.timedelta,
    tz: str | _dt.tzinfo | None,
    since: _dt.datetime | _dt.date | None,
    until: _dt.datetime | _dt.date | None,
) -> list[Period]:
    now = periods.current(every, tz)
    last = now if until is None else min(Period.of(every, tz, _moment(until, True)), now)
    if since is None:
        first, most = None, DEFAULT_PERIODS
    else:
        first, most = Period.of(every, tz, _moment(since, False)), MAX_PERIODS
    # From the latest back: only the periods shown are made, however far back ``since`` is
    # (a minute schedule since a year ago is half a million periods).
    out: list[Period] = []
    p = last
    while len(out) < most and (first is None or p >= first):
        out.append(p)
        p = p.previous()
    out.reverse()
    return out


def _schedules(store: Reports) -> list[tuple[str, str, str | None, int]]:
    import sqlalchemy as sa

    from .schema import works

    revision = store.revision()
    if revision is not None and revision < "0002":
        # A store opened as it is (read-only, or by a reading command): it has no schedules.
        raise StoreError(
            f"store {store.safe_url()} is at schema revision {revision}, which records no "
            "schedules: `cachework db upgrade` adds them, and each work's next run records its own"
        )
    with store._reading() as conn:
        q = sa.select(works.c.work, works.c.every, works.c.tz, works.c.lag).order_by(works.c.work)
        return [(r.work, r.every, r.tz, r.lag) for r in conn.execute(q)]


def _statuses(store: Reports, name: str, labels: list[str]) -> dict[str, str]:
    """The status of each period that has a call or a run: per call (key), the call's
    status, else its latest run's (a run released by a signal leaves no call); per
    period, the worst of its calls."""
    import sqlalchemy as sa

    from .schema import calls, runs

    per_key: dict[str, tuple[str, str]] = {}  # key -> (label, status)
    with store._reading() as conn:
        for i in range(0, len(labels), 500):
            chunk = labels[i : i + 500]
            run_label = label_column(store, runs.c.args)
            latest = conn.execute(
                sa.select(runs.c.key, run_label.label("period"), runs.c.status)
                .where(runs.c.work == name, run_label.in_(chunk))
                .order_by(runs.c.id)
            )
            for key, label, status in latest:
                per_key[key] = (label, status)  # ids grow: the last one read is the latest
            call_label = label_column(store, calls.c.args)
            found = conn.execute(
                sa.select(calls.c.key, call_label.label("period"), calls.c.status).where(
                    calls.c.work == name, call_label.in_(chunk)
                )
            )
            for key, label, status in found:
                per_key[key] = (label, status)
    worst: dict[str, str] = {}
    rank = {s: i for i, s in enumerate(STATUSES)}
    for label, status in per_key.values():
        if label not in worst or rank[status] < rank[worst[label]]:
            worst[label] = status
    return worst
