"""Periods as inputs: a call's period is fixed once, handed to ``run``, caught up and backfilled.

A work with ``every=`` runs its function through a ``PeriodCall``: the function with the
Period its call was made for. The period is decided when the call is made (the clock is
never read again for it), travels with the call to a thread or another process, and is
given to the function if it declares a parameter named ``period``. The key and the
``_period`` argument hold the period's label, exactly as before periods were values.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Callable, Collection, Iterator

from . import _keys as keys
from . import _periods as periods
from ._errors import error_text
from ._log import log
from ._periods import Period
from ._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import inspect
    from typing import Any

    from sqlalchemy import ColumnElement

    from ._reports import Reports
    from ._store import Store
    from ._work import Work

__all__ = ["BackfillReport", "PeriodCall"]


class _Unknown(enum.Enum):
    """Not looked at yet: a sentinel that the type checker tells apart from a found None."""

    UNKNOWN = enum.auto()


_UNKNOWN = _Unknown.UNKNOWN
#: Calls the period's keys are checked in: one query per this many periods.
_CHUNK = 500
#: Argument sets whose catch-up this process remembers per work (then it starts over).
_CAUGHT_SIZE = 1024


class BackfillReport(NamedTuple):
    """What ``work.backfill`` did, by period label, oldest first."""

    #: Periods that ran and succeeded.
    ran: list[str]
    #: Periods already succeeded (or finished meanwhile by another process): not run.
    hit: list[str]
    #: Periods that ran and failed: label -> ``"ErrorType: message"``.
    failed: dict[str, str]
    #: Under ``dry_run=True``: the periods a backfill would run.
    would_run: list[str]

    @property
    def ok(self) -> bool:
        """Whether no period failed (``cachework backfill`` exits 1 otherwise); a dry run,
        which runs nothing, is always ok."""
        return not self.failed


BackfillReport.__module__ = "cachework"


class PeriodCall:
    """The work's function, called for one period. ``ran`` tells a run from a hit."""

    __slots__ = ("fn", "period", "work", "ran")

    def __init__(self, fn: Callable[..., object], period: Period, work: Work) -> None:
        self.fn, self.period, self.work, self.ran = fn, period, work, False

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.ran = True
        record_schedule(self.work)
        takes = takes_period(self.fn, self.work._cw_bound_self)
        if takes is None:
            return self.fn(*args, **kwargs)
        return takes.call(self.fn, args, kwargs, self.period)


# -- a parameter named ``period`` -------------------------------------------------------------
class _PeriodParameter:
    """How to bind and call a function that declares ``period``: callers bind to its
    signature without ``period`` (so keys are what they were), and the call puts the
    period back in its place, whatever that place is."""

    def __init__(self, signature: inspect.Signature, bound_self: bool) -> None:
        from ._binding import Binder

        self.signature = signature
        self.without = signature.replace(
            parameters=[p for p in signature.parameters.values() if p.name != "period"]
        )

        def without_period(*args: object, **kwargs: object) -> None: ...

        setattr(without_period, "__signature__", self.without)  # noqa: B010 (typeshed lacks it)
        self.binder = Binder(without_period, skip_self=bound_self)

    def call(
        self,
        fn: Callable[..., object],
        args: tuple[object, ...],
        kwargs: dict[str, object],
        period: Period,
    ) -> object:
        bound = self.without.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        positional: list[object] = []
        named: dict[str, object] = {}
        for p in self.signature.parameters.values():
            value: Any = period if p.name == "period" else values.get(p.name)
            if p.kind <= p.POSITIONAL_OR_KEYWORD:
                positional.append(value)
            elif p.kind == p.VAR_POSITIONAL:
                positional.extend(value)
            elif p.kind == p.KEYWORD_ONLY:
                named[p.name] = value
            else:
                named.update(value)
        return fn(*positional, **named)


_takes: dict[Callable[..., object], _PeriodParameter | None] = {}


def takes_period(fn: Callable[..., object], bound_self: bool) -> _PeriodParameter | None:
    """Whether ``fn`` declares a parameter named ``period`` (not ``*period``), and how to
    bind and call it. Read from the code object where it can, so a cold start of a work
    without one never imports ``inspect``."""
    found = _takes.get(fn, _UNKNOWN)
    if found is not _UNKNOWN:
        return found
    found = None
    code = getattr(fn, "__code__", None)
    if code is None or hasattr(fn, "__wrapped__"):
        maybe = True
    else:
        maybe = "period" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    if maybe:
        import inspect

        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            pass
        else:
            parameter = signature.parameters.get("period")
            if parameter is not None and parameter.kind in (
                parameter.POSITIONAL_ONLY,
                parameter.POSITIONAL_OR_KEYWORD,
                parameter.KEYWORD_ONLY,
            ):
                found = _PeriodParameter(signature, bound_self)
    _takes[fn] = found
    return found


def function(work: Work) -> Callable[..., object]:
    """The work's own function: a decorated function's, or the ``run`` its class defines
    (read from the class: read from the instance, it would be a bound method)."""
    return work.__dict__.get("_cw_raw") or type(work)._cw_raw


#: The name the period's label has in the key and the args JSON. A parameter or keyword of
#: that name would be overwritten by the label: two calls differing in it would share a key.
PERIOD_ARG = "_period"


def refuse_period_arg(fn: Callable[..., object], name: str) -> None:
    """Refuse, when an every= work is made, a function with a parameter named ``_period``
    (of any kind): the period's label takes that name in the bound arguments, so its value
    would never reach the key, and calls differing only in it would hit each other's call.
    Read from the code object where it can, so a cold start never imports ``inspect``."""
    code = getattr(fn, "__code__", None)
    if code is not None and not hasattr(fn, "__wrapped__"):
        count = code.co_argcount + code.co_kwonlyargcount
        count += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kwargs
        names: Collection[str] = code.co_varnames[:count]
    else:
        import inspect

        try:
            names = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return
    if PERIOD_ARG in names:
        raise ValueError(
            f"{name}: a work with every= cannot have a parameter named {PERIOD_ARG}: that name "
            f"holds the period's label in the key and the args JSON, so its value would be "
            f"overwritten; rename it (a parameter named period receives the call's Period)"
        )


def bind(
    work: Work, args: tuple[object, ...], kwargs: dict[str, object], period: Period
) -> dict[str, object]:
    """The bound arguments of a call for ``period``: the caller's, plus ``_period``."""
    if PERIOD_ARG in kwargs:
        # Into **kwargs it would bind as _period and be overwritten by the label below.
        raise TypeError(
            f"{work.name}: {PERIOD_ARG} is the period's label, set by cachework, not an "
            f"argument; to run another period, call run_for(period, ...)"
        )
    takes = takes_period(function(work), work._cw_bound_self)
    if takes is None:
        bound = work._cw_binder(args, kwargs)
    else:
        if "period" in kwargs:
            raise TypeError(
                f"{work.name}: period is given by cachework (the call's period), not by the "
                f"caller; to run another period, call run_for(period, ...)"
            )
        bound = takes.binder(args, kwargs)
        ignored = work._cw_binder.ignored  # ignore= applies to this binding too
        if ignored.names:
            ignored(bound)
    bound[PERIOD_ARG] = period.label
    return bound


# -- the store's side ---------------------------------------------------------------------------
_recorded: set[tuple[str, str, str, str | None, int]] = set()


def record_schedule(work: Work) -> None:
    """Write the work's schedule to ``cachework_works`` if it is missing or changed there.

    Called when a call runs (never on a hit), once per process, work and schedule. A
    failure is logged, not raised: the schedule serves the calendar and must not fail a run.
    """
    store = work.store
    assert work.every is not None  # only a work with every= makes period calls
    every, tz, lag = periods.every_text(work.every), periods.tz_text(work.tz), work.lag
    mark = (store.url, work.name, every, tz, lag)
    if mark in _recorded:
        return
    _recorded.add(mark)
    try:
        _write_schedule(store, work.name, every, tz, lag)
    except Exception as e:
        log.warning("could not record the schedule of %s in %s: %s", work.name, store.safe_url(), e)


def _write_schedule(store: Store, name: str, every: str, tz: str | None, lag: int) -> None:
    import sqlalchemy as sa

    from .schema import works

    engine = store._engine()
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(works.c.every, works.c.tz, works.c.lag).where(works.c.work == name)
        ).first()
        if row is not None and (row.every, row.tz, row.lag) == (every, tz, lag):
            return
        values = {
            "every": every,
            "tz": tz,
            "lag": lag,
            "updated_at": _dt.datetime.now(_dt.timezone.utc),
        }
        # An upsert: another process may write the same row between the read and here.
        conn.execute(
            store._ensure()
            .upsert(works)
            .values(work=name, **values)
            .on_conflict_do_update(index_elements=[works.c.work], set_=values)
        )
    log.info("recorded the schedule of %s: every=%s tz=%s lag=%d", name, every, tz, lag)


def label_column(store: Reports, args: ColumnElement[str]) -> ColumnElement[str]:
    """SQL for the ``_period`` label inside an ``args`` column."""
    return store._ensure().arg_text(args, PERIOD_ARG)


def first_period(
    store: Reports, name: str, every: str | _dt.timedelta, tz: str | _dt.tzinfo | None
) -> Period | None:
    """The oldest period of this schedule that work ``name`` has a run for (labels of an
    earlier schedule, say hours before it became daily, are passed over)."""
    import sqlalchemy as sa

    from .schema import runs

    engine = store._engine()
    label = label_column(store, runs.c.args)
    q = (
        sa.select(label.label("period"))
        .where(runs.c.work == name, label.is_not(None))
        .distinct()
        .order_by(label)
    )
    with engine.connect() as conn:
        for (text,) in conn.execute(q):
            try:
                return Period.of(every, tz, text)
            except (TypeError, ValueError):
                continue
    return None


def _succeeded(store: Store, name: str, wanted: list[str]) -> set[str]:
    """Which of these keys of ``name`` have a succeeded call, readable by this library."""
    import sqlalchemy as sa

    from .schema import calls

    done: set[str] = set()
    with store._engine().connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            q = sa.select(calls.c.key).where(
                calls.c.work == name,
                calls.c.key.in_(wanted[i : i + _CHUNK]),
                calls.c.status == "succeeded",
                calls.c.key_scheme == keys.KEY_SCHEME,
            )
            done.update(k for (k,) in conn.execute(q))
    return done


def between(first: Period, last: Period) -> Iterator[Period]:
    """Every period from ``first`` to ``last``, both included, oldest first, as they are
    needed: a span can be millions of minutes long."""
    p = first
    while p <= last:
        yield p
        p = p.next()


def each_succeeded(
    work: Work, first: Period, last: Period, args: tuple[object, ...], kwargs: dict[str, object]
) -> Iterator[tuple[Period, bool]]:
    """Every period from ``first`` to ``last``, oldest first, with whether it has a
    succeeded call for these arguments (a failed or never run period has not), read
    ``_CHUNK`` periods at a time, so a caller that has seen enough can stop."""
    bound = bind(work, args, kwargs, first)
    version = work._cw_options.key_version
    keyed: list[tuple[Period, str]] = []
    for p in between(first, last):
        bound[PERIOD_ARG] = p.label
        keyed.append((p, keys.key_for(bound, version)))
        if len(keyed) == _CHUNK:
            done = _succeeded(work.store, work.name, [k for _, k in keyed])
            yield from ((p, k in done) for p, k in keyed)
            keyed = []
    if keyed:
        done = _succeeded(work.store, work.name, [k for _, k in keyed])
        yield from ((p, k in done) for p, k in keyed)


def succeeded(
    work: Work, first: Period, last: Period, args: tuple[object, ...], kwargs: dict[str, object]
) -> list[tuple[Period, bool]]:
    """``each_succeeded``, all of it."""
    return list(each_succeeded(work, first, last, args, kwargs))


# -- catch-up and backfill ----------------------------------------------------------------------
def _error(e: BaseException) -> str:
    return f"{type(e).__qualname__}: {error_text(e)}"


def catch_up(
    work: Work,
    fn: Callable[..., object],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    current: Period,
) -> dict[str, str]:
    """Run, oldest first, every period before ``current`` since the catch-up start that has
    no succeeded call for these arguments. Returns the failed ones: label -> error.

    Each argument set is checked once per period and process: once caught up to the
    current period, later calls in it go straight to the current call, and the next
    period's check starts where this one ended.
    """
    bound = bind(work, args, kwargs, current)
    del bound[PERIOD_ARG]
    these = keys.key_for(bound, work._cw_options.key_version)  # the arguments, whatever the period
    caught = work.__dict__.get("_cw_caught")
    if caught is None:
        caught = work.__dict__["_cw_caught"] = {}
    until = caught.get(these)
    if until is not None and until >= current:
        return {}
    if until is not None:
        start: Period | None = until
    elif work.catchup is True:
        assert work.every is not None  # catchup= needs every=
        start = first_period(work.store, work.name, work.every, work.tz)
    else:
        start = work.catchup
    failed: dict[str, str] = {}
    if start is not None and start < current:
        limit = work.catchup_limit
        last = current.previous()
        todo = []
        # Stop looking once over the limit: a start years back on a minute schedule would
        # otherwise build and check millions of periods only to refuse them.
        for p, ok in each_succeeded(work, start, last, args, kwargs):
            if not ok:
                todo.append(p)
                if len(todo) > limit:
                    raise ValueError(
                        f"{work.name}: catching up would run more than {limit} periods (from "
                        f"{todo[0]}; the catch-up spans {start} to {last}), over "
                        f"catchup_limit={limit}; nothing ran. Raise catchup_limit, or fill "
                        "them with work.backfill(start, end)"
                    )
        if todo:
            log.info(
                "%s: catching up %d periods, %s to %s", work.name, len(todo), todo[0], todo[-1]
            )
        for p in todo:
            work._cw_period = p
            try:
                work._cw_execute(PeriodCall(fn, p, work), args, kwargs)
            except Exception as e:  # recorded failed by the call; the others still run
                failed[p.label] = _error(e)
        work._cw_period = current
    if not failed:
        if len(caught) >= _CAUGHT_SIZE:
            caught.clear()
        caught[these] = current
    return failed


def backfill(
    work: Work,
    first: Period,
    last: Period,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    dry_run: bool,
    progress: Callable[[str, str, int], None] | None = None,
) -> BackfillReport:
    """``progress(label, outcome, total)``, if given, is told of each period as it is done
    (outcome ``ran``, ``hit``, ``failed`` or, under ``dry_run``, ``todo``): the command's bar."""
    span = succeeded(work, first, last, args, kwargs)
    outcome = {p.label: "hit" if ok else "todo" for p, ok in span}
    failed: dict[str, str] = {}
    fn = function(work)
    for p, ok in span:
        if not ok and not dry_run:
            call = PeriodCall(fn, p, work)
            work._cw_period = p
            try:
                work._cw_execute(call, args, kwargs)
            except Exception as e:  # recorded failed by the call; the others still run
                failed[p.label] = _error(e)
                outcome[p.label] = "failed"
            else:
                outcome[p.label] = "ran" if call.ran else "hit"
        if progress is not None:
            progress(p.label, outcome[p.label], len(span))

    def of(kind: str) -> list[str]:
        return [label for label, o in outcome.items() if o == kind]  # dicts keep the order

    return BackfillReport(ran=of("ran"), hit=of("hit"), failed=failed, would_run=of("todo"))
