"""``Work`` and ``@work``: call semantics. A call is bound, keyed, looked up, else claimed and run.

One call reads like this: ``run`` → ``keys.key_for`` → ``Store.lookup`` → a hit (return the
stored result, restore the state) or ``Store.claim`` → the user's ``run`` → ``Store.finish``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from . import keys, periods
from ._heartbeat import heartbeats
from ._periodic import PeriodCall as _PeriodCall
from ._periodic import bind as _bind_period
from .errors import AlreadyRunning, CatchupFailed, StoreError, UnstorableResult
from .periods import Period
from .store import DEFAULT_LEASE, Store, get_store

if TYPE_CHECKING:
    import concurrent.futures as _cf

    from ._periodic import BackfillReport

__all__ = ["CachedFunction", "Work", "work"]

log = logging.getLogger("cachework")

P = ParamSpec("P")
R = TypeVar("R")

_MISS = object()  # "no value": a stored result of None is a real result
_ON_RUNNING = ("wait", "skip", "raise")
#: A return value larger than this is refused (UnstorableResult) rather than bloating the store.
MAX_RESULT_BYTES = 2**30  # 1 GiB
_POLL_FIRST_S, _POLL_MAX_S = 0.005, 0.25  # waiting polls one read per period: ~0.1% of a core
#: A catch-up refuses to run more missed periods than this unless told otherwise.
CATCHUP_LIMIT = 1000
_RECLAIM_EVERY_S = 1.0  # how often a waiter re-checks that the owner is alive


#: (thread id, id(work)) of every call running now. A ``run`` entered again by the same thread
#: for the same work (``super().run()``) runs plainly inside the cached call; other threads
#: sharing the work are not inside it. Set operations are atomic under the GIL.
_inside: set[tuple[int, int]] = set()
_get_ident = threading.get_ident


class _Terminated(BaseException):
    """SIGTERM arrived during a run; raised so the claim is released before the process ends."""


#: How a ``**kwargs`` key that a parameter already names is spelt in the bound arguments (key
#: and args JSON): ``def f(data, /, **kw)`` called ``f(2, data=3)`` binds
#: ``{"data": 2, "**data": 3}``. Keys that start with it get it too, so no two calls meet.
_KWARG_PREFIX = "**"


class _Binder:
    """Binds call arguments to names the way ``inspect.Signature.bind`` does.

    Plain parameters (no ``*``, ``**``, ``/`` or keyword-only) are read from the code
    object and bound without ``inspect``, which a cold start should not have to import
    (~5 ms); anything else goes through ``inspect.Signature`` itself.
    """

    def __init__(self, fn: Callable[..., Any], skip_self: bool) -> None:
        self.fn, self.skip_self = fn, skip_self
        self._signature: Any = None
        code = getattr(fn, "__code__", None)
        self.plain = (
            code is not None
            and not hasattr(fn, "__wrapped__")  # a decorated run: its real signature is inside
            and not code.co_flags & 0x0C  # CO_VARARGS | CO_VARKEYWORDS
            and not code.co_kwonlyargcount
            and not code.co_posonlyargcount
        )
        if self.plain:
            names = code.co_varnames[: code.co_argcount]  # type: ignore[union-attr]
            defaults = fn.__defaults__ or ()  # type: ignore[attr-defined]
            self.defaults = dict(zip(names[len(names) - len(defaults) :], defaults, strict=True))
            self.names = names[1:] if skip_self else names
            self.kinds: Any = frozenset(self.names)
        else:
            sig = self.signature
            self.names = tuple(sig.parameters)
            self.kinds = {p.name: p.kind for p in sig.parameters.values()}
            self.defaults = {}
            # Names a **kwargs key cannot take at the top level of the bound arguments: the
            # other parameters (a positional-only or *args one shares its name with a keyword).
            self.taken = frozenset(n for n, kind in self.kinds.items() if kind != 4)

    @property
    def signature(self) -> Any:
        if self._signature is None:
            import inspect

            sig = inspect.signature(self.fn)
            params = list(sig.parameters.values())[1 if self.skip_self else 0 :]
            self._signature = sig.replace(parameters=params)
        return self._signature

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        if self.plain and len(args) <= len(names):
            bound = dict(zip(names, args, strict=False))
            plain = True
            for name, value in kwargs.items():
                if name in bound or name not in self.kinds:
                    plain = False  # a duplicate or unknown name: let bind() word the TypeError
                    break
                bound[name] = value
            if plain:
                if len(bound) < len(names):
                    for name in names:
                        if name not in bound and name in self.defaults:
                            bound[name] = self.defaults[name]
                if len(bound) == len(names):
                    return bound
        ba = self.signature.bind(*args, **kwargs)  # raises the TypeError Python would
        ba.apply_defaults()
        if self.plain:
            return dict(ba.arguments)
        bound = {}
        for name, value in ba.arguments.items():
            kind = self.kinds[name]
            if kind == 2:  # Parameter.VAR_POSITIONAL
                bound[name] = list(value)
            elif kind == 4:  # Parameter.VAR_KEYWORD: flattened, so the seed's value=1 is $.value
                taken = self.taken
                for k, v in value.items():
                    bound[_KWARG_PREFIX + k if k in taken or k.startswith(_KWARG_PREFIX) else k] = v
            else:
                bound[name] = value
        return bound


#: Code flags of functions whose call returns an object to iterate or await instead of the
#: result (CO_GENERATOR, CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR).
_LAZY_FLAGS = {
    0x20: "a generator",
    0x80: "a coroutine",
    0x100: "a coroutine",
    0x200: "an async generator",
}


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


def _default_name(module: str, qualname: str) -> str:
    if module == "__main__":
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        if path:
            module = os.path.splitext(os.path.basename(path))[0]
    return f"{module}.{qualname}"


def _seconds(value: Any, what: str, *, zero: bool = False) -> float | None:
    """A duration option in seconds. NaN and infinity are refused here: they would pass as
    a number and fail only when a time is computed from them, after the run."""
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not (value >= 0 if zero else value > 0)
    ):
        sign = "non-negative" if zero else "positive"
        raise ValueError(
            f"{what} must be a {sign}, finite number of seconds or a timedelta, not {value!r}"
        )
    return float(value)


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

    Subclass it and define ``run``. Public attributes are the work's state: stored after a
    run and restored on a hit. Configuration lives under private names, so it is never state.

    Threads may share one instance: each thread's call is claimed, waited for and recorded
    like any other. The state and ``status`` are the instance's, though, not the call's:
    runs of different arguments at once in several threads write the same attributes, and a
    run stores whatever they hold when it returns. Give each thread its own instance when
    ``run`` keeps state.
    """

    # Class-level defaults, so a subclass whose __init__ forgets super().__init__() works.
    _cw_name: str | None = None
    _cw_store: Any = None
    _cw_cache_calls = True
    _cw_version: Any = None
    _cw_ttl: float | None = None
    _cw_parallel = False
    _cw_every: Any = None
    _cw_tz: Any = None
    _cw_lag = 0
    _cw_catchup: Any = None  # None, True (from the first recorded period) or a Period
    _cw_catchup_limit = CATCHUP_LIMIT
    _cw_period: Period | None = None
    _cw_on_running = "wait"
    _cw_wait_timeout: float | None = None
    _cw_lease: float | None = None
    _cw_executor: Any = None
    _cw_max_result_bytes = MAX_RESULT_BYTES
    _cw_status = "not_started"
    _cw_future: Any = None
    _cw_binder: _Binder
    _cw_raw: Callable[..., Any]
    _cw_bound_self = True  # the raw run takes the work as its first argument

    def __init__(
        self,
        *,
        name: str | None = None,
        store: Store | str | os.PathLike[str] | None = None,
        cache_calls: bool = True,
        version: Any = None,
        ttl: _dt.timedelta | float | None = None,
        parallel: bool = False,
        every: str | _dt.timedelta | None = None,
        tz: str | None = None,
        on_running: str = "wait",
        wait_timeout: float | None = None,
        lease: float | None = None,
        executor: _cf.Executor | None = None,
        max_result_bytes: int = MAX_RESULT_BYTES,
        lag: int = 0,
        catchup: bool | str | _dt.date | _dt.datetime | Period | None = None,
        catchup_limit: int = CATCHUP_LIMIT,
    ) -> None:
        if on_running not in _ON_RUNNING:
            raise ValueError(f"on_running must be one of {_ON_RUNNING}, not {on_running!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, not {name!r}")
        if every is not None:
            from .periods import check_every

            check_every(every, tz)
        elif tz is not None:
            raise ValueError(f"tz={tz!r} is the zone of every= periods; give every= too")
        self._cw_name = name
        self._cw_store = store if isinstance(store, Store) or store is None else get_store(store)
        self._cw_cache_calls = bool(cache_calls)
        self._cw_version = version
        self._cw_ttl = _seconds(ttl, "ttl")
        self._cw_parallel = bool(parallel)
        self._cw_every = every
        self._cw_tz = tz
        self._cw_on_running = on_running
        self._cw_wait_timeout = _seconds(wait_timeout, "wait_timeout", zero=True)
        self._cw_lease = _seconds(lease, "lease")
        self._cw_executor = executor
        if (
            isinstance(max_result_bytes, bool)
            or not isinstance(max_result_bytes, int)
            or max_result_bytes <= 0
        ):
            raise ValueError(
                f"max_result_bytes must be a positive whole number of bytes, not {max_result_bytes!r}"
            )
        self._cw_max_result_bytes = max_result_bytes
        self._cw_status = "not_started"
        self._init_schedule(lag, catchup, catchup_limit)
        raw = getattr(type(self), "_cw_raw", None)  # a subclass's run; a function's comes later
        if every is not None and raw is not None:
            from ._periodic import refuse_period_arg

            refuse_period_arg(raw, self.name)

    def _init_schedule(self, lag: Any, catchup: Any, catchup_limit: Any) -> None:
        """Check and keep ``lag``, ``catchup`` and ``catchup_limit`` (periods, with every=)."""
        for what, value, least in (("lag", lag, 0), ("catchup_limit", catchup_limit, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{what} must be a whole number >= {least}, not {value!r}")
        if self._cw_every is None and (lag or catchup not in (None, False)):
            given = "lag" if lag else "catchup"
            raise ValueError(f"{given}= counts periods: give every= too")
        self._cw_lag = lag
        self._cw_catchup_limit = catchup_limit
        if catchup is None or catchup is False:
            self._cw_catchup = None
        elif catchup is True:
            self._cw_catchup = True
        else:
            try:
                self._cw_catchup = Period.of(self._cw_every, self._cw_tz, catchup)
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f"catchup must be None, True or the first period to run: {e}"
                ) from None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        run = cls.__dict__.get("run")
        if run is None or getattr(run, "_cachework_run", False):
            return
        _check_cacheable(run, "the run method")
        cls._cw_binder = _Binder(run, skip_self=True)
        cls._cw_raw = run

        @functools.wraps(run)
        def cached_run(self: Work, *args: Any, **kwargs: Any) -> Any:
            if _inside and (_get_ident(), id(self)) in _inside:
                # super().run() from an overriding run, in the thread running the call: the
                # outer call is the cached one. Another thread's call is a call of its own.
                return run(self, *args, **kwargs)
            return self._cw_call(run, args, kwargs)

        cached_run._cachework_run = True  # type: ignore[attr-defined]
        cls.run = cached_run  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        # A work travels (parallel executors) with its configuration and state, never with
        # the Future of its latest call.
        state = dict(self.__dict__)
        state.pop("_cw_future", None)
        state.pop("_cw_executor", None)  # the copy runs where it lands; it does not submit again
        state.pop("_cw_keys", None)
        return state

    # -- configuration, read-only -----------------------------------------------------------
    @property
    def name(self) -> str:
        """The key namespace; default ``<module>.<QualName>``."""
        if self._cw_name is None:
            self._cw_name = _default_name(type(self).__module__, type(self).__qualname__)
        return self._cw_name

    @property
    def store(self) -> Store:
        if not isinstance(self._cw_store, Store):
            self._cw_store = get_store(self._cw_store)
        return self._cw_store

    @property
    def cache_calls(self) -> bool:
        return self._cw_cache_calls

    @property
    def version(self) -> Any:
        return self._cw_version

    @property
    def ttl(self) -> float | None:
        return self._cw_ttl

    @property
    def parallel(self) -> bool:
        return self._cw_parallel

    @property
    def every(self) -> Any:
        return self._cw_every

    @property
    def tz(self) -> Any:
        return self._cw_tz

    @property
    def lag(self) -> int:
        return self._cw_lag

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
        return self._cw_status != "not_started"

    @property
    def is_running(self) -> bool:
        return self._cw_status == "running"

    @property
    def has_succeeded(self) -> bool:
        return self._cw_status == "succeeded"

    @property
    def has_failed(self) -> bool:
        return self._cw_status == "failed"

    # -- the public verbs ------------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Override this; cachework wraps it so that it runs only for new arguments."""
        raise NotImplementedError(f"{type(self).__qualname__} must define run()")

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The key ``run(*args, **kwargs)`` would have now."""
        return self._bound_key(args, kwargs)[1]

    def forget(self, *args: Any, **kwargs: Any) -> bool:
        """Remove the entry that ``run(*args, **kwargs)`` would hit, so that call runs again."""
        return self.store.forget(self.name, key=self.key(*args, **kwargs)) > 0

    def run_for(
        self, period: Period | str | _dt.date | _dt.datetime, /, *args: Any, **kwargs: Any
    ) -> Any:
        """Run (or hit) the call of a past or current ``period``: a label, date, datetime or
        Period of this work's schedule. No catch-up runs before it."""
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
        """Labels of the periods from ``start`` to ``end`` (default: the current period),
        oldest first, with no succeeded entry for these arguments. ``start`` and ``end`` are
        positional, so the function's own ``start=``/``end=`` arguments pass through."""
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
        **kwargs: Any,
    ) -> BackfillReport:
        """Run the missing and failed periods from ``start`` to ``end`` (default: the
        current period), oldest first, in this thread; a failure does not stop the others.
        Returns which labels ran, hit, failed (with the error) or, under ``dry_run``, would run."""
        from . import _periodic

        first, last = self._period_range(start, end, "backfill")
        return _periodic.backfill(self, first, last, args, kwargs, dry_run)

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the latest parallel call and return its result (raises what it raised)."""
        future = self._cw_future
        if future is None:
            return None
        return future.result(timeout)

    # -- the machinery ----------------------------------------------------------------------
    def _bound_key(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], raw: Any = None
    ) -> tuple[dict[str, Any], str, tuple[Any, ...] | None]:
        """The bound arguments of a call, its key, and the memo slot a hit may fill."""
        if self._cw_every is not None:
            # The period was fixed when the call was made and travels with it (a PeriodCall);
            # key() and forget() without a call mean the current one.
            if raw.__class__ is _PeriodCall:
                period = raw.period
            else:
                period = periods.current(self._cw_every, self._cw_tz, self._cw_lag)
            bound = _bind_period(self, args, kwargs, period)  # the call's period, not the caller's
            return bound, keys.key_for(bound, self._cw_version), None
        memo_key = _memo_key(args, kwargs)
        if memo_key is not None:
            memo = self.__dict__.get("_cw_keys")
            if memo is not None:
                known = memo.get(memo_key)
                if known is not None:
                    return known  # type: ignore[no-any-return]
        bound = self._cw_binder(args, kwargs)
        return bound, keys.key_for(bound, self._cw_version), memo_key

    def _remember(self, memo_key: tuple[Any, ...], bound: dict[str, Any], key: str) -> None:
        """Let identical scalar calls reuse the key of one that hit. Only hits fill the memo:
        a stream of new arguments (every call a miss) would churn it for nothing."""
        # Defaults count too: a mutable default could change between calls.
        if _MEMO_TYPES.issuperset(map(type, bound.values())):
            memo = self.__dict__.get("_cw_keys")
            if memo is None or len(memo) >= _KEY_MEMO_SIZE:
                memo = self.__dict__["_cw_keys"] = {}
            memo[memo_key] = (bound, key, None)

    def _cw_call(
        self, raw: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._cw_every is not None:
            return self._cw_call_period(raw, args, kwargs)
        if self._cw_parallel:
            return self._cw_submit(raw, args, kwargs)
        return self._cw_execute(raw, args, kwargs)

    # -- periods: every= calls --------------------------------------------------------------
    def _cw_call_period(
        self,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        period: Period | None = None,
    ) -> Any:
        """An every= call: its period is fixed here, once, and travels with the call."""
        explicit = period is not None
        if period is None:
            period = periods.current(self._cw_every, self._cw_tz, self._cw_lag)
        call = self.__dict__.get("_cw_pcall")
        if call is None or call.period is not period or call.fn is not raw:
            call = self.__dict__["_cw_pcall"] = _PeriodCall(raw, period, self)
        self._cw_period = period
        failed = None
        if self._cw_catchup is not None and not explicit:
            from ._periodic import catch_up

            failed = catch_up(self, raw, args, kwargs, period)
        if self._cw_parallel:
            result = self._cw_submit(call, args, kwargs)
        else:
            result = self._cw_execute(call, args, kwargs)
        if failed:
            raise CatchupFailed(self.name, failed, result)
        return result

    def _period_of(self, value: Any, verb: str) -> Period:
        """``value`` as a Period of this work's schedule, refused if it has not begun."""
        if self._cw_every is None:
            raise TypeError(f"{self.name}: {verb} needs a work with every= periods")
        period = Period.of(self._cw_every, self._cw_tz, value)
        now = periods.current(self._cw_every, self._cw_tz)
        if period > now:
            raise ValueError(
                f"{self.name}: period {period.label} is in the future (the current period "
                f"is {now.label})"
            )
        return period

    def _period_range(self, start: Any, end: Any, verb: str) -> tuple[Period, Period]:
        first = self._period_of(start, verb)
        if end is None:
            last = periods.current(self._cw_every, self._cw_tz, self._cw_lag)
        else:
            last = self._period_of(end, verb)
        if first > last:
            raise ValueError(
                f"{self.name}: {verb} from {first.label} to {last.label}: start is after end"
            )
        return first, last

    def _cw_submit(
        self, raw: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        from . import _parallel

        previous, self._cw_status = self._cw_status, "pending"  # before: the call may start
        try:
            future = _parallel.submit(self, raw, args, kwargs)
        except BaseException:
            self._cw_status = previous  # nothing was submitted
            raise
        self._cw_future = future
        return future

    def _cw_execute(
        self, raw: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # The hot path: every call that hits goes through these lines, so they avoid
        # properties and helper calls where a plain attribute will do.
        bound, key, memo_key = self._bound_key(args, kwargs, raw)
        store = self._cw_store
        if store.__class__ is not Store:
            store = self.store
        name = self._cw_name or self.name
        accept_hit = self._cw_cache_calls
        entry = None
        if accept_hit:
            entry = store.lookup(name, key)
            if entry is not None and store.is_fresh(entry):
                value = self._serve(entry, name, key)
                if value is not _MISS:
                    if memo_key is not None:
                        self._remember(memo_key, bound, key)
                    return value
                accept_hit = False
        absent = accept_hit and entry is None
        previous = self._cw_status
        try:
            return self._claim_and_run(
                store, name, key, bound, raw, args, kwargs, accept_hit, absent
            )
        except BaseException:
            if self._cw_status == "pending":
                # The claim (or the wait for another caller) raised: this call never ran
                # and recorded nothing, so the status still describes the one before it.
                self._cw_status = previous
            raise

    def _serve(self, entry: tuple[Any, ...], name: str, key: str) -> Any:
        """A hit: the stored result, with the state restored; ``_MISS`` if it no longer loads."""
        try:
            value = pickle.loads(entry[3])
            state = pickle.loads(entry[4]) if entry[4] is not None else None
        except Exception as e:
            message = f"cachework: the stored result of {name} [{key}] no longer loads ({e!r}); running again"
            log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)
            return _MISS
        if state:
            self.__dict__.update(state)
        self._cw_status = "succeeded"
        log.debug("hit %s [%s]", name, key)
        return value

    def _lease(self) -> float:
        """``lease=``, else CACHEWORK_LEASE as it was at this work's first run (reading the
        environment costs more than the rest of this method), else the default."""
        if self._cw_lease is None:
            env = os.environ.get("CACHEWORK_LEASE")
            if not env:
                self._cw_lease = DEFAULT_LEASE
            else:
                try:
                    self._cw_lease = _seconds(float(env), "CACHEWORK_LEASE")
                except ValueError:
                    raise ValueError(
                        f"CACHEWORK_LEASE must be a positive number of seconds, not {env!r}"
                    ) from None
        return self._cw_lease  # type: ignore[return-value]

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
    ) -> Any:
        args_json = keys.args_json(bound)
        lease = self._lease()
        cache_calls = self._cw_cache_calls
        previous = self._cw_status
        self._cw_status = "pending"
        started = time.monotonic()
        delay = _POLL_FIRST_S
        while True:
            claim = store.claim(
                name,
                key,
                args_json,
                cached=cache_calls,
                accept_hit=accept_hit,
                lease=lease,
                versioned=self._cw_version is not None,
                absent=absent,
            )
            absent = False
            if claim.outcome == "owned":
                break
            if claim.outcome == "hit":
                value = self._serve(claim.entry, name, key)  # type: ignore[arg-type]
                if value is not _MISS:
                    return value
                accept_hit = False
                continue
            if self._cw_on_running == "skip":
                self._cw_status = previous
                log.info("skipping %s [%s]: running in %s", name, key, claim.owner)
                return None
            if self._cw_on_running == "raise":
                self._cw_status = previous
                raise AlreadyRunning(f"{name} [{key}] is running in {claim.owner}")
            log.info("waiting for %s [%s]: running in %s", name, key, claim.owner)
            # Poll with cheap reads; take a write lock (a claim) only when the entry changes
            # or once a second, to notice an owner that died.
            last_claim = time.monotonic()
            while True:
                if (
                    self._cw_wait_timeout is not None
                    and time.monotonic() - started > self._cw_wait_timeout
                ):
                    self._cw_status = previous
                    raise AlreadyRunning(
                        f"{name} [{key}] still running in {claim.owner} after {self._cw_wait_timeout} s"
                    )
                time.sleep(delay)
                delay = min(delay * 1.5, _POLL_MAX_S)
                entry = store.lookup(name, key)
                if entry is None or entry[0] != "running":
                    absent = entry is None
                    break
                if time.monotonic() - last_claim > _RECLAIM_EVERY_S:
                    break
        return self._run_owned(
            store, name, key, claim.run_id, claim.reason, raw, args, kwargs, lease, args_json
        )

    def _run_owned(
        self,
        store: Store,
        name: str,
        key: str,
        run_id: int | None,
        reason: str,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        lease: float,
        args_json: str,
    ) -> Any:
        assert run_id is not None
        log.info("running %s [%s]: %s", name, key, reason)
        self._cw_status = "running"
        try:
            return self._run_and_record(store, name, key, run_id, raw, args, kwargs, args_json)
        finally:
            # Whatever happened, this process stops vouching for the run: if recording its
            # end failed, its entry is taken over once the lease lapses, never stuck.
            heartbeats.remove(run_id)

    def _run_and_record(
        self,
        store: Store,
        name: str,
        key: str,
        run_id: int,
        raw: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        args_json: str,
    ) -> Any:
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
            failure = {
                "status": "failed",
                "duration_s": time.perf_counter() - t0,
                "error_type": type(e).__qualname__,
                "error": _error_text(e),
                "traceback": traceback.format_exc(),
            }
            self._record(store, name, key, run_id, failure, reraise=False)
            log.info("failed %s [%s]: %s: %s", name, key, failure["error_type"], failure["error"])
            raise  # the caller's own exception matters more than a failure to record it
        except BaseException as e:
            self._cw_status = "failed"
            why = "SIGTERM" if isinstance(e, _Terminated) else type(e).__name__
            _release_quietly(store, name, key, run_id, f"stopped by {why}")
            log.info("interrupted %s [%s] by %s", name, key, why)
            if isinstance(e, _Terminated):
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)
            raise
        duration = time.perf_counter() - t0
        try:
            result, state = self._pack(value)
            _check_fits(store, name, result, state, args_json)
        except UnstorableResult as e:
            self._cw_status = "failed"
            unstorable = {
                "status": "failed",
                "duration_s": duration,
                "error_type": "UnstorableResult",
                "error": str(e),
                "traceback": traceback.format_exc(),
            }
            self._record(store, name, key, run_id, unstorable, reraise=False)
            raise
        success = {
            "status": "succeeded",
            "duration_s": duration,
            "result": result,
            "state": state,
            "ttl_s": self._cw_ttl,
        }
        self._record(store, name, key, run_id, success, reraise=True)
        self._cw_status = "succeeded"
        log.info("succeeded %s [%s] in %.3f s", name, key, duration)
        return value

    def _record(
        self, store: Store, name: str, key: str, run_id: int, outcome: dict[str, Any], reraise: bool
    ) -> None:
        """Write how a run ended; if that fails, give the claim back so nobody waits on it."""
        try:
            store.finish(name, key, run_id, **outcome)
        except Exception as e:
            self._cw_status = "failed"
            _release_quietly(store, name, key, run_id, f"could not record the outcome: {e}")
            if not reraise:
                log.warning("could not record the outcome of %s [%s]: %s", name, key, e)
                return
            if isinstance(e, StoreError):
                raise StoreError(f"{name} ran, but its result could not be recorded: {e}") from e
            raise

    def _state(self) -> dict[str, Any] | None:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def _pack(self, value: Any) -> tuple[bytes | None, bytes | None]:
        """The result and the state as stored; UnstorableResult names what could not be."""
        if not self._cw_cache_calls:
            return None, None  # never served, so never stored
        limit = self._cw_max_result_bytes
        try:
            result = _dumps(value)
        except Exception as e:
            raise UnstorableResult(
                f"{self.name}: cannot store a return value of type {type(value).__qualname__}: {e}"
            ) from e
        if len(result) > limit:
            raise UnstorableResult(
                f"{self.name}: the return value is {len(result):,} bytes, over max_result_bytes "
                f"({limit:,})"
            )
        state = self._state()
        if not state:
            return result, None
        try:
            packed = _dumps(state)
        except Exception as e:
            names = ", ".join(sorted(state))
            raise UnstorableResult(
                f"{self.name}: cannot store the work state ({names}): {e}"
            ) from e
        return result, packed


#: Calls whose arguments are all immutable scalars remember their key once they hit: the next
#: identical call skips binding and hashing (~2 µs of a ~7 µs hit). Bounded per work.
_KEY_MEMO_SIZE = 1024
_MEMO_TYPES = frozenset({str, int, bool, bytes, type(None)})  # not float: -0.0 == 0.0


def _memo_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """A dict key that tells these arguments apart exactly as keys.key_for would, or None.

    Types join the key because ``1 == True`` in Python but not in cachework.
    """
    for v in args:
        if type(v) not in _MEMO_TYPES:
            return None
    if not kwargs:
        return (*args, *map(type, args))
    for v in kwargs.values():
        if type(v) not in _MEMO_TYPES:
            return None
    items = sorted(kwargs.items())
    return (*args, *map(type, args), *items, *[type(v) for _, v in items])


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
            f"entry ({limit:,} bytes with the arguments)"
        )


def _error_text(e: BaseException) -> str:
    """The message of a failure, even from an exception whose ``__str__`` itself raises:
    recording the failure must never turn into a second error that hides the first."""
    try:
        return str(e)
    except Exception:
        return "<exception str() failed>"  # what the traceback module prints


def _release_quietly(store: Store, name: str, key: str, run_id: int, why: str) -> None:
    try:
        store.release(name, key, run_id, why)
    except Exception:
        log.warning("could not release %s [%s]; retrying", name, key, exc_info=True)
        # A live owner on this host is never taken over: this process must free the entry.
        heartbeats.release_later(run_id, store, name, key, why)


def _dumps(value: Any) -> bytes:
    """Plain pickle where it can (several times faster), cloudpickle for what it cannot:
    lambdas, local classes, functions defined in ``__main__``. Both load with pickle."""
    try:
        data = pickle.dumps(value, protocol=5)
        if b"__main__" not in data:  # a class of the running script: only cloudpickle carries it
            return data
    except Exception:
        pass
    import cloudpickle

    return cloudpickle.dumps(value, protocol=5)


class CachedFunction(Work, Generic[P, R]):
    """A plain function made a work by ``@cachework.work``: call it as before."""

    _cw_bound_self = False

    def __init__(self, fn: Callable[P, R], **options: Any) -> None:
        _check_cacheable(fn, "the function")
        super().__init__(**options)
        functools.update_wrapper(self, fn)
        self._cw_raw = fn
        self._cw_binder = _Binder(fn, skip_self=False)
        if self._cw_name is None:
            self._cw_name = _default_name(fn.__module__, fn.__qualname__)
        if self._cw_every is not None:
            from ._periodic import refuse_period_arg

            refuse_period_arg(fn, self._cw_name)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        # Spelled out rather than via _cw_call: one call less per hit.
        if self._cw_every is not None:
            return self._cw_call_period(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]
        if self._cw_parallel:
            return self._cw_submit(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]
        return self._cw_execute(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]

    def run(self, *args: P.args, **kwargs: P.kwargs) -> R:  # type: ignore[override]
        return self._cw_call(self._cw_raw, args, kwargs)  # type: ignore[no-any-return]

    run._cachework_run = True  # type: ignore[attr-defined]

    def forget(self, *args: P.args, **kwargs: P.kwargs) -> bool:  # type: ignore[override]
        return super().forget(*args, **kwargs)

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
    wait_timeout: float | None = ...,
    lease: float | None = ...,
    executor: _cf.Executor | None = ...,
    max_result_bytes: int = ...,
    lag: int = ...,
    catchup: bool | str | _dt.date | _dt.datetime | Period | None = ...,
    catchup_limit: int = ...,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...
def work(fn: Any = None, /, **options: Any) -> Any:
    """Make a plain function a work: ``@work`` or ``@work(name=..., store=..., ...)``."""
    if fn is not None:
        return CachedFunction(fn, **options)
    return lambda f: CachedFunction(f, **options)
