"""cachework: a durable call cache. A work's ``run`` executes only when its arguments are new.

Calls are keyed by a stable hash of their bound arguments and recorded in SQL (SQLite by
default, PostgreSQL for several machines): results and work state come back on a hit, in a
new process too; failures are recorded and retried; a crashed run is taken over.
"""

from __future__ import annotations

from ._calendar import CalendarRow
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
from ._periodic import BackfillReport
from ._periods import Period, period_label
from ._store import Call, Run, Store
from ._work import CachedFunction, Work, work

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

# Public names defined in private modules show their public path in reprs, tracebacks and
# docs (``cachework.Store``, not ``cachework._store.Store``), as httpx does.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = "cachework"
del _name, _obj
