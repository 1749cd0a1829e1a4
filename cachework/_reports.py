"""Reports and upkeep of a store: history, calls, works, stats, stored results read
without running code, forgetting, pruning and read-only SQL. Off the hot path: SQLAlchemy
Core, imported on first use.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable, Iterable, Iterator, Mapping

from ._backends import _first_line
from ._errors import AmbiguousCall, NoSuchCall, NoSuchWork, StoreError
from ._formats import as_utc
from ._keys import arg_json, arg_name
from ._log import log
from ._records import CALL_STATUSES, RUN_STATUSES, Call, Run
from ._typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy import ColumnElement, Connection, Engine, RowMapping, Table

    from ._backends import Backend
    from ._calendar import CalendarRow
    from ._records import JSON, Stored


class Reports:
    """What a store tells and tidies, mixed into ``Store`` (its one public face)."""

    if TYPE_CHECKING:
        _backend: Backend
        _shown: str

        def _ensure(self) -> Backend: ...
        def _engine(self) -> Engine: ...
        def lookup(self, work: str, key: str) -> Stored | None: ...
        def sweep(self) -> int: ...
        def safe_url(self) -> str: ...
        def revision(self) -> str | None: ...
        @property
        def dialect(self) -> str: ...

    @contextlib.contextmanager
    def _reading(self, **options: object) -> Iterator[Connection]:
        """A SQLAlchemy connection for listings and reports; a driver's error (a locked or
        unreadable file, a lost server) comes out as one line naming the store."""
        import sqlalchemy as sa

        try:
            with self._engine().connect().execution_options(**options) as conn:
                yield conn
        except sa.exc.DBAPIError as e:
            raise StoreError(f"store {self._shown}: {_first_line(e.orig or e)}") from e

    def _writable(self, doing: str) -> Backend:
        """The opened backend, or a ``StoreError`` naming the store if it cannot be written:
        said before anything is read or written, so a command never reports a half."""
        backend = self._ensure()
        if backend.read_only:
            raise StoreError(f"store {self._shown} is read-only: it cannot {doing}")
        return backend

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[Connection]:
        """One write transaction of upkeep (forget, prune); a read-only store refuses first,
        and a driver's error comes out as one line naming the store."""
        import sqlalchemy as sa

        self._writable(doing)
        try:
            with self._engine().begin() as conn:
                yield conn
        except sa.exc.DBAPIError as e:
            raise StoreError(
                f"store {self._shown}: cannot {doing}: {_first_line(e.orig or e)}"
            ) from e

    def history(
        self,
        work: str | None = None,
        *,
        status: str | None = None,
        key: str | None = None,
        since: _dt.datetime | None = None,
        limit: int | None = 20,
        args: Mapping[str, object] | None = None,
        **values: object,
    ) -> list[Run]:
        """Runs, newest first, filtered by work, status, key, start time and argument values.

        Argument values come as keywords or, for a parameter named like one of this
        method's own (``key``, ``status``, ``limit`` ...), in ``args``; both forms merge.
        """
        values = _arg_filters(args, values)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"limit must be a whole number >= 0 or None, not {limit!r}")
        import sqlalchemy as sa

        from .schema import runs

        where = self._where(runs, RUN_STATUSES, work, key, status, values)
        columns: list[ColumnElement[Any]] = [runs.c[name] for name in Run._fields]
        older = self._ensure().older_revision
        if older is not None and older < "0003":  # a store opened as it is: no reasons yet
            columns[Run._fields.index("reason")] = sa.null().label("reason")
        q = sa.select(*columns).where(*where).order_by(runs.c.id.desc())
        if since is not None:
            try:
                q = q.where(runs.c.started_at >= as_utc(since))
            except (TypeError, ValueError):
                raise ValueError(
                    f"since must be a datetime or ISO-8601 text, not {since!r}"
                ) from None
        if limit == 0:
            return []
        if limit is not None:
            q = q.limit(limit)
        with self._reading(stream_results=True) as conn:
            return [_record(Run, row._mapping) for row in conn.execute(q)]

    def calls(
        self,
        work: str | None = None,
        *,
        key: str | None = None,
        status: str | None = None,
        older_than: _dt.timedelta | None = None,
        args: Mapping[str, object] | None = None,
        **values: object,
    ) -> list[Call]:
        """Calls of a work (or all), optionally only those with this ``status``, those not
        finished (or, never finished, created) for ``older_than`` (as ``prune`` reads age),
        and those whose args hold ``values`` (keywords, or ``args`` for a parameter named
        like one of this method's own; both forms merge)."""
        values = _arg_filters(args, values)
        return list(self._calls(work, key=key, status=status, older_than=older_than, values=values))

    def call(
        self,
        work: str,
        key: str | None = None,
        *,
        args: Mapping[str, object] | None = None,
        **values: object,
    ) -> Call:
        """The one call of ``work`` with this key or whose args hold ``values``: what
        ``cachework show`` prints. Raises ``NoSuchWork`` when the store has no call and no
        run of ``work``, ``NoSuchCall`` when none matches, ``AmbiguousCall`` when several do."""
        values = _arg_filters(args, values)
        if key is None and not values:
            raise ValueError("call needs a key or argument values")
        found = list(self._calls(work, key=key, values=values))
        if len(found) == 1:
            return found[0]
        if found:
            raise AmbiguousCall(work, [c.key for c in found])
        self._known(work)
        asked = ", ".join(
            [*([f"key {key}"] if key else []), *(f"{k}={v!r}" for k, v in values.items())]
        )
        raise NoSuchCall(f"no call of {work} matches {asked}")

    def _where(
        self,
        table: Table,
        statuses: tuple[str, ...],
        work: str | None,
        key: str | None,
        status: str | None,
        values: Mapping[str, object],
    ) -> list[ColumnElement[bool]]:
        """The conditions on a work, a key, a status and argument values that ``calls``
        and ``history`` share. Each value is compared as stored (``jsonable``) by the
        database, so ``1`` never matches ``1.0``, ``True`` or ``"1"``."""
        if status is not None and status not in statuses:
            raise ValueError(f"status must be one of {statuses}, not {status!r}")
        backend = self._ensure()
        where = [
            backend.arg_is(table.c.args, arg_name(name), arg_json(v)) for name, v in values.items()
        ]
        for column, wanted in ((table.c.work, work), (table.c.key, key), (table.c.status, status)):
            if wanted is not None:
                where.append(column == wanted)
        return where

    def _known(self, work: str, then: str = "") -> None:
        """``NoSuchWork`` unless the store has a call or a run of ``work``."""
        if not self._has_work(work):
            raise NoSuchWork(f"no work named {work!r} in {self._shown}" + (then and f": {then}"))

    def _has_work(self, work: str) -> bool:
        """Whether any call or run of ``work`` is recorded."""
        import sqlalchemy as sa

        from .schema import calls, runs

        q = sa.select(
            sa.or_(sa.exists().where(calls.c.work == work), sa.exists().where(runs.c.work == work))
        )
        with self._reading() as conn:
            return bool(conn.execute(q).scalar())

    def _calls(
        self,
        work: str | None,
        *,
        key: str | None = None,
        status: str | None = None,
        older_than: _dt.timedelta | None = None,
        values: Mapping[str, object] | None = None,
    ) -> Iterator[Call]:
        import sqlalchemy as sa

        from .schema import calls

        where = self._where(calls, CALL_STATUSES, work, key, status, values or {})
        if older_than is not None and not isinstance(older_than, _dt.timedelta):
            raise TypeError(f"older_than must be a timedelta, not {older_than!r}")
        cols = [c for c in calls.c if c.name not in ("result", "state")]
        q = sa.select(
            *cols,
            sa.func.length(calls.c.result).label("result_size"),
            sa.func.length(calls.c.state).label("state_size"),
        ).where(*where)
        if older_than is not None:
            q = q.where(
                _not_refreshed_since(calls, _dt.datetime.now(_dt.timezone.utc) - older_than)
            )
        q = q.order_by(calls.c.work, calls.c.created_at)
        with self._reading() as conn:
            for row in conn.execute(q):
                yield _record(Call, row._mapping)

    def forget(
        self,
        work: str,
        *,
        key: str | None = None,
        args: Mapping[str, object] | None = None,
        force: bool = False,
        **values: object,
    ) -> int:
        """Remove the calls of ``work`` whose args hold ``values`` (or the one ``key``).

        Argument values come as keywords or, for a parameter named ``key`` or ``work``, in
        ``args`` (``forget("w", args={"key": "k"})``); both forms merge.
        History stays: forgetting only makes the next call with those arguments run again.
        A running call is left alone (its owner's finish must still record, and nobody
        may run it meanwhile); ``force`` marks it instead, so that its result is recorded but
        never served and the next call runs again. Returns how many calls were removed
        (or, with ``force``, removed or marked); ``NoSuchWork`` when none was and the store
        has never seen ``work`` (a typo in its name). A read-only store: ``StoreError``.
        """
        values = _arg_filters(args, values)
        if key is None and not values:
            raise ValueError(
                "forget needs argument values or a key; use forget_all to clear a work"
            )
        if key is not None and not values:
            keys = [key]
        else:
            keys = [c.key for c in self._calls(work, key=key, values=values)]
        return self._delete(work, keys, force)

    def forget_calls(
        self, calls: list[Call], *, force: bool = False, work: str | None = None
    ) -> int:
        """Remove exactly these calls (as listed by ``calls``): what ``cachework forget`` runs.

        Running calls are left alone, or with ``force`` marked to run again (see ``forget``).
        ``work``: the work they were listed for; when none was found and the store has never
        seen that work, ``NoSuchWork`` (a typo is not "nothing to forget").
        """
        if not calls and work is not None:
            self._known(work, "nothing to forget")
        by_work: dict[str, list[str]] = {}
        for c in calls:
            by_work.setdefault(c.work, []).append(c.key)
        return sum(self._deleted(w, keys, force) for w, keys in by_work.items())

    def works(self) -> list[dict[str, Any]]:
        """One summary per work: calls by status, runs, the last run, mean duration."""
        import sqlalchemy as sa

        from .schema import calls, runs

        out: dict[str, dict[str, Any]] = {}
        with self._reading() as conn:
            q = sa.select(calls.c.work, calls.c.status, sa.func.count()).group_by(
                calls.c.work, calls.c.status
            )
            for work, status, n in conn.execute(q):
                row = out.setdefault(work, _work_summary(work))
                row["calls"] += n
                if status in ("succeeded", "failed", "running"):
                    row[status] += n
            q = sa.select(
                runs.c.work,
                sa.func.count(),
                sa.func.max(runs.c.started_at),
                sa.func.avg(runs.c.duration_s),
            ).group_by(runs.c.work)
            for work, n, last, mean in conn.execute(q):
                row = out.setdefault(work, _work_summary(work))
                row.update(runs=n, last_run=as_utc(last), mean_duration_s=mean)
        return [out[w] for w in sorted(out)]

    def calendar(
        self,
        works: Iterable[str] | None = None,
        *,
        since: _dt.datetime | _dt.date | None = None,
        until: _dt.datetime | _dt.date | None = None,
    ) -> list[CalendarRow]:
        """Works x periods: one row per work with a schedule (``works``: only these), each
        cell a period and its status, from ``since`` (default: the last 30 periods) to
        ``until`` (default: now). Read from the store alone, without any work's code; what
        ``cachework calendar`` draws. See ``cachework.CalendarRow``."""
        from . import _calendar

        return _calendar.calendar(self, works, since=since, until=until)

    def stats(self) -> dict[str, Any]:
        """Works, calls, runs by status, where the database is, its size, its revision."""
        import sqlalchemy as sa

        from .schema import calls, runs

        with self._reading() as conn:
            works = conn.execute(sa.select(sa.func.count(sa.distinct(calls.c.work)))).scalar()
            n_calls = conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar()
            q = sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
            by_status = {status: n for status, n in conn.execute(q)}
        return {
            "url": self.safe_url(),
            "dialect": self.dialect,
            "location": self._backend.location(),
            "size_bytes": self._backend.size_bytes(),
            "revision": self.revision(),
            "works": works,
            "calls": n_calls,
            "runs": sum(by_status.values()),
            "runs_by_status": by_status,
        }

    def prune(
        self, older_than: _dt.timedelta, *, history: bool = False, vacuum: bool = False
    ) -> dict[str, int]:
        """Remove calls not refreshed for ``older_than`` and expired ones; with ``history``,
        runs that old too. First sweeps runs left ``running`` by owners that died."""
        import sqlalchemy as sa

        from .schema import calls, runs

        now = _dt.datetime.now(_dt.timezone.utc)
        cutoff = now - older_than
        backend = self._writable("prune")
        swept = self.sweep()
        with self._writing("prune") as conn:
            stale = _not_refreshed_since(calls, cutoff)
            expired = calls.c.expires_at < now
            n_calls = conn.execute(
                sa.delete(calls).where(calls.c.status != "running", sa.or_(stale, expired))
            ).rowcount
            n_runs = 0
            if history:
                n_runs = conn.execute(
                    sa.delete(runs).where(runs.c.status != "running", runs.c.started_at < cutoff)
                ).rowcount
        if vacuum:
            try:
                backend.vacuum()
            except Exception as e:  # sqlite3's or SQLAlchemy's: one line naming the store
                raise StoreError(f"store {self._shown}: cannot vacuum: {_first_line(e)}") from e
        return {"calls": n_calls, "runs": n_runs, "interrupted": swept}

    def query(
        self, sql: str, params: Mapping[str, object] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one query (SELECT, VALUES, WITH ... SELECT) on a connection that the database
        itself keeps from changing anything; it is opened for this call and closed after it.

        SQLite: a ``mode=ro`` connection that may attach no database (which is also how
        ``VACUUM INTO`` would write a copy) nor create temporary tables. PostgreSQL: a
        session whose transactions are read-only, the text sent as the one query of a
        ``DECLARE ... CURSOR`` through the extended protocol, so the server's grammar
        refuses a second statement, ``COPY``, ``SET`` or ``DO``, and the transaction is
        rolled back. A refusal, like any other failure, is one ``StoreError``.

        The text reaches the database as written: a ``:word`` or ``%`` inside a string
        literal is text. With ``params``, ``:name`` marks a value (SQLite's own binding; on
        PostgreSQL SQLAlchemy's ``text()``, where a literal's ``:word`` needs a backslash).
        """
        return self._ensure().query(sql, dict(params or {}))

    def result(self, work: str, key: str) -> Any:
        """The stored return value of one call, loaded as a hit loads it. ``NoSuchWork``
        for a work the store never saw, ``NoSuchCall`` when no call has that key or the
        call stored no result (it failed, or ``cache_calls=False``)."""
        from . import _pickling

        call = self.lookup(work, key)
        if call is None:
            self._known(work)
            raise NoSuchCall(f"no call of {work} has key {key}")
        if call.result is None:
            raise NoSuchCall(f"the call {work} [{key}] has no stored result ({call.status})")
        return _pickling.loads(call.result)

    def result_type(self, work: str, key: str) -> str | None:
        """The type of a call's stored result, read from the pickle's opcodes (``dict``,
        ``pandas.DataFrame``): never loaded, so showing a row cannot run code it names.
        None if the call has no result; ``unknown`` if it is not a pickle this can follow."""
        from ._pickled import pickled_type

        call = self.lookup(work, key)
        if call is None or call.result is None:
            return None
        return pickled_type(bytes(call.result)) or "unknown"

    def forget_all(self, work: str, *, force: bool = False) -> int:
        """Remove every call of ``work`` (running ones, ``NoSuchWork``: see ``forget``)."""
        return self._delete(work, None, force)

    def _delete(self, work: str, keys: list[str] | None, force: bool = False) -> int:
        n = self._deleted(work, keys, force)
        if not n:
            self._known(work, "nothing to forget")
        return n

    def _deleted(self, work: str, keys: list[str] | None, force: bool) -> int:
        import sqlalchemy as sa

        from .schema import calls

        which = calls.c.work == work
        if keys is not None:
            if not keys:
                return 0
            which = sa.and_(which, calls.c.key.in_(keys))
        running = sa.and_(which, calls.c.status == "running")
        with self._writing("forget calls") as conn:
            if force:
                # Marked before the delete: a call that finishes in between is then
                # deleted, not missed by both statements. Its owner's finish still writes
                # the call (the run id still matches), but not cached it is never a hit.
                busy = conn.execute(sa.update(calls).where(running).values(cached=False)).rowcount
            n = conn.execute(sa.delete(calls).where(which, calls.c.status != "running")).rowcount
            if not force:
                count = sa.select(sa.func.count()).select_from(calls).where(running)
                busy = conn.execute(count).scalar() or 0
        log.info("forgot %d call%s of %s", n, _s(n), work)
        if busy and force:
            log.info("marked %d running call%s of %s to run again", busy, _s(busy), work)
        elif busy:
            log.warning(
                "left %d running call%s of %s alone: forgetting must not let a second caller "
                "run it meanwhile (force=True, or `cachework forget --force`, marks it to run "
                "again once it finishes)",
                busy,
                _s(busy),
                work,
            )
        return n + busy if force else n


R = TypeVar("R", Run, Call)
T = TypeVar("T")


def _record(kind: type[R], values: RowMapping) -> R:
    """A ``Run`` or ``Call`` from a row's fields by name, each read as the record gives
    it (``_READ``): times as aware UTC, args as a dict, ``cached`` a bool."""
    return kind(*(_READ.get(f, _same)(values[f]) for f in kind._fields))


def _same(value: T) -> T:
    return value


def _args(value: str | dict[str, JSON] | None) -> dict[str, JSON]:
    if isinstance(value, str):
        import json

        return json.loads(value)
    return dict(value or {})


#: How a column is read into a record where the driver's value is not it already.
_READ: dict[str, Callable[[Any], Any]] = {
    "args": _args,
    "cached": bool,
    **dict.fromkeys(
        ("started_at", "finished_at", "created_at", "expires_at", "heartbeat_at"), as_utc
    ),
}


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _not_refreshed_since(calls: Table, cutoff: _dt.datetime) -> ColumnElement[bool]:
    """Calls last finished (or, never finished, created) before ``cutoff``: their age."""
    import sqlalchemy as sa

    return sa.func.coalesce(calls.c.finished_at, calls.c.created_at) < cutoff


def _work_summary(work: str) -> dict[str, Any]:
    return {
        "work": work,
        "calls": 0,
        "succeeded": 0,
        "failed": 0,
        "running": 0,
        "runs": 0,
        "last_run": None,
        "mean_duration_s": None,
    }


def _arg_filters(args: Mapping[str, object] | None, values: dict[str, object]) -> dict[str, object]:
    """The argument values to match: ``args=`` and the keyword form, merged."""
    if args is None:
        return values
    if not isinstance(args, Mapping):
        raise TypeError(
            f"args must map argument names to values, not be a {type(args).__qualname__}"
        )
    both = sorted(set(args) & set(values))
    if both:
        raise ValueError(f"argument {both[0]!r} is given twice: in args= and as a keyword")
    return {**args, **values}
