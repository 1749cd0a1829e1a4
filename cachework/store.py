"""The store: claims, hits and history of calls, in SQLite or PostgreSQL.

A call's life is ``lookup`` (a hit reads one row and writes nothing), else ``claim``
(one transaction: take the row, write the history row), then ``finish`` or ``release``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import sqlite3  # loaded by _backends anyway: a SQLite store needs nothing else
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from . import _owner
from ._backends import (
    REVISION_SQL,
    Backend,
    ServerBackend,
    SQLiteBackend,
    _first_line,
    _Retry,
    mask_url,
)
from ._filelock import migration_lock
from ._heartbeat import heartbeats
from .errors import AmbiguousCall, NoSuchCall, NoSuchWork, StoreError
from .keys import KEY_SCHEME, jsonable

if TYPE_CHECKING:
    from ._calendar import CalendarRow

__all__ = ["DEFAULT_URL", "SCHEMA_REVISION", "Call", "Run", "Store", "resolve_url"]

log = logging.getLogger("cachework")

DEFAULT_URL = "sqlite:///cachework.db"
#: The schema revision this library reads and writes; tests check it is Alembic's head.
SCHEMA_REVISION = "0002"
#: Every revision this library can upgrade from. A store at any other is newer than us.
KNOWN_REVISIONS = ("0001", "0002")
#: A running call whose owner has not beaten for this long is presumed dead (seconds).
DEFAULT_LEASE = 60.0
#: Every status a run of the history can have; a call's status is one of the first three.
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted")
CALL_STATUSES = RUN_STATUSES[:3]
#: The databases a store can live in (a URL's scheme, before any ``+driver``).
_DIALECTS = ("sqlite", "postgresql")


def resolve_url(spec: str | os.PathLike[str] | None = None) -> str:
    """A SQLAlchemy URL from a URL, a path, or nothing (``CACHEWORK_URL``, else ``cachework.db``)."""
    if spec is None:
        spec = os.environ.get("CACHEWORK_URL") or DEFAULT_URL
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise StoreError(f"store must be a URL or a file path, not {spec!r}")
    if "://" in spec:
        # Errors name the scheme only: the rest of a URL may hold a password.
        scheme, _, rest = spec.partition("://")
        dialect, _, driver = scheme.partition("+")
        if dialect not in _DIALECTS:
            raise StoreError(
                f"store URL must start with sqlite:// or postgresql:// (cachework keeps its "
                f"tables in SQLite or PostgreSQL), not {scheme}://"
            )
        if dialect == "postgresql":
            if driver not in ("", "psycopg"):
                raise StoreError(
                    f"cachework talks to PostgreSQL through psycopg 3: write "
                    f"postgresql+psycopg:// or postgresql://, not {scheme}://"
                )
            # Spelled out: SQLAlchemy 2.0 would pick psycopg2 for a bare postgresql://.
            return f"postgresql+psycopg://{rest}"
        return spec
    return "sqlite:///" + _quote_path(os.path.abspath(os.path.expanduser(spec)))


def _quote_path(path: str) -> str:
    """A file path as the database part of a URL. SQLAlchemy ends that part at the first
    ``?`` and decodes ``%XX``; ``#`` starts a fragment in any other URL reader. Nothing else
    is escaped, so an ordinary path reads the same in the URL."""
    return path.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


def _sqlite_path(url: str) -> str | None:
    """The file behind a ``sqlite:///`` URL, or None for any other database.

    Read exactly as SQLAlchemy's ``make_url`` reads the database part (up to the first
    ``?``, ``%XX`` decoded), so this file and the one migrations and reports open are one.
    """
    from urllib.parse import unquote

    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0] != "sqlite":
        return None
    rest, sep, options = rest.partition("?")
    if sep:
        # Ignoring it would open another file than meant when the '?' was part of a name.
        raise StoreError(
            f"store {mask_url(url)}: cachework takes no options in a SQLite URL (?{options}); "
            "write a '?' in a file name as %3F, or give the store as a path"
        )
    path = unquote(rest[1:] if rest.startswith("/") else rest, errors="surrogateescape")
    if path in ("", ":memory:"):
        raise StoreError(
            f"store {mask_url(url)}: an in-memory SQLite store cannot be shared between connections; "
            "use a file path"
        )
    return os.path.abspath(os.path.expanduser(path))


class Run(NamedTuple):
    """One execution of a call, as recorded in ``cachework_runs``."""

    id: int
    work: str
    key: str
    args: dict[str, Any]
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


class Call(NamedTuple):
    """One cache entry, as recorded in ``cachework_calls`` (the blobs by size only)."""

    work: str
    key: str
    args: dict[str, Any]
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


class Claim(NamedTuple):
    """What ``Store.claim`` found: ``owned`` (run it), ``hit`` (a result appeared) or ``busy``."""

    outcome: str
    run_id: int | None = None
    reason: str = ""
    entry: tuple[Any, ...] | None = None
    owner: str | None = None


def _utc(value: Any) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)  # stored times are UTC
    # SQLite stores the wall-clock fields as text: compare in UTC, whatever zone was given.
    return value.astimezone(_dt.timezone.utc)


@overload
def storable(text: str) -> str: ...
@overload
def storable(text: None) -> None: ...
def storable(text: str | None) -> str | None:
    """``text`` as every database can store it: a lone surrogate (``os.fsdecode`` of bytes
    that are not UTF-8) and NUL (refused by PostgreSQL's text) become readable escapes,
    ``\\udce9`` and ``\\x00``. Anything else is kept as it is."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _args(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        import json

        return json.loads(value)
    return dict(value or {})


class Store:
    """A cache and its history in one database, shared by every work that names it.

    Cheap to create: nothing is opened until the first call, and a SQLite store opens with
    the standard library alone. Opening a store with an older schema upgrades it.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
    ) -> None:
        self.url = resolve_url(url)
        self._shown = mask_url(self.url)  # what messages, logs and repr show: no password
        self._create = create
        path = _sqlite_path(self.url)
        self._backend: Backend = (
            SQLiteBackend(self.url, path) if path is not None else ServerBackend(self.url)
        )
        self._path = path
        self._ready = False
        self._ready_lock = threading.Lock()
        self._host = storable(_owner.host())  # an env var or a node name may hold any bytes
        self._scheme_checked: set[str] = set()

    def __repr__(self) -> str:
        return f"Store({self._shown!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Connections do not travel: another process reopens the store by its URL.
        return (get_store, (self.url,))

    @property
    def dialect(self) -> str:
        return self._backend.name

    @property
    def path(self) -> str | None:
        """The SQLite file, or None for a server database."""
        return self._path

    # -- opening ----------------------------------------------------------------------------
    def open(self) -> Store:
        """Open the store now and return it: a missing file, an unreachable server or an
        unknown schema is a ``StoreError`` here rather than at the first call."""
        self._ensure()
        return self

    def _ensure(self) -> Backend:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    if self._path is not None:
                        self._open_sqlite(self._path)
                    else:
                        self._open_server()
                    self._ready = True
        return self._backend

    def _open_sqlite(self, path: str) -> None:
        folder = os.path.dirname(path) or "."
        if os.path.isdir(path):
            raise StoreError(f"store {self._shown}: {path} is a folder, not a database file")
        if not os.path.exists(path):
            if not self._create:
                raise StoreError(f"store {self._shown} does not exist")
            if not os.path.isdir(folder):
                raise StoreError(f"store {self._shown}: folder {folder} does not exist")
            if not os.access(folder, os.W_OK):
                raise StoreError(f"store {self._shown}: folder {folder} is not writable")
            self._migrate_sqlite(path, folder)
            return
        if not os.access(folder, os.W_OK) or not os.access(path, os.W_OK):
            # SQLite needs to create -wal/-shm files beside a WAL database to write; without
            # them we open read-only, which still serves every hit.
            self._backend.read_only = True  # type: ignore[attr-defined]
        revision = self._sqlite_revision(path)
        if revision == SCHEMA_REVISION:
            return
        self._check_revision(revision)
        read_only = self._backend.read_only  # type: ignore[attr-defined]
        if revision is not None and (read_only or not self._create):
            # A known older revision this process may not upgrade (a read-only file, or a
            # reading command: `db current` must say 0001, not upgrade it first). Later
            # revisions only add tables that runs write (refused on a read-only store anyway),
            # so it serves every hit and every reading command as it stands.
            log.info("store %s is at revision %s: opened as it is", self._shown, revision)
            return
        if read_only or not self._create:
            raise StoreError(
                f"store {self._shown} has no cachework schema and cannot be upgraded here"
            )
        self._migrate_sqlite(path, folder)

    def _sqlite_revision(self, path: str) -> str | None:
        import sqlite3

        try:
            row = self._backend.read(REVISION_SQL, ())
        except StoreError as e:
            if "no such table" in str(e):
                return None
            raise
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {self._shown}: {e}") from e
        finally:
            self._backend.drop_connection()
        return row[0] if row else None

    def _check_revision(self, revision: str | None) -> None:
        if revision is not None and revision not in KNOWN_REVISIONS:
            raise StoreError(
                f"store {self._shown} has schema revision {revision!r}, newer than this cachework "
                f"(which knows up to {SCHEMA_REVISION!r}): upgrade cachework to use it"
            )

    def _migrate_sqlite(self, path: str, folder: str) -> None:
        # Several processes may open a new file at once: an exclusive lock makes one migrate
        # while the others wait, then find the schema in place.
        with migration_lock(path, folder):
            revision = self._sqlite_revision(path) if os.path.exists(path) else None
            self._check_revision(revision)
            if revision == SCHEMA_REVISION:
                return
            import sqlite3

            conn = sqlite3.connect(path, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once, at creation
            except sqlite3.DatabaseError as e:
                raise StoreError(f"store {self._shown}: {e}") from e
            finally:
                conn.close()
            self._upgrade()

    def _open_server(self) -> None:
        import sqlalchemy as sa

        engine = self._backend.engine
        try:
            with engine.connect() as conn:
                has = sa.inspect(conn).has_table("cachework_alembic_version")
                revision = conn.exec_driver_sql(REVISION_SQL).scalar() if has else None
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"cannot reach store {self._shown}: {_first_line(getattr(e, 'orig', None) or e)}"
            ) from e
        if revision == SCHEMA_REVISION:
            return
        self._check_revision(revision)
        if not self._create:
            raise StoreError(
                f"store {self._shown} has no cachework schema: run `cachework db upgrade`"
            )
        self._upgrade()

    def _upgrade(self) -> None:
        from . import _migrate

        _migrate.upgrade(self._backend.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (Alembic); what ``cachework db upgrade`` runs."""
        from . import _migrate

        if self._path is not None and not os.path.exists(self._path):
            self._ensure()
            return
        _migrate.upgrade(self._backend.engine, revision)
        self._ready = False

    def downgrade(self, revision: str) -> None:
        from . import _migrate

        _migrate.downgrade(self._backend.engine, revision)
        self._ready = False

    def revision(self) -> str | None:
        """The schema revision the database is at (None: no cachework tables yet)."""
        from . import _migrate

        return _migrate.current(self._backend.engine)

    def close(self) -> None:
        """Close this thread's connection and the engine; the store reopens on next use."""
        self._backend.dispose()

    # -- the hot path -----------------------------------------------------------------------
    def lookup(self, work: str, key: str) -> tuple[Any, ...] | None:
        """The entry of (work, key): (status, cached, expires_at, result, state, key_scheme)."""
        backend = self._backend if self._ready else self._ensure()
        if backend.name == "sqlite":
            return backend.lookup(work, key)  # type: ignore[attr-defined]
        return backend.read(backend.sql("lookup")[0], {"work": work, "key": key})

    def is_fresh(self, entry: tuple[Any, ...]) -> bool:
        """Whether an entry may be served: succeeded, cached, same key scheme, not expired."""
        status, cached, expires_at, _, _, scheme = entry
        return (
            status == "succeeded"
            and bool(cached)
            and scheme == KEY_SCHEME
            and (expires_at is None or not self._backend.expired(expires_at))
        )

    # -- claims -----------------------------------------------------------------------------
    def claim(
        self,
        work: str,
        key: str,
        args_json: str,
        *,
        cached: bool,
        accept_hit: bool,
        lease: float,
        versioned: bool = False,
        absent: bool = False,
    ) -> Claim:
        """Take (work, key) for this process, atomically, or say who holds it.

        ``absent`` says a lookup just found no entry: the claim then inserts at once and
        reads the entry only if that insert meets one (a statement less on every miss).
        A claimed call joins this process's heartbeats before the claim commits, so another
        thread of this process never mistakes it for a leftover of a lost commit.
        """
        backend = self._ensure()
        pid = _owner.pid()
        owner = f"{self._host}:{pid}"
        # Everything that does not depend on what the transaction reads is built before it
        # starts: time inside it is time every other writer of the store waits.
        params: dict[str, Any] = {"work": work, "key": key}
        common = {**params, "args": args_json, "cached": cached}
        run_values = {**common, "host": self._host, "pid": pid}
        values = {
            **common,
            "owner": owner,
            "owner_start": _owner.this_process_start(),
            "lease_s": lease,
            "key_scheme": KEY_SCHEME,
        }

        def attempt(cur: Any) -> Claim:
            nonlocal absent
            stamp = backend.stamp(cur)
            row = None if absent else backend.execute(cur, "claim_select", params).fetchone()
            if row is None:
                reason = self._why_new(backend, cur, work, key, args_json, versioned)
            else:
                status = row[0]
                if status == "running":
                    holder, start, beat, lease_s, old_run = row[6:11]
                    now = stamp or backend.now(cur)  # a server is asked only when it matters
                    if self._alive(holder, start, beat, lease_s, now, old_run, backend):
                        return Claim("busy", owner=holder)
                    backend.execute(
                        cur,
                        "run_interrupt",
                        {
                            "run_id": old_run,
                            "now": now,
                            "error_type": "Interrupted",
                            "error": f"owner {holder} died; taken over by {owner}",
                        },
                    )
                    reason = f"taking over from {holder}, whose run {old_run} died"
                elif status == "succeeded":
                    entry = tuple(row[:6])
                    if accept_hit and self.is_fresh(entry):
                        return Claim("hit", entry=entry)
                    if not row[1]:
                        reason = "not cached"
                    elif row[5] != KEY_SCHEME:
                        reason = "written under another key scheme"
                        self._scheme_checked.add(work)
                        self._warn_scheme(work)
                    elif row[2] is not None and backend.expired(row[2]):
                        reason = "expired"
                    elif not accept_hit and cached:
                        reason = "stored result unreadable"
                    else:
                        reason = "not cached"
                else:
                    reason = "failed before"
            run_values["now"] = values["now"] = stamp
            run_id = backend.inserted_id(backend.execute(cur, "run_insert", run_values))
            values["run_id"] = run_id
            if row is None:
                if backend.execute(cur, "call_insert", values).rowcount == 0:
                    absent = False  # someone inserted it after all: read it, from the start
                    raise _Retry()
            else:
                backend.execute(cur, "call_take", values)
            heartbeats.add(run_id, self, work, key, lease)
            registered.append(run_id)
            return Claim("owned", run_id=run_id, reason=reason)

        registered: list[int] = []
        try:
            claim = backend.transaction(attempt)
        except BaseException:
            for run_id in registered:
                heartbeats.remove(run_id)
            raise
        for run_id in registered:  # attempts that were retried (busy) never committed
            if run_id != claim.run_id:
                heartbeats.remove(run_id)
        return claim

    def _warn_scheme(self, work: str) -> None:
        log.warning(
            "%s has entries written under another key scheme than %d; they will not be hit "
            "(`cachework forget %s --all` removes them)",
            work,
            KEY_SCHEME,
            work,
        )

    def _why_new(
        self, backend: Backend, cur: Any, work: str, key: str, args_json: str, versioned: bool
    ) -> str:
        """Why a call with no entry runs. Each question costs a query, so ask only when the
        answer is logged; the key-scheme check runs once per work and process, as a warning.
        "new version" looks at the store's latest ``_sql.RECENT_RUNS`` runs only: the same
        cost at any history length, inside the write lock."""
        params = {"work": work, "key": key}
        if work not in self._scheme_checked:
            self._scheme_checked.add(work)
            other = {"work": work, "key_scheme": KEY_SCHEME}
            if backend.execute(cur, "other_scheme", other).fetchone()[0]:
                self._warn_scheme(work)
        if not log.isEnabledFor(logging.INFO):
            return "new"
        if backend.execute(cur, "ran_before", params).fetchone()[0]:
            return "forgotten"
        if (
            versioned
            and backend.execute(cur, "same_args", {**params, "args": args_json}).fetchone()[0]
        ):
            return "new version"
        return "new"

    def _alive(
        self,
        holder: str,
        start: str | None,
        beat: Any,
        lease_s: float | None,
        now: Any,
        run_id: int,
        backend: Backend,
    ) -> bool:
        """Whether the owner of a running call still runs it.

        On this host the process answers, whatever its heartbeat says: a dead owner is
        taken over at once, a live one never. Its heartbeat may lapse while it is alive and
        running (a C call that holds the GIL starves the heartbeat thread; another process's
        clock may run ahead of the owner's), and a takeover then would run the call twice.
        A live process that gave up a run it could not record retries the release itself
        (``heartbeats.release_later``). Elsewhere only the heartbeat can answer, so a silent
        owner on another host is dead once its lease lapses.
        """
        host, _, pid_text = (holder or "").rpartition(":")
        if host == self._host and pid_text.isdigit():
            pid = int(pid_text)
            if pid == _owner.pid():
                return heartbeats.owns(run_id)
            return _owner.is_alive(pid, start)
        return beat is not None and (
            backend.epoch(now) - backend.epoch(beat) < (lease_s or DEFAULT_LEASE)
        )

    def finish(
        self,
        work: str,
        key: str,
        run_id: int,
        *,
        status: str,
        duration_s: float,
        result: bytes | None = None,
        state: bytes | None = None,
        ttl_s: float | None = None,
        error_type: str | None = None,
        error: str | None = None,
        traceback: str | None = None,
    ) -> bool:
        """Record how a run ended, in the entry and in the history, in one transaction.

        Only the run that still owns the claim writes: if another caller took the entry over
        (this owner's heartbeat lapsed on another host) or it was forgotten, the entry stays
        as it is and a history row already marked ``interrupted`` is not rewritten. Returns
        whether the entry was written; the caller's own value is still right for it.
        """
        backend = self._ensure()

        # Built before the transaction, filled with its time inside: see ``claim``.
        call_values = {
            "work": work,
            "key": key,
            "run_id": run_id,
            "status": status,
            "result": result,
            "state": state,
        }
        run_values = {
            "run_id": run_id,
            "status": status,
            "duration_s": duration_s,
            "error_type": storable(error_type),
            "error": storable(error),
            "traceback": storable(traceback),
        }

        def attempt(cur: Any) -> bool:
            stamp = call_values["now"] = run_values["now"] = backend.stamp(cur)
            call_values["expires_at"] = (
                None if ttl_s is None else backend.later(stamp or backend.now(cur), ttl_s)
            )
            owned = backend.execute(cur, "call_finish", call_values).rowcount == 1
            # Guarded by status='running': a row a takeover marked interrupted stays so.
            backend.execute(cur, "run_finish", run_values)
            return owned

        try:
            owned = backend.transaction(attempt)
        finally:
            heartbeats.remove(run_id)
        if not owned:
            log.warning(
                "%s [%s]: run %d ended %s, but it no longer owned the entry (taken over by "
                "another caller, or forgotten): the entry is left as it is and the outcome "
                "goes to this caller only",
                work,
                key,
                run_id,
                status,
            )
        return owned

    def release(self, work: str, key: str, run_id: int, why: str) -> None:
        """Give a claim back unfinished (Ctrl-C, SIGTERM): the run is ``interrupted``."""
        backend = self._ensure()
        why = storable(why)  # it may quote an error's text

        def attempt(cur: Any) -> None:
            params = {"work": work, "key": key, "run_id": run_id}
            backend.execute(cur, "call_release", params)
            backend.execute(
                cur,
                "run_interrupt",
                {**params, "now": backend.stamp(cur), "error_type": "Interrupted", "error": why},
            )

        try:
            backend.transaction(attempt)
        finally:
            heartbeats.remove(run_id)

    def beat(self, owned: list[tuple[str, str, int]]) -> None:
        """Refresh the heartbeat of every call this process runs in this store."""
        backend = self._ensure()

        def attempt(cur: Any) -> None:
            stamp = backend.stamp(cur)
            for work, key, run_id in owned:
                backend.execute(
                    cur, "heartbeat", {"work": work, "key": key, "run_id": run_id, "now": stamp}
                )

        backend.transaction(attempt)

    # -- reading and forgetting (off the hot path: SQLAlchemy Core) --------------------------
    def _tables(self) -> Any:
        from . import schema

        return schema

    def _engine(self) -> Any:
        self._ensure()
        return self._backend.engine

    @contextlib.contextmanager
    def _reading(self, **options: Any) -> Iterator[Any]:
        """A SQLAlchemy connection for listings and reports; a driver's error (a locked or
        unreadable file, a lost server) comes out as one line naming the store."""
        import sqlalchemy as sa

        try:
            with self._engine().connect().execution_options(**options) as conn:
                yield conn
        except sa.exc.DBAPIError as e:
            raise StoreError(f"store {self._shown}: {_first_line(e.orig or e)}") from e

    def history(
        self,
        work: str | None = None,
        *,
        status: str | None = None,
        key: str | None = None,
        since: _dt.datetime | None = None,
        limit: int | None = 20,
        args: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> list[Run]:
        """Runs, newest first, filtered by work, status, key, start time and argument values.

        Argument values come as keywords or, for a parameter named like one of this
        method's own (``key``, ``status``, ``limit`` ...), in ``args``; both forms merge.
        """
        values = _arg_filters(args, values)
        if status is not None and status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, not {status!r}")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"limit must be a whole number >= 0 or None, not {limit!r}")
        if limit == 0:
            return []
        import sqlalchemy as sa

        runs = self._tables().runs
        q = sa.select(runs).order_by(runs.c.id.desc())
        if work is not None:
            q = q.where(runs.c.work == work)
        if status is not None:
            q = q.where(runs.c.status == status)
        if key is not None:
            q = q.where(runs.c.key == key)
        if since is not None:
            try:
                q = q.where(runs.c.started_at >= _utc(since))
            except (TypeError, ValueError):
                raise ValueError(
                    f"since must be a datetime or ISO-8601 text, not {since!r}"
                ) from None
        if not values and limit is not None:
            q = q.limit(limit)  # else the values are matched here, reading rows as they come
        out = []
        with self._reading(stream_results=True) as conn:
            for row in conn.execute(q):
                if values and not _matches(_args(row.args), values):
                    continue
                out.append(
                    Run(
                        id=row.id,
                        work=row.work,
                        key=row.key,
                        args=_args(row.args),
                        status=row.status,
                        started_at=_utc(row.started_at),  # type: ignore[arg-type]
                        finished_at=_utc(row.finished_at),
                        duration_s=row.duration_s,
                        error_type=row.error_type,
                        error=row.error,
                        traceback=row.traceback,
                        host=row.host,
                        pid=row.pid,
                        cached=bool(row.cached),
                    )
                )
                if limit is not None and len(out) >= limit:
                    break
        return out

    def calls(
        self,
        work: str | None = None,
        *,
        key: str | None = None,
        status: str | None = None,
        older_than: _dt.timedelta | None = None,
        args: Mapping[str, Any] | None = None,
        **values: Any,
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
        args: Mapping[str, Any] | None = None,
        **values: Any,
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
        if not self._has_work(work):
            raise NoSuchWork(f"no work named {work!r} in {self._shown}")
        asked = ", ".join(
            [*([f"key {key}"] if key else []), *(f"{k}={v!r}" for k, v in values.items())]
        )
        raise NoSuchCall(f"no call of {work} matches {asked}")

    def _has_work(self, work: str) -> bool:
        """Whether any call or run of ``work`` is recorded."""
        import sqlalchemy as sa

        t = self._tables()
        q = sa.select(
            sa.or_(
                sa.exists().where(t.calls.c.work == work), sa.exists().where(t.runs.c.work == work)
            )
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
        values: Mapping[str, Any] | None = None,
    ) -> Iterator[Call]:
        import sqlalchemy as sa

        if status is not None and status not in CALL_STATUSES:
            raise ValueError(f"status must be one of {CALL_STATUSES}, not {status!r}")
        if older_than is not None and not isinstance(older_than, _dt.timedelta):
            raise TypeError(f"older_than must be a timedelta, not {older_than!r}")
        calls = self._tables().calls
        cols = [c for c in calls.c if c.name not in ("result", "state")]
        q = sa.select(
            *cols,
            sa.func.length(calls.c.result).label("result_size"),
            sa.func.length(calls.c.state).label("state_size"),
        ).order_by(calls.c.work, calls.c.created_at)
        if work is not None:
            q = q.where(calls.c.work == work)
        if key is not None:
            q = q.where(calls.c.key == key)
        if status is not None:
            q = q.where(calls.c.status == status)
        if older_than is not None:
            q = q.where(
                _not_refreshed_since(calls, _dt.datetime.now(_dt.timezone.utc) - older_than)
            )
        with self._reading() as conn:
            for row in conn.execute(q):
                args = _args(row.args)
                if values and not _matches(args, values):
                    continue
                yield Call(
                    work=row.work,
                    key=row.key,
                    args=args,
                    status=row.status,
                    created_at=_utc(row.created_at),  # type: ignore[arg-type]
                    finished_at=_utc(row.finished_at),
                    expires_at=_utc(row.expires_at),
                    owner=row.owner,
                    heartbeat_at=_utc(row.heartbeat_at),
                    result_size=row.result_size,
                    state_size=row.state_size,
                    cached=bool(row.cached),
                    key_scheme=row.key_scheme,
                )

    def forget(
        self,
        work: str,
        *,
        key: str | None = None,
        args: Mapping[str, Any] | None = None,
        force: bool = False,
        **values: Any,
    ) -> int:
        """Remove the entries of ``work`` whose args hold ``values`` (or the one ``key``).

        Argument values come as keywords or, for a parameter named ``key`` or ``work``, in
        ``args`` (``forget("w", args={"key": "k"})``); both forms merge.
        History stays: forgetting only makes the next call with those arguments run again.
        A running entry is left alone (its owner's finish must still record, and nobody
        may run it meanwhile); ``force`` marks it instead, so that its result is recorded but
        never served and the next call runs again. Returns how many entries were removed
        (or, with ``force``, removed or marked).
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

    def forget_calls(self, calls: list[Call], *, force: bool = False) -> int:
        """Remove exactly these entries (as listed by ``calls``): what ``cachework forget`` runs.

        Running entries are left alone, or with ``force`` marked to run again (see ``forget``).
        """
        by_work: dict[str, list[str]] = {}
        for c in calls:
            by_work.setdefault(c.work, []).append(c.key)
        return sum(self._delete(w, keys, force) for w, keys in by_work.items())

    def works(self) -> list[dict[str, Any]]:
        """One summary per work: calls by status, runs, the last run, mean duration."""
        import sqlalchemy as sa

        t = self._tables()
        calls, runs = t.calls, t.runs
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
                row.update(runs=n, last_run=_utc(last), mean_duration_s=mean)
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

        t = self._tables()
        with self._reading() as conn:
            works = conn.execute(sa.select(sa.func.count(sa.distinct(t.calls.c.work)))).scalar()
            calls = conn.execute(sa.select(sa.func.count()).select_from(t.calls)).scalar()
            q = sa.select(t.runs.c.status, sa.func.count()).group_by(t.runs.c.status)
            by_status = {status: n for status, n in conn.execute(q)}
            if self._path is not None:
                files = (self._path, self._path + "-wal")
                size = sum(os.path.getsize(p) for p in files if os.path.exists(p))
            else:
                size = conn.exec_driver_sql(
                    "SELECT pg_total_relation_size('cachework_calls') + "
                    "pg_total_relation_size('cachework_runs')"
                ).scalar()
        return {
            "url": self.safe_url(),
            "dialect": self.dialect,
            "location": self._path or self.safe_url(),
            "size_bytes": size,
            "revision": self.revision(),
            "works": works,
            "calls": calls,
            "runs": sum(by_status.values()),
            "runs_by_status": by_status,
        }

    def safe_url(self) -> str:
        """The URL with any password hidden: the only form of it a message may show."""
        return self._shown

    def prune(
        self, older_than: _dt.timedelta, *, history: bool = False, vacuum: bool = False
    ) -> dict[str, int]:
        """Remove calls not refreshed for ``older_than`` and expired ones; with ``history``,
        runs that old too. First sweeps runs left ``running`` by owners that died."""
        import sqlalchemy as sa

        t = self._tables()
        now = _dt.datetime.now(_dt.timezone.utc)
        cutoff = now - older_than
        swept = self.sweep()
        with self._engine().begin() as conn:
            stale = _not_refreshed_since(t.calls, cutoff)
            expired = t.calls.c.expires_at < now
            removed = conn.execute(
                sa.delete(t.calls).where(t.calls.c.status != "running", sa.or_(stale, expired))
            ).rowcount
            runs = 0
            if history:
                runs = conn.execute(
                    sa.delete(t.runs).where(
                        t.runs.c.status != "running", t.runs.c.started_at < cutoff
                    )
                ).rowcount
        if vacuum and self._path is not None:
            import sqlite3

            conn = sqlite3.connect(self._path, isolation_level=None)  # VACUUM needs no transaction
            try:
                conn.execute("VACUUM")
            finally:
                conn.close()
        elif vacuum:
            with self._engine().connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("VACUUM ANALYZE cachework_calls")
                conn.exec_driver_sql("VACUUM ANALYZE cachework_runs")
        return {"calls": removed, "runs": runs, "interrupted": swept}

    def sweep(self) -> int:
        """Mark ``interrupted`` every run whose owner is dead, and free its entry."""
        import sqlalchemy as sa

        t = self._tables()
        with self._engine().connect() as conn:
            running = conn.execute(
                sa.select(t.calls.c.work, t.calls.c.key, t.calls.c.run_id).where(
                    t.calls.c.status == "running"
                )
            ).all()
            orphans = conn.execute(
                sa.select(t.runs.c.id, t.runs.c.host, t.runs.c.pid).where(
                    t.runs.c.status == "running",
                    ~sa.exists().where(t.calls.c.run_id == t.runs.c.id),
                )
            ).all()
        backend = self._backend
        swept = 0
        for work, key, run_id in running:
            params = {"work": work, "key": key, "run_id": run_id}

            def release_dead(cur: Any, params: dict[str, Any] = params) -> int:
                now = backend.now(cur)
                row = backend.execute(cur, "sweep_select", params).fetchone()
                if row is None or row[0] != "running" or row[10] != params["run_id"]:
                    return 0
                if self._alive(row[6], row[7], row[8], row[9], now, row[10], backend):
                    return 0
                backend.execute(cur, "call_release", params)
                error = f"owner {row[6]} died; swept by prune"
                backend.execute(
                    cur,
                    "run_interrupt",
                    {**params, "now": now, "error_type": "Interrupted", "error": error},
                )
                return 1

            swept += backend.transaction(release_dead)
        for run_id, host, pid in orphans:
            # A run with no entry pointing at it was taken over or forgotten. Only a run of
            # this host can be judged without its entry: by its pid.
            if host != self._host or heartbeats.owns(run_id):
                continue
            if pid != os.getpid() and _owner.is_alive(pid, None):
                continue

            def mark(cur: Any, run_id: int = run_id) -> int:
                values = {
                    "run_id": run_id,
                    "now": backend.now(cur),
                    "error_type": "Interrupted",
                    "error": "owner died; swept by prune",
                }
                return backend.execute(cur, "run_interrupt", values).rowcount

            swept += backend.transaction(mark)
        return swept

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one query (SELECT, VALUES, WITH ... SELECT) on a connection that the database
        itself keeps from changing anything; it is opened for this call and closed after it.

        SQLite: a ``mode=ro`` connection that may attach no database (which is also how
        ``VACUUM INTO`` would write a copy) nor create temporary tables. PostgreSQL: a
        session whose transactions are read-only, the text sent as the one query of a
        ``DECLARE ... CURSOR`` through the extended protocol, so the server's grammar
        refuses a second statement, ``COPY``, ``SET`` or ``DO``, and the transaction is
        rolled back. A refusal, like any other failure, is one ``StoreError``.
        """
        self._ensure()
        if self._path is not None:
            return self._query_sqlite(sql, dict(params or {}))
        return self._query_server(sql, dict(params or {}))

    def _query_sqlite(
        self, sql: str, params: dict[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        refused: list[str] = []

        def authorize(action: int, arg1: Any, arg2: Any, _db: Any, _trigger: Any) -> int:
            # mode=ro stops writes to the store; these would write beside it instead.
            what = _OUTSIDE_WRITES.get(action)
            if what is None and action == sqlite3.SQLITE_FUNCTION and arg2 == "load_extension":
                what = "loading an extension"
            if what is None:
                return sqlite3.SQLITE_OK
            refused.append(what)
            return sqlite3.SQLITE_DENY

        backend = self._backend
        assert isinstance(backend, SQLiteBackend)
        try:
            conn = backend.open(read_only=True)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open store {self._shown}: {e}") from e
        try:
            conn.set_authorizer(authorize)
            cur = conn.execute(sql, params)
            columns = [d[0] for d in cur.description or ()]
            return columns, [tuple(r) for r in cur.fetchall()]
        except sqlite3.Error as e:
            if refused:
                raise StoreError(
                    f"query refused: {refused[0]} is not allowed (queries only read the store)"
                ) from e
            raise StoreError(f"query refused: {e}") from e
        finally:
            conn.close()

    def _query_server(
        self, sql: str, params: dict[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        import psycopg
        import sqlalchemy as sa

        engine = self._backend.engine
        try:
            # SQLAlchemy turns :name into psycopg's placeholders (and doubles a literal %).
            compiled = sa.text(sql).compile(dialect=engine.dialect)
            values = compiled.construct_params(params)
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"query refused: {_first_line(e)}") from e
        _, connect = engine.dialect.create_connect_args(engine.url)
        # Appended last, so it wins over any option of the URL's; a fresh session, so
        # nothing a statement SETs outlives the call.
        options = f"{connect.get('options') or ''} -c default_transaction_read_only=on"
        try:
            conn = psycopg.connect(**{**connect, "options": options.strip()})
        except psycopg.Error as e:
            raise StoreError(f"cannot reach store {self._shown}: {_first_line(e)}") from e
        try:
            conn.read_only = True
            cur = conn.cursor()
            # prepare=True sends the text through the extended protocol, which holds one
            # statement; DECLARE takes only a query, and refuses data-modifying WITH.
            cur.execute(
                "DECLARE cachework_query NO SCROLL CURSOR FOR " + str(compiled),
                values,
                prepare=True,
            )
            cur.execute("FETCH ALL FROM cachework_query")
            columns = [d.name for d in cur.description or ()]
            return columns, [tuple(r) for r in cur.fetchall()]
        except psycopg.Error as e:
            raise StoreError(f"query refused: {_first_line(e)}{_ONE_QUERY}") from e
        finally:
            conn.close()  # never committed: the transaction ends with the session

    def result(self, work: str, key: str) -> Any:
        """The stored return value of one entry, loaded (``KeyError`` if there is none)."""
        import pickle

        entry = self.lookup(work, key)
        if entry is None or entry[3] is None:
            raise KeyError(f"{work} [{key}] has no stored result")
        return pickle.loads(entry[3])

    def result_type(self, work: str, key: str) -> str | None:
        """The type of an entry's stored result, read from the pickle's opcodes (``dict``,
        ``pandas.DataFrame``): never loaded, so showing a row cannot run code it names.
        None if the entry has no result; ``unknown`` if it is not a pickle this can follow."""
        from ._pickled import pickled_type

        entry = self.lookup(work, key)
        if entry is None:
            return None
        _status, _cached, _expires_at, result, _state, _scheme = entry
        if result is None:
            return None
        return pickled_type(bytes(result)) or "unknown"

    def forget_all(self, work: str, *, force: bool = False) -> int:
        """Remove every entry of ``work`` (running ones: see ``forget``)."""
        return self._delete(work, None, force)

    def _delete(self, work: str, keys: list[str] | None, force: bool = False) -> int:
        import sqlalchemy as sa

        calls = self._tables().calls
        which = calls.c.work == work
        if keys is not None:
            if not keys:
                return 0
            which = sa.and_(which, calls.c.key.in_(keys))
        running = sa.and_(which, calls.c.status == "running")
        with self._engine().begin() as conn:
            if force:
                # Marked before the delete: an entry that finishes in between is then
                # deleted, not missed by both statements. Its owner's finish still writes
                # the entry (the run id still matches), but not cached it is never a hit.
                busy = conn.execute(sa.update(calls).where(running).values(cached=False)).rowcount
            n = conn.execute(sa.delete(calls).where(which, calls.c.status != "running")).rowcount
            if not force:
                count = sa.select(sa.func.count()).select_from(calls).where(running)
                busy = conn.execute(count).scalar() or 0
        log.info("forgot %d entr%s of %s", n, _y(n), work)
        if busy and force:
            log.info("marked %d running entr%s of %s to run again", busy, _y(busy), work)
        elif busy:
            log.warning(
                "left %d running entr%s of %s alone: forgetting must not let a second caller "
                "run it meanwhile (force=True, or `cachework forget --force`, marks it to run "
                "again once it finishes)",
                busy,
                _y(busy),
                work,
            )
        return n + busy if force else n


def _not_refreshed_since(calls: Any, cutoff: _dt.datetime) -> Any:
    """Calls last finished (or, never finished, created) before ``cutoff``: their age."""
    import sqlalchemy as sa

    return sa.func.coalesce(calls.c.finished_at, calls.c.created_at) < cutoff


def _y(n: int) -> str:
    return "y" if n == 1 else "ies"


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


def _arg_filters(args: Mapping[str, Any] | None, values: dict[str, Any]) -> dict[str, Any]:
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


def _matches(args: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether stored args hold ``values``, compared as stored (so ``1`` never matches ``"1"``)."""
    import json

    for name, value in values.items():
        if name not in args:
            return False
        if json.dumps(args[name], sort_keys=True) != json.dumps(jsonable(value), sort_keys=True):
            return False
    return True


#: What a SQLite query may not do although ``mode=ro`` allows it: each writes a file beside
#: the store (``VACUUM INTO`` attaches its target first).
_OUTSIDE_WRITES = {
    sqlite3.SQLITE_ATTACH: "ATTACH (or VACUUM INTO)",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_CREATE_TEMP_INDEX: "a temporary index",
    sqlite3.SQLITE_CREATE_TEMP_TABLE: "a temporary table",
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "a temporary trigger",
    sqlite3.SQLITE_CREATE_TEMP_VIEW: "a temporary view",
}

#: Said with every refusal on PostgreSQL, whose grammar words it as a syntax error.
_ONE_QUERY = " (a query here is one SELECT, VALUES, TABLE or WITH ... SELECT, and only reads)"

_registry: dict[str, Store] = {}
_registry_lock = threading.Lock()


def get_store(spec: Store | str | os.PathLike[str] | None) -> Store:
    """The process-wide Store for a URL or path, so works naming one database share it."""
    if isinstance(spec, Store):
        return spec
    url = resolve_url(spec)
    store = _registry.get(url)
    if store is None:
        with _registry_lock:
            store = _registry.setdefault(url, Store(url))
    return store
