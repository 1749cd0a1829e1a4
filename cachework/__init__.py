"""cachework: a durable call cache. A work's ``run`` executes only when its arguments are new.

Calls are keyed by a stable hash of their bound arguments and recorded in SQL (SQLite by
default, PostgreSQL for several machines): results and work state come back on a hit, in a
new process too; failures are recorded and retried; a crashed run is taken over.
"""

from __future__ import annotations

from ._errors import (
    AlreadyRunning,
    AmbiguousCall,
    CacheworkError,
    CatchupFailed,
    NoSuchCall,
    NoSuchWork,
    StoreError,
    UnhashableArgument,
    UnstorableResult,
)
from ._keys import KEY_SCHEME, key_for, register_encoder
from ._store import Call, Run, Store
from ._typing import TYPE_CHECKING
from ._work import CachedFunction, Work, work

if TYPE_CHECKING:
    from ._calendar import CalendarRow
    from ._periodic import BackfillReport
    from ._periods import Period, period_label

__version__ = "0.1.0"

__all__ = [
    "KEY_SCHEME",
    "Period",
    "AlreadyRunning",
    "AmbiguousCall",
    "BackfillReport",
    "CacheworkError",
    "CachedFunction",
    "CalendarRow",
    "CatchupFailed",
    "Call",
    "NoSuchCall",
    "NoSuchWork",
    "Run",
    "Store",
    "StoreError",
    "UnhashableArgument",
    "UnstorableResult",
    "Work",
    "__version__",
    "key_for",
    "period_label",
    "register_encoder",
    "work",
]

#: Public names whose module only ``every=`` works, backfills and the calendar need: loaded
#: at first use (``__getattr__``), so a process that only hits a plain work never imports
#: them (issue 19: a cold hit's cost).
_LAZY = {
    "BackfillReport": "_periodic",
    "CalendarRow": "_calendar",
    "Period": "_periods",
    "period_label": "_periods",
}


def _public(obj: object) -> None:
    """Public names defined in private modules show their public path in reprs, tracebacks
    and docs (``cachework.Store``, not ``cachework._store.Store``), as httpx does."""
    if isinstance(obj, type) or callable(obj):
        obj.__module__ = "cachework"


for _name in __all__:
    if _name not in _LAZY:
        _public(globals()[_name])
del _name


if not TYPE_CHECKING:  # type checkers read the imports above, and catch a misspelt name

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'cachework' has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(f".{module}", __name__), name)
        _public(value)
        globals()[name] = value  # the next access is a plain attribute
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
