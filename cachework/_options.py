"""A work's options, declared and checked in one place.

``Work(...)`` and ``@work(...)`` hand what they were given to ``Options(...).checked()``;
the work keeps the result as one frozen value and its read-only properties read it.

A ``NamedTuple`` rather than a frozen dataclass: ``dataclasses`` imports ``inspect``,
which costs a cold start ~9 ms that ``import cachework`` does not otherwise pay.
"""

from __future__ import annotations

import datetime as _dt
import math

from ._store import Store, get_store
from ._typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar, overload

if TYPE_CHECKING:
    import concurrent.futures as _cf
    from typing import Any, Literal, NoReturn

    from ._periods import Period

__all__ = [
    "CATCHUP_LIMIT",
    "DEFAULTS",
    "MAX_RESULT_BYTES",
    "Options",
    "ignore_names",
    "option",
    "seconds",
    "CODE",
    "is_code",
]

T = TypeVar("T")

ON_RUNNING = ("wait", "skip", "raise")
#: A return value larger than this is refused (UnstorableResult) rather than bloating the store.
MAX_RESULT_BYTES = 2**30  # 1 GiB
#: A catch-up refuses to run more missed periods than this unless told otherwise.
CATCHUP_LIMIT = 1000
#: The ``version=`` that asks for a digest of the work's code in its keys (``_code``).
CODE = "code"


def is_code(version: Any) -> bool:
    """Whether ``version=`` asks for the code's digest: exactly the str ``"code"``."""
    return type(version) is str and version == CODE


class Options(NamedTuple):
    """Every option of a work, with its default. After ``checked()``, durations are
    seconds and ``catchup`` is None, True or a Period; ``name``, ``store`` and ``lease``
    left None are resolved at first use (the work replaces its options then)."""

    name: str | None = None
    store: Store | None = None
    cache_calls: bool = True
    version: Any = None
    ttl: float | None = None
    parallel: bool = False
    every: str | _dt.timedelta | None = None
    tz: str | None = None
    on_running: str = "wait"
    wait_timeout: float | None = None
    lease: float | None = None
    executor: _cf.Executor | None = None
    max_result_bytes: int = MAX_RESULT_BYTES
    lag: int = 0
    #: None (no catch-up), True (from the first recorded period) or the first Period to run.
    catchup: Period | Literal[True] | None = None
    catchup_limit: int = CATCHUP_LIMIT
    #: Not an option but what ``version`` makes of the key: the version itself, or for
    #: ``version="code"`` the code's digest, which the work fills in when it is made.
    key_version: Any = None
    #: Parameters left out of the key and the args JSON, sorted; checked against the
    #: function's signature by the work (``Binder.ignoring``), which alone knows it.
    ignore: tuple[str, ...] = ()
    #: Whether a call may be served from the store: ``cache_calls``, unless
    #: CACHEWORK_REFRESH names the work (the work decides, knowing its name).
    hits: bool = True

    @classmethod
    def of(cls, **given: Any) -> Options:
        """The options given to ``Work(...)`` or ``@work(...)``, checked."""
        return cls(**given).checked()

    def checked(self) -> Options:
        """These options as a work keeps them; ValueError names the first bad one."""
        if self.on_running not in ON_RUNNING:
            raise ValueError(f"on_running must be one of {ON_RUNNING}, not {self.on_running!r}")
        name = self.name
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, not {name!r}")
        every, tz = self.every, self.tz
        if every is not None:
            from ._periods import check_every  # only every= works load the period modules

            check_every(every, tz)
        elif tz is not None:
            raise ValueError(f"tz={tz!r} is the zone of every= periods; give every= too")
        store: Any = self.store
        if not (isinstance(store, Store) or store is None):
            store = get_store(store)
        ttl = seconds(self.ttl, "ttl")
        wait_timeout = seconds(self.wait_timeout, "wait_timeout", zero=True)
        lease = seconds(self.lease, "lease")
        size = self.max_result_bytes
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(
                f"max_result_bytes must be a positive whole number of bytes, not {size!r}"
            )
        return self._replace(
            store=store,
            cache_calls=bool(self.cache_calls),
            hits=bool(self.cache_calls) and bool(self.hits),
            ttl=ttl,
            parallel=bool(self.parallel),
            wait_timeout=wait_timeout,
            lease=lease,
            catchup=self._checked_catchup(),
            key_version=None if is_code(self.version) else self.version,
            ignore=ignore_names(self.ignore),
        )

    def _checked_catchup(self) -> Period | Literal[True] | None:
        """Check ``lag`` and ``catchup_limit``, and ``catchup`` as None, True or a Period."""
        lag, catchup = self.lag, self.catchup
        for what, value, least in (("lag", lag, 0), ("catchup_limit", self.catchup_limit, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{what} must be a whole number >= {least}, not {value!r}")
        if self.every is None and (lag or catchup not in (None, False)):
            given = "lag" if lag else "catchup"
            raise ValueError(f"{given}= counts periods: give every= too")
        if catchup is None or catchup is False:
            return None
        if catchup is True:
            return True
        assert self.every is not None  # checked just above
        from ._periods import Period

        try:
            return Period.of(self.every, self.tz, catchup)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"catchup must be None, True or the first period to run: {e}"
            ) from None


class option(Generic[T]):
    """A work's read-only property for one of its ``Options``, of the same name:
    ``ttl: option[float | None] = option("Seconds ...")``. One descriptor instead of a
    property written out per option; its text is what ``help()`` shows."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> option[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        return getattr(obj._cw_options, self.name)

    def __set__(self, obj: object, value: Any) -> NoReturn:
        raise AttributeError(
            f"{self.name} is read-only: give it to Work(...) or @work(...) instead"
        )


def ignore_names(ignore: Any) -> tuple[str, ...]:
    """``ignore=`` as the sorted names it holds: one name, or an iterable of names."""
    if ignore is None:
        return ()
    names = (ignore,) if isinstance(ignore, str) else ignore
    try:
        names = tuple(names)
    except TypeError:
        raise TypeError(
            f"ignore must be a parameter name or an iterable of them, not {ignore!r}"
        ) from None
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"ignore names parameters; {name!r} is not a parameter name")
    return tuple(sorted(set(names)))


#: The options of a work made with none given (and of a subclass that skips ``__init__``).
DEFAULTS = Options()


@overload
def seconds(value: float | _dt.timedelta, what: str, *, zero: bool = False) -> float: ...
@overload
def seconds(value: Any, what: str, *, zero: bool = False) -> float | None: ...
def seconds(value: Any, what: str, *, zero: bool = False) -> float | None:
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
