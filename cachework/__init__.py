"""cachework: a durable call cache. A work's ``run`` executes only when its arguments are new.

Calls are keyed by a stable hash of their bound arguments and recorded in SQL (SQLite by
default, PostgreSQL for several machines): results and work state come back on a hit, in a
new process too; failures are recorded and retried; a crashed run is taken over.
"""

from __future__ import annotations

import logging

from ._calendar import CalendarRow
from ._periodic import BackfillReport
from .errors import (
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
from .keys import KEY_SCHEME, key_for
from .periods import Period, period_label
from .store import Call, Run, Store
from .work import CachedFunction, Work, work

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
    "work",
]

logging.getLogger("cachework").addHandler(logging.NullHandler())
