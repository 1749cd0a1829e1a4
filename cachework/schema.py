"""The tables, as SQLAlchemy Core metadata: the one source of truth for migrations and queries.

Alembic's migrations are checked against this metadata by the test suite, and every
statement the store runs is built from these ``Table`` objects, so the schema lives here only.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ._formats import SQLITE_TIME_FORMAT, VERSION_TABLE

__all__ = ["SQLITE_TIME_FORMAT", "VERSION_TABLE", "calls", "metadata", "runs", "works"]

metadata = sa.MetaData()

#: SQLAlchemy's spelling of each ``strftime`` field of ``SQLITE_TIME_FORMAT``: how it
#: writes a field, and its number in the regexp that reads one.
_FIELDS = {
    "%Y": "%(year)04d",
    "%m": "%(month)02d",
    "%d": "%(day)02d",
    "%H": "%(hour)02d",
    "%M": "%(minute)02d",
    "%S": "%(second)02d",
    "%f": "%(microsecond)06d",
}
_FIELD = re.compile("|".join(_FIELDS))

#: On SQLite, timestamps are UTC ISO-8601 text (``SQLITE_TIME_FORMAT``) so that
#: ``date(started_at)`` works and text order is time order; PostgreSQL gets ``timestamptz``.
Timestamp = sa.DateTime(timezone=True).with_variant(
    sqlite.DATETIME(
        storage_format=_FIELD.sub(lambda m: _FIELDS[m.group()], SQLITE_TIME_FORMAT),
        regexp="".join(
            r"(\d+)" if part in _FIELDS else re.escape(part)
            for part in re.split(f"({_FIELD.pattern})", SQLITE_TIME_FORMAT)
        ),
    ),
    "sqlite",
)

#: JSON text on SQLite (``json_extract(args, '$.day')``), jsonb on PostgreSQL (``args->>'day'``).
Args = sa.Text().with_variant(postgresql.JSONB(), "postgresql")

calls = sa.Table(
    "cachework_calls",
    metadata,
    sa.Column("work", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("args", Args, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("result", sa.LargeBinary),
    sa.Column("state", sa.LargeBinary),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("expires_at", Timestamp),
    sa.Column("owner", sa.String(255)),
    sa.Column("heartbeat_at", Timestamp),
    # Beyond the documented columns: what the store needs to run claims safely.
    sa.Column("owner_start", sa.String(32)),  # the owner's process start time: pid reuse guard
    sa.Column("lease_s", sa.Float),  # the owner's lease, so any waiter can judge its heartbeat
    sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer, "sqlite")),
    sa.Column("cached", sa.Boolean, nullable=False),
    sa.Column("key_scheme", sa.Integer, nullable=False),
    # On SQLite the primary key is the table itself: one B-tree, one page per write less.
    sqlite_with_rowid=False,
)

runs = sa.Table(
    "cachework_runs",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("work", sa.String(255), nullable=False),
    sa.Column("key", sa.String(32), nullable=False),
    sa.Column("args", Args, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("duration_s", sa.Float),
    sa.Column("error_type", sa.String(255)),
    sa.Column("error", sa.Text),
    sa.Column("traceback", sa.Text),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("cached", sa.Boolean, nullable=False),
    # Why the call ran: "new", "expired", "failed before", "code changed", "refresh"...
    # (revision 0003; NULL in runs recorded before it).
    sa.Column("reason", sa.Text),
    # The key of the arguments alone, without the version (revision 0003): a run of the
    # same arguments under another key then tells a new version (or changed code) apart
    # from new arguments exactly, where the args JSON cannot (a tuple and a list read alike).
    sa.Column("args_key", sa.String(32)),
)
# One index on purpose: each index is one more page written by every claim (~4 µs on
# SQLite). (work, key) serves `show`, history by work, and the "forgotten" reason. Recent
# history needs none: it is read newest first by id, and ids grow with started_at.
sa.Index("ix_cachework_runs_work_key", runs.c.work, runs.c.key)

#: One row per work with a schedule: what the calendar and catch-up need to know about a work
#: without its code. Written off the hit path, when a work's first run in a process finds
#: the row missing or different.
works = sa.Table(
    "cachework_works",
    metadata,
    sa.Column("work", sa.String(255), primary_key=True),
    # "minute", "hour", "day", "week", "month", or a timedelta as seconds ("900s").
    sa.Column("every", sa.String(64), nullable=False),
    sa.Column("tz", sa.String(64)),  # a zoneinfo name; NULL: the local time of the machine
    sa.Column("lag", sa.Integer, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)
