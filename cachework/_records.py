"""The records rows become as they leave the driver: every reader names a column, none
counts to it. Standard library only: the hit path builds ``Stored``.
"""

from __future__ import annotations

import datetime as _dt

from ._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # types only: nothing here exists at run time, so the hit path pays nothing
    from collections.abc import Mapping, Sequence
    from typing import Any, Protocol, TypeAlias

    #: A JSON value as ``json.loads`` gives it: what the ``args`` column holds.
    JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None
    #: A time as the store gives it back: ISO text on SQLite, a datetime on PostgreSQL.
    StoreTime: TypeAlias = str | _dt.datetime

    class Cursor(Protocol):
        """A DB-API cursor (``sqlite3``'s, psycopg's) as a write transaction hands it to
        the claim protocol: statements run on it, and it tells what they did."""

        @property
        def rowcount(self) -> int: ...
        def execute(
            self, sql: str, params: Sequence[object] | Mapping[str, object] = ..., /
        ) -> object: ...
        def fetchone(self) -> Sequence[object] | None: ...


#: Every status a run of the history can have; a call's status is one of the first three.
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted")
CALL_STATUSES = RUN_STATUSES[:3]


class Stored(NamedTuple):
    """What a hit needs of a call (``_sql.LOOKUP_COLUMNS``, in their order)."""

    status: str
    cached: bool
    expires_at: StoreTime | None
    result: bytes | None
    state: bytes | None
    key_scheme: int


class Hit(NamedTuple):
    """A call as a hit reads it (``_sql``'s "hit" statement, in its order): the three
    columns serving it needs, and no more, since every column read costs a hit time."""

    #: The stored result where the call may be served (succeeded, cached, written under
    #: this key scheme: ``Claims._stale``'s rules, in the statement), else None.
    result: bytes | None
    state: bytes | None
    #: Left to the caller: the clock to compare with is the backend's.
    expires_at: StoreTime | None


class Held(NamedTuple):
    """A call as a claim or a sweep reads it: what a hit needs, and who runs it now
    (``_sql.CLAIM_COLUMNS``, in their order)."""

    status: str
    cached: bool
    expires_at: StoreTime | None
    result: bytes | None
    state: bytes | None
    key_scheme: int
    owner: str | None
    owner_start: str | None
    heartbeat_at: StoreTime | None
    lease_s: float | None
    run_id: int | None

    @property
    def stored(self) -> Stored:
        return Stored._make(self[: len(Stored._fields)])


#: ``new_record(Hit, row)`` makes a record of a row the driver returned, in C: the hit
#: path's one record, at a sixth of ``Hit._make``'s cost (no Python frame, no length
#: check: the row comes from the statement that names exactly these columns).
new_record = tuple.__new__


class Run(NamedTuple):
    """One execution of a call, as recorded in ``cachework_runs``."""

    id: int
    work: str
    key: str
    args: dict[str, Any]  # JSON values; Any so user code may use them as it knows them
    status: str
    started_at: _dt.datetime
    finished_at: _dt.datetime | None
    duration_s: float | None
    error_type: str | None
    error: str | None
    traceback: str | None
    host: str
    pid: int
    cached: bool
    #: Why the call ran ("new", "expired", "code changed", "refresh"...); None for a run
    #: recorded before the store had the column (revision 0003).
    reason: str | None = None


class Call(NamedTuple):
    """One call, as recorded in ``cachework_calls`` (the blobs by size only)."""

    work: str
    key: str
    args: dict[str, Any]  # as Run.args
    status: str
    created_at: _dt.datetime
    finished_at: _dt.datetime | None
    expires_at: _dt.datetime | None
    owner: str | None
    heartbeat_at: _dt.datetime | None
    result_size: int | None
    state_size: int | None
    cached: bool
    key_scheme: int
