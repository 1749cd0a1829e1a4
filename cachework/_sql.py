"""The statements of claims, hits and finishes, built from the schema's tables.

They are compiled once per dialect into plain SQL strings and executed straight on the
DBAPI connection: a miss then costs a few driver calls instead of SQLAlchemy's per-call
machinery, while the text still comes from the one schema and cannot drift from it.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ._keys import KEY_SCHEME
from ._typing import NamedTuple
from .schema import calls, runs

_WHERE_CALL = sa.and_(calls.c.work == sa.bindparam("work"), calls.c.key == sa.bindparam("key"))
_WHERE_OWNED = sa.and_(_WHERE_CALL, calls.c.run_id == sa.bindparam("run_id"))

#: What a hit needs, and nothing more: the hot path reads these six columns
#: (``_records.Stored`` names them, in this order).
LOOKUP_COLUMNS = (
    calls.c.status,
    calls.c.cached,
    calls.c.expires_at,
    calls.c.result,
    calls.c.state,
    calls.c.key_scheme,
)
#: What a hit reads (``_records.Hit``, in this order): the result only where the call may
#: be served. The rules of ``Claims._stale`` that need no clock stand here as SQL, so that a
#: hit reads three columns instead of six; a call that exists but may not be served still
#: gives a row, and a miss knows without another statement whether to insert at once.
HIT_COLUMNS = (
    sa.case(
        (
            sa.and_(
                calls.c.status == sa.literal_column("'succeeded'"),
                calls.c.cached == sa.true(),
                calls.c.key_scheme == sa.literal_column(str(KEY_SCHEME)),
            ),
            calls.c.result,
        )
    ).label("result"),
    calls.c.state,
    calls.c.expires_at,
)
#: What a claim and a sweep read (``_records.Held``, in this order).
CLAIM_COLUMNS = LOOKUP_COLUMNS + (
    calls.c.owner,
    calls.c.owner_start,
    calls.c.heartbeat_at,
    calls.c.lease_s,
    calls.c.run_id,
)
_OWNER: dict[str, Any] = {
    "owner": sa.bindparam("owner"),
    "owner_start": sa.bindparam("owner_start"),
    "lease_s": sa.bindparam("lease_s"),
    "run_id": sa.bindparam("run_id"),
}
#: What a claim writes into both the history row and a new call.
_STARTED: dict[str, Any] = {
    "work": sa.bindparam("work"),
    "key": sa.bindparam("key"),
    "args": sa.bindparam("args"),
    "status": "running",
    "cached": sa.bindparam("cached"),
}


def _insert(dialect_name: str) -> Any:
    module = postgresql if dialect_name == "postgresql" else sqlite
    return module.insert


#: How many of the store's latest runs a miss searches for the same arguments under another
#: key, to log "new version": walking back by id costs the same at any history length
#: (the question used to scan all of a work's runs inside the write lock: 35 ms at 48k).
#: A version change older than this many runs is logged as plain "new".
RECENT_RUNS = 1000


def statements(dialect_name: str) -> dict[str, Any]:
    insert = _insert(dialect_name)
    # The time a statement records. SQLite binds the machine's clock (``Backend.stamp``); a
    # server writes its own ``now()``, the transaction's start, without a round trip to read it.
    now = sa.func.now() if dialect_name == "postgresql" else sa.bindparam("now")
    owner = {**_OWNER, "heartbeat_at": now}
    claim_select = sa.select(*CLAIM_COLUMNS).where(_WHERE_CALL)
    sweep_select = claim_select
    run_insert = sa.insert(runs).values(
        **_STARTED,
        started_at=now,
        host=sa.bindparam("host"),
        pid=sa.bindparam("pid"),
        args_key=sa.bindparam("args_key"),
        # The reason the claim gives; where it gives none (a call never seen, the log off)
        # the statement tells "forgotten" (runs of this key exist) from "new" itself: one
        # index probe inside SQLite or the server, no statement of its own on every miss.
        reason=sa.func.coalesce(
            sa.bindparam("reason", type_=sa.String),
            sa.case(
                (
                    sa.exists().where(
                        runs.c.work == sa.bindparam("work"), runs.c.key == sa.bindparam("key")
                    ),
                    "forgotten",
                ),
                else_="new",
            ),
        ),
    )
    if dialect_name == "postgresql":
        run_insert = run_insert.returning(runs.c.id)  # SQLite has it at hand: lastrowid
        # A claim must wait for a row another host holds (it wants that call's result);
        # a sweep must not: a row locked right now is alive by definition, so skip it.
        claim_select = claim_select.with_for_update()
        sweep_select = sweep_select.with_for_update(skip_locked=True)
    return {
        "lookup": sa.select(*LOOKUP_COLUMNS).where(_WHERE_CALL),
        "hit": sa.select(*HIT_COLUMNS).where(_WHERE_CALL),
        "claim_select": claim_select,
        "sweep_select": sweep_select,
        "run_insert": run_insert,
        "call_insert": insert(calls)
        .values(
            **_STARTED,
            created_at=now,
            key_scheme=sa.bindparam("key_scheme"),
            **owner,
        )
        .on_conflict_do_nothing(),
        "call_take": sa.update(calls)
        .where(_WHERE_CALL)
        .values(
            args=sa.bindparam("args"),
            status="running",
            result=sa.null(),
            state=sa.null(),
            created_at=now,
            finished_at=sa.null(),
            expires_at=sa.null(),
            cached=sa.bindparam("cached"),
            key_scheme=sa.bindparam("key_scheme"),
            **owner,
        ),
        "run_interrupt": sa.update(runs)
        .where(runs.c.id == sa.bindparam("run_id"), runs.c.status == "running")
        .values(
            status="interrupted",
            finished_at=now,
            error_type=sa.bindparam("error_type"),
            error=sa.bindparam("error"),
        ),
        "call_finish": sa.update(calls)
        .where(_WHERE_OWNED)
        .values(
            status=sa.bindparam("status"),
            result=sa.bindparam("result"),
            state=sa.bindparam("state"),
            finished_at=now,
            expires_at=sa.bindparam("expires_at"),
            # NULL in the SQL, not a bound None: sqlite3 binds None through its adapter
            # lookup, which costs as much as the rest of binding a value.
            owner=sa.null(),
            owner_start=sa.null(),
            heartbeat_at=sa.null(),
        ),
        "run_finish": sa.update(runs)
        .where(runs.c.id == sa.bindparam("run_id"), runs.c.status == "running")
        .values(
            status=sa.bindparam("status"),
            finished_at=now,
            duration_s=sa.bindparam("duration_s"),
            error_type=sa.bindparam("error_type"),
            error=sa.bindparam("error"),
            traceback=sa.bindparam("traceback"),
        ),
        "call_release": sa.delete(calls).where(_WHERE_OWNED),
        "heartbeat": sa.update(calls)
        .where(_WHERE_OWNED, calls.c.status == "running")
        .values(heartbeat_at=now),
        "ran_before": sa.select(
            sa.exists().where(
                runs.c.work == sa.bindparam("work"), runs.c.key == sa.bindparam("key")
            )
        ),
        "same_args": _same_args(dialect_name),
        "other_scheme": sa.select(
            sa.exists().where(
                calls.c.work == sa.bindparam("work"),
                calls.c.key_scheme != sa.bindparam("key_scheme"),
            )
        ),
    }


def _same_args(dialect_name: str) -> Any:
    """Whether one of the store's ``RECENT_RUNS`` latest runs had these arguments (their
    ``args_key``) under another key.

    The latest runs are an id range, read through the primary key. Both bounds are given so
    that PostgreSQL estimates the range as narrow before it has statistics (with a lower
    bound only it guessed a third of the table and read all of it). The work is compared
    as an expression, not a column, to keep either planner off the (work, key) index, which
    would visit every run of the work: SQLite's unary ``+`` (free), PostgreSQL's ``|| ''``.
    """
    last = sa.select(sa.func.max(runs.c.id)).correlate(None).scalar_subquery()
    work: Any = runs.c.work + ""
    if dialect_name != "postgresql":
        work = sa.literal_column(f"+{runs.name}.{runs.c.work.name}")
    return sa.select(
        sa.exists().where(
            runs.c.id > last - sa.bindparam("recent", RECENT_RUNS),
            runs.c.id <= last,
            work == sa.bindparam("work"),
            runs.c.key != sa.bindparam("key"),
            runs.c.args_key == sa.bindparam("args_key"),
        )
    )


class Compiled(NamedTuple):
    """One statement, ready for the DBAPI cursor."""

    text: str
    #: Values of the parameters the statement fixes itself (``status='running'``): the
    #: caller's dict is merged over them.
    fixed: dict[str, Any]
    #: For positional SQL (SQLite's ``?``), the tuple of values in order, taken from the
    #: parameter dict in one C call: binding by name costs sqlite3 twice as much per value.
    #: None where the driver takes the dict itself.
    values: Callable[[dict[str, Any]], tuple[Any, ...]] | None


def compile_all(dialect: Any) -> dict[str, Compiled]:
    """Every statement as SQL text for ``dialect``, with what ``Backend.execute`` needs to bind it."""
    return {name: compile_one(stmt, dialect) for name, stmt in statements(dialect.name).items()}


def compile_one(stmt: Any, dialect: Any) -> Compiled:
    compiled = stmt.compile(dialect=dialect)
    fixed = {k: b.value for k, b in compiled.binds.items() if not b.required and k[0] != "%"}
    order = compiled.positiontup
    values = None
    if order is not None:
        # itemgetter of one name returns the value itself, not a 1-tuple
        values = itemgetter(*order) if len(order) > 1 else (lambda d, k=order[0]: (d[k],))
    return Compiled(str(compiled), fixed, values)


def sqlite_dialect() -> Any:
    return sqlite.dialect(paramstyle="qmark")
