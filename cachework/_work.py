"""``Work`` and ``@work``: call semantics. A call is bound, keyed, looked up, else claimed and run.

One call reads like this: ``run`` → ``keys.key_for`` → ``Store.lookup`` → a hit (return the
stored result, restore the state) or ``Store.claim`` → the user's ``run`` → ``Store.finish``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable

from . import _keys as keys
from . import _pickling
from ._binding import Binder, IgnoringBinder
from ._claims import Busy, Claim, Outcome
from ._errors import (
    AlreadyRunning,
    CatchupFailed,
    NoSuchWork,
    StoreError,
    UnstorableResult,
    error_text,
)
from ._log import DEBUG, enabled, log
from ._options import DEFAULTS, Options, ignore_names, is_code, option, seconds
from ._store import DEFAULT_LEASE, Store, get_store
from ._typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    import concurrent.futures as _cf
    from typing import Any, Literal

    from . import _periods as periods
    from ._periodic import BackfillReport
    from ._periodic import PeriodCall as _PeriodCall
    from ._periodic import bind as _bind_period
    from ._periods import Period
    from ._records import Hit, Stored


def _with_periods() -> None:
    """Bind the names every= calls use (``periods``, ``Period``, ``_PeriodCall``,
    ``_bind_period``), once a work has every= options: its ``__init__`` and unpickling call
    this. A process whose works have no every= never imports the period modules (a cold
    hit's cost, issue 19), and no call pays a check for them."""
    global periods, Period, _PeriodCall, _bind_period
    from . import _periods as periods
    from ._periodic import PeriodCall as _PeriodCall
    from ._periodic import bind as _bind_period
    from ._periods import Period


__all__ = ["CachedFunction", "Work", "work"]


P = ParamSpec("P")
R = TypeVar("R")

_MISS = object()  # "no value": a stored result of None is a real result
_POLL_FIRST_S, _POLL_MAX_S = 0.005, 0.25  # waiting polls one read per period: ~0.1% of a core
_RECLAIM_EVERY_S = 1.0  # how often a waiter re-checks that the owner is alive


#: (thread id, id(work)) of every call running now. A ``run`` entered again by the same thread
#: for the same work (``super().run()``) runs plainly inside the cached call; other threads
#: sharing the work are not inside it. Set operations are atomic under the GIL.
_inside: set[tuple[int, int]] = set()
_get_ident = threading.get_ident


class _Terminated(BaseException):
    """SIGTERM arrived during a run; raised so the claim is released before the process ends."""


#: Code flags of functions whose call returns an object to iterate or await instead of the
#: result (CO_GENERATOR, CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR).
_LAZY_FLAGS = {
    0x20: "a generator",
    0x80: "a coroutine",
    0x100: "a coroutine",
    0x200: "an async generator",
}


#: CACHEWORK_REFRESH as this process read it when its first work was made: the names of the
#: works whose every call runs and replaces its stored call, ``*`` for all (None: not read yet).
_refresh_names: frozenset[str] | None = None


def _refreshing(options: Options, name: str) -> Options:
    """``options``, with hits off if CACHEWORK_REFRESH names the work. Decided when the work
    is made, so a call pays nothing for it: the hit path reads ``hits`` for ``cache_calls``."""
    global _refresh_names
    names = _refresh_names
    if names is None:
        text = os.environ.get("CACHEWORK_REFRESH", "")
        names = _refresh_names = frozenset(n.strip() for n in text.split(",") if n.strip())
    if options.hits and (name in names or "*" in names):
        return options._replace(hits=False)
    return options


def _check_cacheable(fn: Callable[..., Any], what: str) -> None:
    """Refuse, when it is defined, a function whose calls return a coroutine or generator:
    such an object cannot be stored, so every call would run and then fail to record."""
    flags = getattr(getattr(fn, "__code__", None), "co_flags", 0)
    for flag, returns in _LAZY_FLAGS.items():
        if flags & flag:
            raise TypeError(
                f"cachework cannot cache {what} {fn.__qualname__}: its calls return {returns}, "
                "not a value to store; cache a plain function that produces the value "
                "(for a coroutine: one that calls asyncio.run)"
            )


def _binder(
    binder: Binder | IgnoringBinder, options: Options, what: str
) -> tuple[Binder | IgnoringBinder, keys.PositionalKey | None]:
    """The binder of a work with these options (``ignore=`` checked against the function's
    parameters where the work is made, and applied by the binder itself), and the keys of
    its calls made without binding, where its signature allows them."""
    if isinstance(binder, IgnoringBinder):
        binder = binder.binder
    names = options.ignore
    if options.every is not None and "period" in names:
        raise ValueError(
            f"{what}: ignore= cannot name period: the period tells an every= work's calls apart"
        )
    positional = keys.PositionalKey.of(binder.names, names) if binder.plain else None
    return binder.ignoring(names, what), positional


def _default_name(module: str, qualname: str) -> str:
    if module == "__main__":
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        if path:
            module = os.path.splitext(os.path.basename(path))[0]
    return f"{module}.{qualname}"


# The C-level calls: ``signal.signal`` wraps them in enum conversions that cost more than
# the call itself, twice per miss.
try:
    from _signal import SIG_DFL as _SIG_DFL
    from _signal import SIGTERM as _SIGTERM
    from _signal import getsignal as _getsignal
    from _signal import signal as _setsignal
except ImportError:  # pragma: no cover - not CPython
    from signal import SIG_DFL as _SIG_DFL  # type: ignore[assignment]
    from signal import SIGTERM as _SIGTERM  # type: ignore[assignment]
    from signal import getsignal as _getsignal  # type: ignore[assignment]
    from signal import signal as _setsignal  # type: ignore[assignment]


def _arm_sigterm() -> bool:
    """Turn SIGTERM into an exception for the length of a run, so the claim can be released;
    the caller disarms it when the run ends (plain calls: a context manager costs a miss ~2%).

    Only where SIGTERM has its default action and only on the main thread: a program that
    handles SIGTERM itself keeps its handler.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or _getsignal(_SIGTERM) != _SIG_DFL
    ):
        return False
    _setsignal(_SIGTERM, _raise_terminated)
    return True


def _disarm_sigterm() -> None:
    """Give SIGTERM back its default action (what it had when armed), unless the run
    installed a handler of its own meanwhile: that one is the program's now, and stays."""
    if _getsignal(_SIGTERM) is _raise_terminated:
        _setsignal(_SIGTERM, _SIG_DFL)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


class Work:
    """A unit of work whose ``run`` executes only when its arguments are new.

    Subclass it and define ``run``. Each call of ``run`` is reduced to a key, the hash of
    its arguments bound to ``run``'s signature (defaults applied) and of ``version``. A key
    the store holds a fresh result for is a hit: the stored result is returned and the
    work's state restored, in this process or any later one, without running anything.
    Otherwise the call is claimed in the store (so no other thread, process or host runs it
    meanwhile), run, and its result, state and run recorded. A call that raises is recorded
    failed with its traceback, re-raised, and runs again next time.

    Public attributes (no leading ``_``) are the work's state: stored after a run and
    restored on a hit. Configuration lives under private names with read-only properties,
    so it is never state. Keep what cannot be pickled (connections, clients) under private
    names too, or the run is recorded failed with ``UnstorableResult``.

    Threads may share one instance: each thread's call is claimed, waited for and recorded
    like any other. The state and ``status`` are the instance's, though, not the call's:
    runs of different arguments at once in several threads write the same attributes, and a
    run stores whatever they hold when it returns. Give each thread its own instance when
    ``run`` keeps state.

    Args:
        name: The key namespace: works of one name share their calls. Default
            ``<module>.<QualName>`` of the class (or function); a script run as
            ``__main__`` uses its file's stem as module. Give one explicitly when the code
            may move: a new name is a new, empty namespace.
        store: Where calls are kept: a ``Store``, a SQLAlchemy URL (``sqlite:///x.db``,
            ``postgresql+psycopg://...``) or a file path. Default: ``$CACHEWORK_URL``, else
            ``./cachework.db`` in the current folder, resolved at the first call.
        cache_calls: ``False`` runs every call (still one at a time per key, and still
            recorded in the history); its results are never served as hits.
        version: Any value; it joins every key, so a new version makes every call new.
            Bump it when ``run``'s code changes what it returns: the key follows the
            arguments, not the code. ``"code"`` puts a digest of the work's code in the key
            instead (taken once, when the work is made), so an edit that changes what the
            code does re-runs and a comment or docstring does not (docs/code-version.md).
        ignore: Parameter names left out of the key and the args JSON (``"verbose"``,
            ``("n_jobs", "verbose")``): calls that differ only there are one call. A name
            that is not a parameter is refused here (``ValueError``).
        ttl: How long a succeeded call is served, in seconds or a ``timedelta``; an older
            one is stale and runs again (reason ``expired``). None: forever. Checked
            against the reading host's clock.
        parallel: ``True`` makes a call return a ``concurrent.futures.Future`` at once and
            run in the background (``executor``). A hit is answered in the caller, as a
            Future already done; the status properties follow the latest call, and
            ``wait()`` waits for it.
        every: ``"minute"``, ``"hour"``, ``"day"``, ``"week"``, ``"month"`` or a
            ``timedelta``: the current period's label (``2026-11-25``) joins the key and the
            stored arguments as ``_period``, so an argument-less ``run()`` runs once per
            period. A ``run`` that declares a ``period`` parameter receives the call's
            ``Period``, fixed when the call is made.
        tz: The zoneinfo name (``"Europe/Paris"``) periods are counted in; only with
            ``every``. None: the machine's local time.
        on_running: What a call does while another thread, process or host runs the same
            key: ``"wait"`` (default) for its result, and run the call itself if that run
            fails or its owner dies; ``"skip"``: return None at once; ``"raise"``: raise
            ``AlreadyRunning`` naming the owner.
        wait_timeout: With ``on_running="wait"``, the longest a call waits, in seconds or a
            ``timedelta``, before ``AlreadyRunning``. None: no limit.
        lease: How long a running call's owner on another host may go without a heartbeat
            (sent every lease/4) before others take the call over, in seconds or a
            ``timedelta``. Default: ``$CACHEWORK_LEASE`` as set when the work first runs,
            else 60 s. An owner on this host is judged by its process instead, at once.
            Give more than the longest a call can starve the heartbeat thread (a C call
            that holds the GIL).
        executor: With ``parallel=True``, the ``concurrent.futures.Executor`` calls run
            in. None: a thread pool shared by all works. A ``ProcessPoolExecutor`` gets a
            copy of the work; the result, state and status are copied back.
        max_result_bytes: The largest pickled return value stored (default 1 GiB); a
            larger one is refused before any write: the run is recorded failed and raises
            ``UnstorableResult`` naming the size. So is a result and state beyond what the
            database holds in one call.
        lag: With ``every``, how many periods back a call's period is: ``lag=1`` with
            ``every="day"`` processes yesterday, the last complete day.
        catchup: With ``every``, ``True`` makes a call first run, oldest first, every
            period since the first one recorded that has not succeeded; a label, date,
            datetime or ``Period`` starts from there instead. Periods that fail are
            recorded, the others still run, then ``CatchupFailed`` names them.
        catchup_limit: The most missed periods one catch-up runs (default 1,000); more is
            refused before anything runs.

    Raises:
        ValueError: An option out of range or of the wrong type, named in the message.
        TypeError: ``run`` is ``async def`` or a generator: its calls would return an
            object that cannot be stored (raised when the class is defined).
    """

    # Class-level defaults, so a subclass whose __init__ forgets super().__init__() works.
    _cw_options: Options = DEFAULTS
    _cw_status = "not_started"
    _cw_future: _cf.Future[Any] | None = None
    _cw_period: Period | None = None  # the period of the latest every= call
    _cw_binder: Binder | IgnoringBinder
    #: Keys the calls that pass every parameter by position, without binding (set with the
    #: binder, by ``_binder``); None where binding is needed (``*args``, keyword-only...).
    _cw_positional: keys.PositionalKey | None = None
    _cw_raw: Callable[..., Any]
    _cw_bound_self = True  # the raw run takes the work as its first argument

    def __init__(
        self,
        *,
        name: str | None = DEFAULTS.name,
        store: Store | str | os.PathLike[str] | None = DEFAULTS.store,
        cache_calls: bool = DEFAULTS.cache_calls,
        version: Any = DEFAULTS.version,
        ttl: _dt.timedelta | float | None = DEFAULTS.ttl,
        parallel: bool = DEFAULTS.parallel,
        every: str | _dt.timedelta | None = DEFAULTS.every,
        tz: str | None = DEFAULTS.tz,
        on_running: str = DEFAULTS.on_running,
        wait_timeout: _dt.timedelta | float | None = DEFAULTS.wait_timeout,
        lease: _dt.timedelta | float | None = DEFAULTS.lease,
        executor: _cf.Executor | None = DEFAULTS.executor,
        max_result_bytes: int = DEFAULTS.max_result_bytes,
        lag: int = DEFAULTS.lag,
        catchup: bool | str | _dt.date | _dt.datetime | Period | None = DEFAULTS.catchup,
        catchup_limit: int = DEFAULTS.catchup_limit,
        ignore: str | Iterable[str] | None = None,
    ) -> None:
        # The defaults and every check live in Options; this signature is what users and
        # their type checkers read.
        self._cw_options = Options.of(
            name=name,
            store=store,
            cache_calls=cache_calls,
            version=version,
            ttl=ttl,
            parallel=parallel,
            every=every,
            tz=tz,
            on_running=on_running,
            wait_timeout=wait_timeout,
            lease=lease,
            executor=executor,
            max_result_bytes=max_result_bytes,
            lag=lag,
            catchup=catchup,
            catchup_limit=catchup_limit,
            ignore=type(self)._cw_options.ignore if ignore is None else ignore,
        )
        self._cw_status = "not_started"
        if is_code(version):
            # Once per class (or function), here, so that no call pays for it; imported only
            # by works that ask for it.
            from ._code import code_version

            source = type(self) if self._cw_bound_self else self._cw_raw
            self._cw_options = self._cw_options._replace(key_version=code_version(source, Work))
        raw = getattr(type(self), "_cw_raw", None)  # a subclass's run; a function's comes later
        if raw is not None:
            self._cw_options = _refreshing(self._cw_options, self.name)
            if self._cw_options.ignore or isinstance(self._cw_binder, IgnoringBinder):
                self._cw_binder, self._cw_positional = _binder(
                    self._cw_binder, self._cw_options, self.name
                )
        if self._cw_options.every is not None:
            _with_periods()
            if raw is not None:
                from ._periodic import refuse_period_arg

                refuse_period_arg(raw, self.name)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ignore = cls.__dict__.get("ignore")
        if not isinstance(ignore, (str, tuple, list, set, frozenset)):
            ignore = None  # absent, or a method of the class's own that happens to be named so
        else:
            # ``ignore = ("verbose",)`` in the class body: the default of ``ignore=``.
            cls._cw_options = cls._cw_options._replace(ignore=ignore_names(ignore))
            cls.ignore = Work.ignore  # type: ignore[assignment]  # work.ignore reads the options
        run = cls.__dict__.get("run")
        if run is None or getattr(run, "_cachework_run", False):
            if ignore is not None and getattr(cls, "_cw_raw", None) is not None:
                cls._cw_binder, cls._cw_positional = _binder(
                    cls._cw_binder, cls._cw_options, cls.__qualname__
                )
            return
        _check_cacheable(run, "the run method")
        cls._cw_raw = run
        # A name that is not a parameter is refused when the class is made, not at a call.
        cls._cw_binder, cls._cw_positional = _binder(
            Binder(run, skip_self=True), cls._cw_options, cls.__qualname__
        )
        # What an instance whose __init__ skips Work.__init__ runs with (not a parent's).
        options = cls._cw_options._replace(hits=cls._cw_options.cache_calls)
        cls._cw_options = _refreshing(options, _default_name(cls.__module__, cls.__qualname__))

        @functools.wraps(run)
        def cached_run(self: Work, *args: Any, **kwargs: Any) -> Any:
            if _inside and (_get_ident(), id(self)) in _inside:
                # super().run() from an overriding run, in the thread running the call: the
                # outer call is the cached one. Another thread's call is a call of its own.
                return run(self, *args, **kwargs)
            return self._cw_call(run, args, kwargs)

        setattr(cached_run, "_cachework_run", True)  # noqa: B010 (a mark on a function)
        cls.run = cached_run  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        # A work travels (parallel executors) with its configuration and state, never with
        # the Future of its latest call.
        state = dict(self.__dict__)
        state.pop("_cw_future", None)
        options = state.get("_cw_options")
        if options is not None and options.executor is not None:
            # the copy runs where it lands; it does not submit again
            state["_cw_options"] = options._replace(executor=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A copy (a process executor's) is made without __init__: it binds the period names.
        self.__dict__.update(state)
        if self._cw_options.every is not None:
            _with_periods()

    # -- configuration, read-only -----------------------------------------------------------
    @property
    def name(self) -> str:
        """The key namespace; default ``<module>.<QualName>``."""
        name = self._cw_options.name
        if name is None:
            name = _default_name(type(self).__module__, type(self).__qualname__)
            self._cw_options = self._cw_options._replace(name=name)
        return name

    @property
    def store(self) -> Store:
        """Where calls are kept; default: ``CACHEWORK_URL``, else ``./cachework.db``."""
        store = self._cw_options.store
        if not isinstance(store, Store):
            store = get_store(store)
            self._cw_options = self._cw_options._replace(store=store)
        return store

    cache_calls: option[bool] = option(
        "False: every call runs (and is recorded), none is served from the store."
    )
    ignore: option[tuple[str, ...]] = option(
        "Parameters left out of the key and the args JSON: their value never tells two"
        " calls apart (``verbose``, ``n_jobs``)."
    )
    version: option[Any] = option(
        'Joins every key: a new version makes every call new. ``"code"``: a digest of the'
        " work's code joins the keys instead, so changing the code makes every call new (what"
        " the digest sees: docs/code-version.md); without it, changing the code changes no key."
    )
    ttl: option[float | None] = option("Seconds a succeeded call is served for (None: forever).")
    parallel: option[bool] = option("True: a call runs in the background and returns a Future.")
    executor: option[_cf.Executor | None] = option(
        "Where parallel calls run (None: a thread pool shared by all works)."
    )
    every: option[str | _dt.timedelta | None] = option(
        "The length of a period (``'day'``, a timedelta...), or None."
    )
    tz: option[str | None] = option("The zone of the periods (None: the machine's local time).")
    lag: option[int] = option(
        "How many periods behind the current one a call without a period runs."
    )
    catchup: option[Period | Literal[True] | None] = option(
        "None (no catch-up), True (from the first recorded period) or the first Period."
    )
    catchup_limit: option[int] = option("The most missed periods one catch-up runs.")
    on_running: option[str] = option(
        "What a call does while another runs it: ``wait``, ``skip`` or ``raise``."
    )
    wait_timeout: option[float | None] = option(
        "Seconds a waiting call waits before AlreadyRunning (None: no limit)."
    )

    @property
    def lease(self) -> float:
        """Seconds a claim holds without a heartbeat before others may take it over."""
        return self._lease()

    max_result_bytes: option[int] = option(
        "The largest pickled return value stored; a larger one is UnstorableResult."
    )

    @property
    def period(self) -> Period | None:
        """The Period of the latest call (None before the first, or without every=)."""
        return self._cw_period

    # -- status of the latest call, as in Lightning ----------------------------------------
    @property
    def status(self) -> str:
        """``not_started``, ``pending``, ``running``, ``succeeded`` or ``failed``."""
        return self._cw_status

    @property
    def has_started(self) -> bool:
        """Whether this instance made a call yet (a hit counts)."""
        return self._cw_status != "not_started"

    @property
    def is_running(self) -> bool:
        """Whether the latest call is running in this process now."""
        return self._cw_status == "running"

    @property
    def has_succeeded(self) -> bool:
        """Whether the latest call returned (ran, or was a hit)."""
        return self._cw_status == "succeeded"

    @property
    def has_failed(self) -> bool:
        """Whether the latest call raised."""
        return self._cw_status == "failed"

    # -- the public verbs ------------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Define this in a subclass: cachework wraps it so that it runs only for new arguments.

        Its parameters are the key's: every call is bound to this signature (defaults
        applied) and hashed. A parameter named ``period`` of an ``every=`` work receives
        the call's ``Period`` and is not passed by callers. Public attributes it sets are
        the work's state, restored on a hit.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must define run()")

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The key ``run(*args, **kwargs)`` would have now, without running anything.

        The arguments are bound as a call binds them (defaults applied; an ``every=`` work's
        current period included), so ``key(1)`` and ``key(x=1)`` agree. Give the key to
        ``cachework show WORK KEY`` to see the stored call and its runs.

        Raises:
            UnhashableArgument: An argument has no key (an open file, a lock...).
        """
        return self._bound_key(args, kwargs)[1]

    def forget(self, *args: Any, **kwargs: Any) -> bool:
        """Remove the call that ``run(*args, **kwargs)`` would hit, so that call runs again.

        The arguments bind as in ``run``; only that one key is removed, and the history
        stays. A call running now is left alone (it must not start twice): use
        ``Store.forget(..., force=True)`` to have it run again once it ends.

        Returns:
            Whether a call was removed.
        """
        try:
            return self.store.forget(self.name, key=self.key(*args, **kwargs)) > 0
        except NoSuchWork:  # never ran in this store: nothing to remove
            return False

    def refresh(self, *args: Any, **kwargs: Any) -> Any:
        """Run ``run(*args, **kwargs)`` again even if it would hit, and replace its stored call:
        for a result known to be wrong (an input changed that the key cannot see). It is
        claimed like any call: a concurrent caller of the same arguments waits for it."""
        raw = getattr(type(self), "_cw_raw", None)  # the class's run, unbound
        if raw is None:
            raise NotImplementedError(f"{type(self).__qualname__} must define run()")
        return self._cw_call_refresh(raw, args, kwargs)

    def run_for(
        self, period: Period | str | _dt.date | _dt.datetime, /, *args: Any, **kwargs: Any
    ) -> Any:
        """Run (or hit) the call of a past or current ``period`` of an ``every=`` work.

        Args:
            period: A label (``"2026-11-20"``), a date, a datetime or a ``Period`` of this
                work's schedule. A period that has not begun is refused.
            *args: The work's other arguments, as ``run`` takes them.
            **kwargs: The work's other arguments, as ``run`` takes them.

        Returns:
            The call's result. No catch-up runs before it, and ``lag`` does not apply.
        """
        from ._periodic import function

        return self._cw_call_period(
            function(self), args, kwargs, self._period_of(period, "run_for")
        )

    def missing(
        self,
        start: Period | str | _dt.date | _dt.datetime,
        end: Period | str | _dt.date | _dt.datetime | None = None,
        /,
        *args: Any,
        **kwargs: Any,
    ) -> list[str]:
        """Labels of the periods from ``start`` to ``end`` with no succeeded call.

        Args:
            start: The first period: a label, date, datetime or ``Period``.
            end: The last period (default: the current one, after ``lag``).
            *args: The work's other arguments: the calls asked about are those with them.
            **kwargs: As ``*args``. ``start`` and ``end`` are positional only, so the
                function's own ``start=``/``end=`` arguments pass through.

        Returns:
            The labels, oldest first: periods never run, failed, or running.
        """
        from . import _periodic

        first, last = self._period_range(start, end, "missing")
        return [p.label for p, ok in _periodic.succeeded(self, first, last, args, kwargs) if not ok]

    def backfill(
        self,
        start: Period | str | _dt.date | _dt.datetime,
        end: Period | str | _dt.date | _dt.datetime | None = None,
        /,
        *args: Any,
        dry_run: bool = False,
        progress: Callable[[str, str, int], None] | None = None,
        **kwargs: Any,
    ) -> BackfillReport:
        """Run the missing and failed periods from ``start`` to ``end``, oldest first.

        The periods run in this thread, one after the other, through the same call path
        as ``run``; a failure is recorded and does not stop the others.

        Args:
            start: The first period: a label, date, datetime or ``Period``.
            end: The last period (default: the current one, after ``lag``).
            *args: The work's other arguments.
            dry_run: List what would run; run nothing.
            progress: Told ``progress(label, outcome, total)`` as each period is done
                (outcome ``ran``, ``hit``, ``failed``, or ``todo`` under ``dry_run``):
                what draws ``cachework backfill``'s bar.
            **kwargs: The work's other arguments.

        Returns:
            A ``BackfillReport``: the labels that ran, hit, failed (label to error) or,
            under ``dry_run``, would run.
        """
        from . import _periodic

        first, last = self._period_range(start, end, "backfill")
        return _periodic.backfill(self, first, last, args, kwargs, dry_run, progress)

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the latest ``parallel=True`` call and return its result.

        Args:
            timeout: Seconds to wait at most (None: as long as it takes); then
                ``concurrent.futures.TimeoutError``.

        Returns:
            The result, or None if this work made no parallel call. Raises what the call
            raised.
        """
        future = self._cw_future
        if future is None:
            return None
        return future.result(timeout)

    # -- the machinery ----------------------------------------------------------------------
    def _bound_key(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], raw: Any = None
    ) -> tuple[dict[str, Any], str]:
        """The bound arguments of a call and its key, the general way (see ``_cw_execute``
        for the call's own, quicker way)."""
        options = self._cw_options
        if options.every is not None:
            # The period was fixed when the call was made and travels with it (a PeriodCall);
            # key() and forget() without a call mean the current one.
            if raw.__class__ is _PeriodCall:
                period = raw.period
            else:
                period = periods.current(options.every, options.tz, options.lag)
            bound = _bind_period(self, args, kwargs, period)  # the call's period, not the caller's
        else:
            bound = self._cw_binder(args, kwargs)
        return bound, keys.key_for(bound, options.key_version)

    def _cw_call(
        self, raw: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._cw_options.every is not None:
            return self._cw_call_period(raw, args, kwargs)
        if self._cw_options.parallel:
            return self._cw_submit(raw, args, kwargs)
        return self._cw_execute(raw, args, kwargs)

    def _cw_call_refresh(
        self, raw: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``_cw_call`` for ``refresh``: the same ways, each ending in ``_cw_refresh``. Apart,
        so that a call's path stays as short as it was."""
        if self._cw_options.every is not None:
            return self._cw_call_period(raw, args, kwargs, None, self._cw_refresh)
        if self._cw_options.parallel:
            return self._cw_submit(raw, args, kwargs, self._cw_refresh)
        return self._cw_refresh(raw, args, kwargs)

    # -- periods: every= calls --------------------------------------------------------------
    def _cw_call_period(
        self,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        period: Period | None = None,
        execute: Callable[..., Any] | None = None,
    ) -> Any:
        """An every= call: its period is fixed here, once, and travels with the call."""
        explicit = period is not None
        if period is None:
            options = self._cw_options
            assert options.every is not None  # only a work with every= makes period calls
            period = periods.current(options.every, options.tz, options.lag)
        call = self.__dict__.get("_cw_pcall")
        if call is None or call.period is not period or call.fn is not raw:
            call = self.__dict__["_cw_pcall"] = _PeriodCall(raw, period, self)
        self._cw_period = period
        failed = None
        if self._cw_options.catchup is not None and not explicit:
            from ._periodic import catch_up

            failed = catch_up(self, raw, args, kwargs, period)
        if self._cw_options.parallel:
            result = self._cw_submit(call, args, kwargs, execute)
        elif execute is None:
            result = self._cw_execute(call, args, kwargs)
        else:
            result = execute(call, args, kwargs)
        if failed:
            raise CatchupFailed(self.name, failed, result)
        return result

    def _period_of(self, value: Any, verb: str) -> Period:
        """``value`` as a Period of this work's schedule, refused if it has not begun."""
        if self.every is None:
            raise TypeError(f"{self.name}: {verb} needs a work with every= periods")
        period = Period.of(self.every, self.tz, value)
        now = periods.current(self.every, self.tz)
        if period > now:
            raise ValueError(
                f"{self.name}: period {period.label} is in the future (the current period "
                f"is {now.label})"
            )
        return period

    def _period_range(self, start: Any, end: Any, verb: str) -> tuple[Period, Period]:
        first = self._period_of(start, verb)
        if end is None:
            assert self.every is not None  # _period_of refuses a work without every=
            last = periods.current(self.every, self.tz, self.lag)
        else:
            last = self._period_of(end, verb)
        if first > last:
            raise ValueError(
                f"{self.name}: {verb} from {first.label} to {last.label}: start is after end"
            )
        return first, last

    def _cw_submit(
        self,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        execute: Callable[..., Any] | None = None,
    ) -> Any:
        """A parallel call: a hit is answered here, so an executor only receives misses
        (``execute``: ``_cw_refresh``, which never hits)."""
        from . import _parallel

        try:
            value = _MISS if execute else self._cw_execute(raw, args, kwargs, hit_only=True)
        except Exception:
            # Not a hit that can be told here: the submitted call meets the same error and
            # reports it through its Future, where it always was.
            value = _MISS
        if value is not _MISS:
            future = _parallel.answered(value)
        else:
            previous, self._cw_status = self._cw_status, "pending"  # before: the call may start
            try:
                executor = _parallel.executor(self._cw_options.executor)
                if _parallel.shares_memory(executor):
                    future = executor.submit(execute or self._cw_execute, raw, args, kwargs)
                else:
                    # Set before the result can land: landing sets how the run ended.
                    self._cw_status = "running"
                    future = _parallel.submit_elsewhere(
                        executor,
                        functools.partial(self._cw_elsewhere, raw, args, kwargs, bool(execute)),
                        self._cw_land,
                        functools.partial(self._cw_parts, args, kwargs),
                        self.name,
                    )
            except BaseException:
                self._cw_status = previous  # nothing was submitted
                raise
        self._cw_future = future
        return future

    def _cw_elsewhere(
        self,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        refresh: bool = False,
    ) -> tuple[Any, dict[str, Any] | None, str]:
        """A call as another process runs it, on its copy of this work: the result, and the
        state and status to copy back onto the original (``_cw_land``)."""
        self._cw_options = self._cw_options._replace(parallel=False)
        value = (self._cw_refresh if refresh else self._cw_execute)(raw, args, kwargs)
        return value, self._state(), self._cw_status

    def _cw_land(self, remote: _cf.Future[tuple[Any, dict[str, Any] | None, str]]) -> Any:
        """A call that ran in another process, copied back onto this work."""
        try:
            value, state, status = remote.result()
        except BaseException:
            self._cw_status = "failed"
            raise
        if state:
            self.__dict__.update(state)
        self._cw_status = status
        return value

    def _cw_parts(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """What a call sends to another process, named the way its author wrote it."""
        parts = {f"attribute {k!r}": v for k, v in self.__getstate__().items()}
        parts.update({f"argument {i}": v for i, v in enumerate(args)})
        parts.update({f"argument {k!r}": v for k, v in kwargs.items()})
        return parts

    def _cw_execute(
        self,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        hit_only: bool = False,
    ) -> Any:
        """A call, in this thread: a hit, else claimed and run (``hit_only``: ``_MISS``)."""
        # The hot path: every call that hits goes through these lines, so they avoid
        # properties and helper calls where a plain attribute will do.
        options = self._cw_options
        positional = self._cw_positional
        key = bound = None
        if positional is not None and options.every is None:
            # A plain signature: keyed from the arguments in the parameters' order, without
            # binding them to names (None: a value only the general encoder writes).
            if kwargs or len(args) != positional.arity:
                values = self._cw_binder.ordered(args, kwargs)
                if values is not None:
                    key = positional(values, options.key_version)
            else:
                key = positional(args, options.key_version)
        if key is None:
            bound, key = self._bound_key(args, kwargs, raw)
        store = options.store
        if store.__class__ is not Store:
            store = self.store
        name = options.name or self.name
        accept_hit = options.hits  # cache_calls, unless CACHEWORK_REFRESH names the work
        entry = None
        if accept_hit:
            entry = store.hit(name, key)
            # The statement gives the result only where the call may be served; its expiry
            # is the one rule left (Claims._expired, spelt out: a Python call less).
            if (
                entry is not None
                and entry.result is not None
                and (entry.expires_at is None or not store._expired(entry))
            ):
                value = self._serve(entry, name, key)
                if value is not _MISS:
                    return value
                accept_hit = False
        if hit_only:
            return _MISS
        if bound is None:
            bound = self._cw_binder(args, kwargs)
        absent = accept_hit and entry is None
        refresh = options.cache_calls and not options.hits  # CACHEWORK_REFRESH
        return self._claim_and_run(
            store, name, key, bound, raw, args, kwargs, accept_hit, absent, refresh
        )

    def _cw_refresh(
        self, raw: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """A call run even if it would hit, replacing its stored call (``work.refresh``)."""
        bound, key = self._bound_key(args, kwargs, raw)
        return self._claim_and_run(
            self.store, self.name, key, bound, raw, args, kwargs, False, False, True
        )

    def _serve(self, entry: Hit | Stored, name: str, key: str) -> Any:
        """A hit: the stored result, with the state restored; ``_MISS`` if it no longer loads."""
        try:
            value = _pickling.loads(entry.result)  # type: ignore[arg-type]
            state = _pickling.loads(entry.state) if entry.state is not None else None
        except Exception as e:
            message = f"the stored result of {name} [{key}] no longer loads ({e!r}); running again"
            log.warning(message)  # the logger's name says cachework already
            warnings.warn("cachework: " + message, RuntimeWarning, stacklevel=4)
            return _MISS
        if state:
            self.__dict__.update(state)
        self._cw_status = "succeeded"
        if enabled(DEBUG):  # asked before the call: Logger.debug is one call deeper
            log.debug("hit %s [%s]", name, key)
        return value

    def _versioned(self) -> str:
        """What changed when a call of the same arguments had another key: the reason a
        miss then gives (``Store.claim``), or "" when only the arguments make keys."""
        options = self._cw_options
        if is_code(options.version):
            return "code changed"
        return "" if options.version is None else "new version"

    def _lease(self) -> float:
        """``lease=``, else CACHEWORK_LEASE as it was at this work's first run (reading the
        environment costs more than the rest of this method), else the default."""
        lease = self._cw_options.lease
        if lease is None:
            env = os.environ.get("CACHEWORK_LEASE")
            if not env:
                lease = DEFAULT_LEASE
            else:
                try:
                    lease = seconds(float(env), "CACHEWORK_LEASE")
                except ValueError:
                    raise ValueError(
                        f"CACHEWORK_LEASE must be a positive number of seconds, not {env!r}"
                    ) from None
            self._cw_options = self._cw_options._replace(lease=lease)
        return lease

    def _claim_and_run(
        self,
        store: Store,
        name: str,
        key: str,
        bound: dict[str, Any],
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        accept_hit: bool,
        absent: bool = False,
        refresh: bool = False,
    ) -> Any:
        args_json = keys.args_json(bound)
        versioned = self._versioned()
        # The key of the arguments alone: what a versioned work's miss is compared by.
        args_key = keys.key_for(bound, None) if versioned else None
        lease = self._lease()
        cache_calls = self._cw_options.cache_calls
        previous = self._cw_status
        self._cw_status = "pending"
        started = time.monotonic()
        delay = _POLL_FIRST_S
        try:
            while True:
                got = store.claim(
                    name,
                    key,
                    args_json,
                    cached=cache_calls,
                    accept_hit=accept_hit,
                    lease=lease,
                    versioned=versioned,
                    absent=absent,
                    refresh=refresh,
                    args_key=args_key,
                )
                absent = False
                if isinstance(got, Claim):
                    break
                if not isinstance(got, Busy):  # a result appeared since the lookup
                    value = self._serve(got, name, key)
                    if value is not _MISS:
                        return value
                    accept_hit = False
                    continue
                if self._cw_options.on_running == "skip":
                    self._cw_status = previous
                    log.info("skipping %s [%s]: running in %s", name, key, got.owner)
                    return None
                if self._cw_options.on_running == "raise":
                    self._cw_status = previous
                    raise AlreadyRunning(f"{name} [{key}] is running in {got.owner}")
                log.info("waiting for %s [%s]: running in %s", name, key, got.owner)
                # Poll with cheap reads; take a write lock (a claim) only when the entry changes
                # or once a second, to notice an owner that died.
                last_claim = time.monotonic()
                while True:
                    if (
                        self._cw_options.wait_timeout is not None
                        and time.monotonic() - started > self._cw_options.wait_timeout
                    ):
                        self._cw_status = previous
                        raise AlreadyRunning(
                            f"{name} [{key}] still running in {got.owner} after {self._cw_options.wait_timeout} s"
                        )
                    time.sleep(delay)
                    delay = min(delay * 1.5, _POLL_MAX_S)
                    entry = store.lookup(name, key)
                    if entry is None or entry.status != "running":
                        absent = entry is None
                        break
                    if time.monotonic() - last_claim > _RECLAIM_EVERY_S:
                        break
            log.info("running %s [%s]: %s", got.work, got.key, got.reason)
            # The arguments beside the key, for "why did this run?": on a miss only, where the
            # args JSON is already made, so a hit never pays for it.
            log.debug("%s [%s] args: %s", got.work, got.key, args_json)
        except BaseException:
            # Still pending (claiming, waiting for another caller): this call never ran
            # and recorded nothing, so the work's status goes back to the one before it.
            if self._cw_status == "pending":
                self._cw_status = previous
            raise
        self._cw_status = "running"
        with got:  # leaves the heartbeats on every path, also one that records nothing
            return self._run_and_record(got, raw, args, kwargs, args_json)

    def _run_and_record(
        self,
        claim: Claim,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        args_json: str,
    ) -> Any:
        name, key = claim.work, claim.key
        t0 = time.perf_counter()
        try:
            inside = (_get_ident(), id(self))
            entered = inside not in _inside  # a recursive @work call is inside already
            if entered:
                _inside.add(inside)
            armed = _arm_sigterm()
            try:
                value = raw(self, *args, **kwargs) if self._cw_bound_self else raw(*args, **kwargs)
            finally:
                if armed:
                    _disarm_sigterm()
                if entered:
                    _inside.discard(inside)
        except Exception as e:
            self._cw_status = "failed"
            failure = Outcome(
                "failed",
                time.perf_counter() - t0,
                error_type=type(e).__qualname__,
                error=error_text(e),
                traceback=_format_exc(),
            )
            self._record(claim, failure, reraise=False)
            log.info("failed %s [%s]: %s: %s", name, key, failure.error_type, failure.error)
            raise  # the caller's own exception matters more than a failure to record it
        except BaseException as e:
            self._cw_status = "failed"
            why = "SIGTERM" if isinstance(e, _Terminated) else type(e).__name__
            claim.release(f"stopped by {why}")
            log.info("interrupted %s [%s] by %s", name, key, why)
            if isinstance(e, _Terminated):
                _setsignal(_SIGTERM, _SIG_DFL)
                os.kill(os.getpid(), _SIGTERM)
            raise
        duration = time.perf_counter() - t0
        try:
            result, state = self._pack(value)
            _check_fits(self.store, name, result, state, args_json)
        except UnstorableResult as e:
            self._cw_status = "failed"
            unstorable = Outcome(
                "failed",
                duration,
                error_type="UnstorableResult",
                error=str(e),
                traceback=_format_exc(),
            )
            self._record(claim, unstorable, reraise=False)
            raise
        success = Outcome("succeeded", duration, result, state, ttl_s=self._cw_options.ttl)
        self._record(claim, success, reraise=True)
        self._cw_status = "succeeded"
        log.info("succeeded %s [%s] in %.3f s", name, key, duration)
        return value

    def _record(self, claim: Claim, outcome: Outcome, reraise: bool) -> None:
        """Write how a run ended; if that fails, give the claim back so nobody waits on it."""
        try:
            claim.finish(outcome)
        except Exception as e:
            self._cw_status = "failed"
            claim.release(f"could not record the outcome: {e}")
            if not reraise:
                log.warning("could not record the outcome of %s [%s]: %s", claim.work, claim.key, e)
                return
            if isinstance(e, StoreError):
                raise StoreError(
                    f"{claim.work} ran, but its result could not be recorded: {e}"
                ) from e
            raise

    def _state(self) -> dict[str, Any] | None:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def _pack(self, value: Any) -> tuple[bytes | None, bytes | None]:
        """The result and the state as stored; UnstorableResult names what could not be."""
        options = self._cw_options
        if not options.cache_calls:
            return None, None  # never served, so never stored
        return _pickling.pack(self.name, value, self._state(), options.max_result_bytes)


#: What a call's row holds besides its result, state and args (names, key, times, owner),
#: rounded up: a result that fits the database only without them would fail to write.
_ROW_OVERHEAD_BYTES = 64 * 1024


def _check_fits(
    store: Store, name: str, result: bytes | None, state: bytes | None, args_json: str
) -> None:
    """Refuse, before writing, a result the database cannot hold, whatever ``max_result_bytes``
    says: the write would fail after the run and leave it ``interrupted`` instead of failed.
    SQLite bounds a whole row (SQLITE_LIMIT_LENGTH), PostgreSQL a value and a message (1 GB)."""
    if result is None:
        return
    size = len(result) + (len(state) if state is not None else 0)
    limit = store._ensure().max_blob_bytes()
    if size + len(args_json.encode("utf-8", "surrogatepass")) + _ROW_OVERHEAD_BYTES > limit:
        what = "the return value is" if state is None else "the return value and the state are"
        raise UnstorableResult(
            f"{name}: {what} {size:,} bytes, more than the store's database holds in one "
            f"call ({limit:,} bytes with the arguments)"
        )


def _format_exc() -> str:
    """The traceback of the exception being handled, as text: ``traceback`` is imported
    by the first failure, never by a process that only hits."""
    import traceback

    return traceback.format_exc()


class CachedFunction(Work, Generic[P, R]):
    """A plain function made a work by ``@cachework.work``: call it as before.

    Calling it is calling ``run``: the same key, hit or run, and history as a ``Work``
    whose ``run`` is the function. It has every method and property of ``Work``
    (``key``, ``forget``, ``run_for``, ``missing``, ``backfill``, ``wait``, ``status``...);
    a function has no state, so a hit restores nothing but the result. The function's
    name, docstring and module are copied onto it (``functools.update_wrapper``).
    """

    _cw_bound_self = False

    def __init__(self, fn: Callable[P, R], **options: Any) -> None:
        _check_cacheable(fn, "the function")
        self._cw_raw = fn  # first: version="code" reads it
        super().__init__(**options)
        functools.update_wrapper(self, fn)
        binder = Binder(fn, skip_self=False)
        if self._cw_options.name is None:
            self._cw_options = self._cw_options._replace(
                name=_default_name(fn.__module__, fn.__qualname__)
            )
        self._cw_options = _refreshing(self._cw_options, self.name)
        self._cw_binder, self._cw_positional = _binder(binder, self._cw_options, self.name)
        if self._cw_options.every is not None:
            from ._periodic import refuse_period_arg

            refuse_period_arg(fn, self.name)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function through the cache: its stored result for these arguments,
        else run it and record it (a Future with ``parallel=True``)."""
        # Spelled out rather than via _cw_call: one call less per hit.
        options = self._cw_options
        if options.every is not None:
            return self._cw_call_period(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]
        if options.parallel:
            return self._cw_submit(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]
        return self._cw_execute(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]

    def run(self, *args: P.args, **kwargs: P.kwargs) -> R:  # type: ignore[override]
        """The same as calling the function: ``ingest.run(day)`` is ``ingest(day)``."""
        return self._cw_call(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]

    setattr(run, "_cachework_run", True)  # noqa: B010 (a mark on a function)

    def forget(self, *args: P.args, **kwargs: P.kwargs) -> bool:  # type: ignore[override]
        """Remove the call these arguments would hit, so it runs again (see ``Work.forget``).

        Returns:
            Whether a call was removed.
        """
        return super().forget(*args, **kwargs)

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:  # type: ignore[override]
        """Run the function again for these arguments even if they would hit, and replace
        the stored call (see ``Work.refresh``)."""
        return self._cw_call_refresh(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]

    def _state(self) -> dict[str, Any] | None:
        return None  # a function has no state; update_wrapper's attributes are not state

    def __repr__(self) -> str:
        return f"<cachework.work {self.name}>"


@overload
def work(fn: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def work(
    fn: None = None,
    /,
    *,
    name: str | None = ...,
    store: Store | str | os.PathLike[str] | None = ...,
    cache_calls: bool = ...,
    version: Any = ...,
    ttl: _dt.timedelta | float | None = ...,
    parallel: bool = ...,
    every: str | _dt.timedelta | None = ...,
    tz: str | None = ...,
    on_running: str = ...,
    wait_timeout: _dt.timedelta | float | None = ...,
    lease: _dt.timedelta | float | None = ...,
    executor: _cf.Executor | None = ...,
    max_result_bytes: int = ...,
    lag: int = ...,
    catchup: bool | str | _dt.date | _dt.datetime | Period | None = ...,
    catchup_limit: int = ...,
    ignore: str | Iterable[str] | None = ...,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...
def work(fn: Any = None, /, **options: Any) -> Any:
    """Make a plain function a work: ``@work`` or ``@work(name=..., store=..., ...)``.

    ```python
    @cachework.work(name="ingest", ttl=3600)
    def ingest(day: str) -> int: ...

    ingest("2026-11-25")  # runs, then is served from the store for an hour
    ```

    Args:
        fn: The function, when the decorator is used bare (``@work``).
        **options: Every option of ``Work`` (``name``, ``store``, ``cache_calls``,
            ``version``, ``ignore``, ``ttl``, ``parallel``, ``every``, ``tz``, ``on_running``,
            ``wait_timeout``, ``lease``, ``executor``, ``max_result_bytes``, ``lag``,
            ``catchup``, ``catchup_limit``), with the same meaning and defaults. The
            default name is ``<module>.<function name>``.

    Returns:
        A ``CachedFunction``, or, with options and no function, the decorator that makes one.

    Raises:
        ValueError: An option out of range or of the wrong type.
        TypeError: The function is ``async def`` or a generator.
    """
    if fn is not None:
        return CachedFunction(fn, **options)
    return lambda f: CachedFunction(f, **options)
