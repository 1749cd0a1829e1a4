"""The dialect layer: opening, connections, transactions, retries, clocks, read-only
queries and upkeep, for SQLite and for PostgreSQL.

Everything dialect-specific lives here, declared once by ``Backend``; the rest of the
store speaks through its methods only. The SQLite backend opens and hits with the standard
library alone, so a process that only hits never imports SQLAlchemy (~200 ms to import).
"""

from __future__ import annotations

import abc
import contextlib
import datetime as _dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

from . import _owner
from ._errors import NoSchema, StoreError
from ._filelock import migration_lock
from ._formats import VERSION_TABLE, parse_utc, utc_text
from ._keys import name_json
from ._log import log
from ._records import Hit, Stored, new_record
from ._typing import TYPE_CHECKING, NamedTuple, TypeVar
from ._urls import mask_url, sqlite_path, sqlite_uri

if TYPE_CHECKING:
    from typing import Any

    from . import _sql  # SQLAlchemy: imported for real only on the first miss

T = TypeVar("T")
_getpid = _owner.pid

#: Every SQLite setting in one place. Each is per connection and writes nothing.
DEFAULT_SETTINGS: dict[str, Any] = {
    "busy_timeout": 5_000,  # ms SQLite waits for a lock itself before our retry loop takes over
    "synchronous": "NORMAL",  # WAL + NORMAL: a killed process loses no commit; only power loss may
    "cache_size": -16_000,  # negative means KiB: a 16 MB page cache per connection
    "mmap_size": 2**26,  # 64 MB mapped: reads of a hot table skip a copy
    "temp_store": "MEMORY",  # sorts for history queries stay off the disk
    # Copy the WAL back every 10,000 pages (40 MB) instead of 1,000: each copy syncs twice and
    # rewrites every page touched since the last, so fewer copies cut a miss by a quarter.
    "wal_autocheckpoint": 10_000,
    # Bytes the WAL file is cut back to once a checkpoint has copied it all. A reader that
    # holds a transaction stops checkpoints from getting past its snapshot, so the WAL grows
    # ~25 KB a miss meanwhile (2.2 GB seen); without a limit the file kept that size for
    # good. Above the ~40 MB that the checkpoints above leave, so it costs nothing otherwise.
    "journal_size_limit": 2**26,  # 64 MB
}
#: An immutable connection's (a read-only store without -shm: see SQLiteBackend._open_file):
#: nothing mapped, since a writer's checkpoint that shrinks the file under a mapping kills
#: the reading process with SIGBUS; reads are then checked against the file's stat.
IMMUTABLE_SETTINGS: dict[str, Any] = {**DEFAULT_SETTINGS, "mmap_size": 0}
#: How many times a read-only store's hit is read again because the file changed under it.
_CHANGED_RETRIES = 50
#: A -wal without -shm is looked at this many times, this far apart, before it is taken as
#: left behind rather than a writer's that is closing.
_WAL_LEFT_CHECKS = 20
_WAL_LEFT_WAIT_S = 0.005

#: How long a write keeps retrying a busy database before it gives up with a StoreError.
BUSY_GIVE_UP_S = 600.0
#: Connections a process keeps to a PostgreSQL server for hits, claims, finishes and
#: heartbeats. Each is lent for one statement or one transaction, never for a run, so any
#: number of threads share them; a thread finding all lent waits for one, for milliseconds.
SERVER_POOL_SIZE = 8

#: The hit statement, spelled out so a hit imports no SQLAlchemy. tests/test_store.py proves
#: it is exactly what SQLAlchemy compiles from ``_sql.HIT_COLUMNS`` for SQLite.
SQLITE_HIT = (
    "SELECT CASE WHEN (cachework_calls.status = 'succeeded' AND cachework_calls.cached = 1 "
    "AND cachework_calls.key_scheme = 2) THEN cachework_calls.result END AS result, "
    "cachework_calls.state, cachework_calls.expires_at \n"
    "FROM cachework_calls \n"
    'WHERE cachework_calls.work = ? AND cachework_calls."key" = ?'
)
#: A call's status and freshness, the same way (``_sql.LOOKUP_COLUMNS``).
SQLITE_LOOKUP = (
    "SELECT cachework_calls.status, cachework_calls.cached, cachework_calls.expires_at, "
    "cachework_calls.result, cachework_calls.state, cachework_calls.key_scheme \n"
    "FROM cachework_calls \n"
    'WHERE cachework_calls.work = ? AND cachework_calls."key" = ?'
)
REVISION_SQL = f"SELECT version_num FROM {VERSION_TABLE}"
#: Session-level advisory lock id on PostgreSQL: serializes processes migrating one database.
MIGRATION_LOCK_ID = 0x63616368  # "cach"
#: SQLite's ``->`` (3.38): a JSON member's text as stored.
_SQLITE_ARROW = sqlite3.sqlite_version_info >= (3, 38)


__all__ = ["Backend", "SQLiteBackend", "ServerBackend", "backend_for", "mask_url", "utc_text"]


def backend_for(url: str) -> Backend:
    """The backend of a resolved store URL: the one place that tells the dialects apart."""
    path = sqlite_path(url)
    return SQLiteBackend(url, path) if path is not None else ServerBackend(url)


def _check_revision(shown: str, found: str | None, revision: str, known: tuple[str, ...]) -> None:
    """Refuse a store at a revision this library does not know: a newer one's."""
    if found is not None and found not in known:
        raise StoreError(
            f"store {shown} has schema revision {found!r}, newer than this cachework "
            f"(which knows up to {revision!r}): upgrade cachework to use it"
        )


class _Seen(NamedTuple):
    """What a SQLite file looked like: a writer's session changes one of these (its -shm
    file is there while it lasts; its checkpoint changes the file's size or times)."""

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    shm: bool


def _seen(path: str) -> _Seen | None:
    """``path`` as it is now, or None where it cannot be seen (gone)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _Seen(
        st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, os.path.exists(path + "-shm")
    )


class _Retry(Exception):
    """A transaction lost a race it can simply run again (e.g. two first inserts on a server)."""


class Backend(abc.ABC):
    """Every operation that differs between databases; one subclass per dialect.

    ``open`` makes the store usable once (a SQLite file: the folder lock, WAL, the schema's
    revision checked and migrated; a server: reached, revision checked and migrated). The
    hot path is ``hit``; claims and finishes go through ``transaction`` and ``execute``
    with the statements of ``_sql``; listings use the SQLAlchemy ``engine``.
    """

    name = ""
    #: The file of a SQLite store; None for a server database.
    path: str | None = None
    #: A store that serves hits but cannot record a run (SQLite: no write permission).
    read_only = False
    #: The revision of a store opened as it is, older than the library's (a read-only file,
    #: a reading command); None when it is at the library's own. Reports leave out what a
    #: later revision added (the runs' ``reason``, 0003).
    older_revision: str | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = mask_url(url)  # the URL any message may name: never its password
        self._local = threading.local()
        self._statements: dict[str, _sql.Compiled] | None = None
        self._engine: Any = None
        self._engine_pid = 0
        self._engine_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------
    def connection(self) -> Any:
        """This thread's connection; a forked child opens its own instead of sharing one."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != _getpid():
            conn = self._connect()
            # The hits' cursor (SQLiteBackend.hit) belonged to the connection this one
            # replaces, maybe a parent's across fork: the next hit makes its own again.
            local.conn, local.pid, local.hits = conn, _getpid(), None
        return conn

    def drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = self._local.hits = None
        if conn is not None and self._local.pid == _getpid():
            try:
                self._discard(conn)
            except Exception:
                pass

    def _discard(self, conn: Any) -> None:
        conn.close()

    @abc.abstractmethod
    def _connect(self) -> Any:
        """A new DBAPI connection for the call path."""

    # -- opening ---------------------------------------------------------------------------
    @abc.abstractmethod
    def open(self, create: bool, revision: str, known: tuple[str, ...]) -> None:
        """Make the store usable, once per process: create it (if ``create``) or upgrade it
        to ``revision``, the one this library writes; ``known`` lists every revision it can
        upgrade from. A store at any other revision is a newer library's: refused."""

    def exists(self) -> bool:
        """Whether the database is there to open (a server's always is)."""
        return True

    def writable(self) -> bool:
        """Whether this process may write the database, known before opening it (a server
        says so only when a write is refused)."""
        return True

    def safe_url(self) -> str:
        """The URL with any password hidden: the only form of it a message may show."""
        return self.shown

    def location(self) -> str:
        """Where the data lives, as ``stats`` shows it: the file, else the URL."""
        return self.path or self.shown

    def _migrate(self) -> None:
        import sqlalchemy as sa

        from . import _migrate

        try:
            _migrate.upgrade(self)
        except sa.exc.DBAPIError as e:
            raise StoreError(
                f"store {self.shown}: cannot create or upgrade its schema: "
                f"{_first_line(e.orig or e)}"
            ) from e

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine, for migrations and for everything off the hot path."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._make_engine()
                self._engine_pid = os.getpid()
            elif self._engine_pid != os.getpid():
                # A forked child must not reuse its parent's pooled connections (their
                # sockets are shared); drop them without closing them under the parent.
                self._engine.dispose(close=False)
                self._engine_pid = os.getpid()
            return self._engine

    @abc.abstractmethod
    def _make_engine(self) -> Any:
        """The SQLAlchemy engine (created on first use)."""

    def dispose(self) -> None:
        self.drop_connection()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- statements ----------------------------------------------------------------------
    def sql(self, name: str) -> _sql.Compiled:
        if self._statements is None:
            from . import _sql

            self._statements = _sql.compile_all(self._dialect())
        return self._statements[name]

    @abc.abstractmethod
    def _dialect(self) -> Any:
        """The SQLAlchemy dialect the statements compile for."""

    def execute(self, cur: Any, name: str, params: dict[str, Any]) -> Any:
        text, fixed, values = self.sql(name)
        if fixed:
            params = {**fixed, **params}
        cur.execute(text, values(params) if values else params)
        return cur

    def inserted_id(self, cur: Any) -> int:
        """The id of the row the last ``run_insert`` wrote (its ``RETURNING id``)."""
        return cur.fetchone()[0]  # type: ignore[no-any-return]

    # -- transactions ----------------------------------------------------------------------
    @abc.abstractmethod
    def transaction(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in one write transaction, retried from the start while busy."""

    @abc.abstractmethod
    def max_blob_bytes(self) -> int:
        """The most bytes the database takes in one call's stored values, read from it."""

    @abc.abstractmethod
    def read(self, text: str, params: Any) -> Any:
        """The first row of one read statement, retried while the database is busy."""

    @abc.abstractmethod
    def hit(self, work: str, key: str) -> Hit | None:
        """The call (work, key) as a hit reads it, or None if the store has none: the hot
        path, and the one read a miss makes before it claims."""

    def lookup(self, work: str, key: str) -> Stored | None:
        """The call (work, key) with its status and freshness, or None."""
        row = self.read(self.sql("lookup")[0], {"work": work, "key": key})
        return None if row is None else Stored._make(row)

    # -- reports and upkeep ----------------------------------------------------------------
    @abc.abstractmethod
    def query(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one query on a connection the database itself keeps from changing anything
        (see ``Store.query``); any refusal or failure is one ``StoreError``."""

    @abc.abstractmethod
    def arg_is(self, args: Any, name: str, value_json: str) -> Any:
        """A SQLAlchemy condition: the ``args`` column holds argument ``name`` with the
        value whose stored JSON is ``value_json`` (``_keys.arg_json``), matched as stored:
        ``1``, ``1.0``, ``true`` and ``"1"`` stay four values, a name is taken literally
        (``a.b``, ``a"b``, ``**kw``). The filter of ``history``, ``calls`` and ``forget``."""

    @abc.abstractmethod
    def arg_text(self, args: Any, name: str) -> Any:
        """SQL for argument ``name`` of the ``args`` column as text (a period's label: the
        ``_period`` member), NULL where the call has none."""

    @abc.abstractmethod
    def upsert(self, table: Any) -> Any:
        """The dialect's ``INSERT`` of ``table`` that takes ``.on_conflict_do_update``
        (SQLAlchemy spells it alike for both, from two modules)."""

    @contextlib.contextmanager
    def migrating(self) -> Iterator[Any]:
        """A SQLAlchemy connection that migrations run on, one process at a time (a new
        SQLite file's folder lock is taken by ``open``)."""
        with self.engine.connect() as conn:
            yield conn

    @abc.abstractmethod
    def vacuum(self) -> None:
        """Give the space of deleted rows back (and refresh the planner's statistics)."""

    @abc.abstractmethod
    def size_bytes(self) -> int:
        """How much room the store's tables take."""

    # -- clocks ----------------------------------------------------------------------------
    @abc.abstractmethod
    def now(self, cur: Any) -> Any:
        """The store's time, for Python to compare: a lease, an expiry."""

    @abc.abstractmethod
    def stamp(self, cur: Any) -> Any:
        """What statements bind as ``now``: SQLite's clock text; None on a server, whose
        statements write ``now()`` themselves (``_sql.statements``)."""

    @abc.abstractmethod
    def epoch(self, value: Any) -> float:
        """A time of the store as seconds since the epoch."""

    @abc.abstractmethod
    def later(self, value: Any, seconds: float) -> Any:
        """A time of the store ``seconds`` after ``value``, as the store writes it."""

    @abc.abstractmethod
    def expired(self, expires_at: Any) -> bool:
        """Whether a call's ``expires_at`` has passed."""


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, url: str, path: str) -> None:
        super().__init__(url)
        self.path: str = path

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def writable(self) -> bool:
        # SQLite needs to create -wal/-shm files beside a WAL database to write; without
        # them we open read-only, which still serves every hit.
        folder = os.path.dirname(self.path) or "."
        return os.access(folder, os.W_OK) and os.access(self.path, os.W_OK)

    def open(self, create: bool, revision: str, known: tuple[str, ...]) -> None:
        path, shown = self.path, self.shown
        folder = os.path.dirname(path) or "."
        if os.path.isdir(path):
            raise StoreError(f"store {shown}: {path} is a folder, not a database file")
        if not os.path.exists(path):
            if not create:
                raise StoreError(
                    f"store {shown} does not exist (no file {os.path.abspath(path)}): check "
                    "the URL (--url, CACHEWORK_URL) or the folder it is relative to; "
                    "`cachework db upgrade` creates an empty one, as does the first call of a work"
                )
            if not os.path.isdir(folder):
                raise StoreError(f"store {shown}: folder {folder} does not exist")
            if not os.access(folder, os.W_OK):
                raise StoreError(f"store {shown}: folder {folder} is not writable")
            self._create(folder, revision, known)
            return
        if not self.writable():
            self.read_only = True
            # Set before Store takes the backend's hit as its own: see _unchanged.
            self.__dict__["hit"] = self._hit_unchanged
            self.__dict__["lookup"] = self._lookup_unchanged
        found = self._revision()
        if found == revision:
            return
        _check_revision(shown, found, revision, known)
        if found is not None and (self.read_only or not create):
            # A known older revision this process may not upgrade (a read-only file, or a
            # reading command: `db current` must say 0001, not upgrade it first). Later
            # revisions only add tables and columns that runs write (refused on a read-only
            # store anyway), so it serves every hit and every reading command as it stands.
            log.info("store %s is at revision %s: opened as it is", shown, found)
            self.older_revision = found
            return
        if self.read_only or not create:
            raise NoSchema(f"store {shown} has no cachework schema and cannot be upgraded here")
        self._create(folder, revision, known)

    def _revision(self) -> str | None:
        try:
            row = self.read(REVISION_SQL, ())
        except StoreError as e:
            if "no such table" in str(e):
                return None
            raise
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {self.shown}: {e}") from e
        finally:
            self.drop_connection()
        return row[0] if row else None

    def _create(self, folder: str, revision: str, known: tuple[str, ...]) -> None:
        # Several processes may open a new file at once: an exclusive lock makes one migrate
        # while the others wait, then find the schema in place.
        with migration_lock(self.path, folder):
            found = self._revision() if os.path.exists(self.path) else None
            _check_revision(self.shown, found, revision, known)
            if found == revision:
                return
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once, at creation
            except sqlite3.DatabaseError as e:
                raise StoreError(f"store {self.shown}: {e}") from e
            finally:
                conn.close()
            self._migrate()

    def connect_file(self, read_only: bool = False) -> sqlite3.Connection:
        """A new connection to the file, the one way every connection is opened (the hot
        path's, SQLAlchemy's, a query's); ``read_only``: one that cannot write it, which is
        also what a read-only store always gets."""
        return self._open_file(read_only)[0]

    def _open_file(self, read_only: bool) -> tuple[sqlite3.Connection, _Seen | None]:
        """``connect_file``'s connection, and what the file looked like just before it was
        opened when it had to be opened immutable (else None): see ``_unchanged``."""
        if not (read_only or self.read_only):
            return sqlite3.connect(self.path, isolation_level=None, timeout=5.0), None
        for _ in range(_CHANGED_RETRIES):
            conn = self._connect_uri("mode=ro")
            if not self.read_only or os.path.exists(self.path + "-shm"):
                return conn, None
            # Reading a WAL database needs its -shm file: mode=ro makes one where the folder
            # is writable (only the file is read-only to us). Opening is lazy: a read tells.
            try:
                conn.execute("PRAGMA schema_version")
                return conn, None
            except sqlite3.OperationalError as e:
                conn.close()
                if "unable to open" not in str(e):
                    raise
            # No -shm and none can be made (a read-only folder or file system): only an
            # immutable connection reads it. SQLite then takes no lock and ignores any -wal,
            # so it is right only while the file stays as it is now: ``seen`` is that, checked
            # after every hit (``_unchanged``), the connection replaced once it changed.
            seen = _seen(self.path)
            if seen is not None and seen.shm:
                continue  # a writer came meanwhile: mode=ro reads through its -shm
            if not self._wal_left():
                return self._connect_uri("mode=ro&immutable=1"), seen
            raise StoreError(
                f"store {self.shown}: {self.path}-wal holds writes that SQLite reads only with "
                f"the {os.path.basename(self.path)}-shm file beside it, which is missing and "
                "cannot be created here (no write permission): open the store once where it "
                "can be written, or copy it with its -shm file"
            )
        raise StoreError(f"store {self.shown} changed under every attempt to open it: try again")

    def _wal_left(self) -> bool:
        """Whether a -wal file with writes in it stays beside a file that has no -shm."""
        wal = self.path + "-wal"
        for _ in range(_WAL_LEFT_CHECKS):
            # A writer closing deletes -shm a moment before -wal, its content already copied
            # into the file; a -wal that stays holds writes an immutable reading would miss.
            if not os.path.exists(wal) or os.path.getsize(wal) == 0:
                return False
            time.sleep(_WAL_LEFT_WAIT_S)
        return True

    def _connect_uri(self, mode: str) -> sqlite3.Connection:
        return sqlite3.connect(
            sqlite_uri(self.path, mode), uri=True, isolation_level=None, timeout=5.0
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            conn, seen = self._open_file(False)
            settings = DEFAULT_SETTINGS if seen is None else IMMUTABLE_SETTINGS
            for pragma, value in settings.items():
                conn.execute(f"PRAGMA {pragma}={value}")
        except sqlite3.Error as e:
            raise StoreError(f"cannot open store {self.shown}: {e}") from e
        self._local.seen = seen
        return conn

    def _hit_unchanged(self, work: str, key: str) -> Hit | None:
        return self._unchanged(SQLiteBackend.hit, work, key)

    def _lookup_unchanged(self, work: str, key: str) -> Stored | None:
        return self._unchanged(SQLiteBackend.lookup, work, key)

    def _unchanged(self, read: Callable[[SQLiteBackend, str, str], T], work: str, key: str) -> T:
        """``hit`` and ``lookup`` of a read-only store, which may have to read through an
        immutable connection (``_open_file``): what it read is served only if the file is
        still as it was when that connection opened, else the connection is replaced and the
        call read again. A writer's session shows as its -shm file (its writes sit in the -wal,
        which an immutable connection never reads) or, once over, as the file's changed
        size or times. Costs two ``stat`` calls per hit on an immutable connection, and an
        attribute read on a read-only store's ordinary one; a writable store never comes here.
        """
        local = self._local
        for _ in range(_CHANGED_RETRIES):
            try:
                found = read(self, work, key)
            except (StoreError, sqlite3.DatabaseError):
                # A page read while a checkpoint rewrote it: an error only if the file held still.
                seen = getattr(local, "seen", None)
                if seen is None or _seen(self.path) == seen:
                    raise
            else:
                seen = local.seen  # set by the connection the read just used
                if seen is None or _seen(self.path) == seen:
                    return found
            self.drop_connection()
        raise StoreError(
            f"store {self.shown} changed under every read of it ({_CHANGED_RETRIES} times): "
            "try again"
        )

    def _dialect(self) -> Any:
        from . import _sql

        return _sql.sqlite_dialect()

    def _make_engine(self) -> Any:
        import sqlalchemy as sa

        # Built from the path, not from text: SQLAlchemy would read a '?' in a folder name
        # as the start of options and decode a '%41' as 'A'.
        # Opened by ``connect_file`` too, so a read-only store reads through SQLAlchemy as it hits.
        url = sa.engine.URL.create("sqlite", database=self.path)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, creator=self.connect_file)

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN through untouched, and make it IMMEDIATE below:
            # a deferred write transaction can deadlock with another writer and fail at once.
            dbapi_conn.isolation_level = None
            # A read-only store's may be immutable (see _open_file): nothing mapped then.
            settings = IMMUTABLE_SETTINGS if self.read_only else DEFAULT_SETTINGS
            for pragma, value in settings.items():
                dbapi_conn.execute(f"PRAGMA {pragma}={value}")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if not self.read_only else "BEGIN")

        return engine

    def _busy(self, fn: Callable[[], T]) -> T:
        """The one place that waits out SQLITE_BUSY: callers never see 'database is locked'."""
        delay, deadline = 0.002, time.monotonic() + BUSY_GIVE_UP_S
        while True:
            try:
                return fn()
            except _Retry:
                continue  # the transaction learnt something; it does not wait for anyone
            except sqlite3.OperationalError as e:
                text = str(e)
                if "locked" not in text and "busy" not in text:
                    raise StoreError(f"store {self.shown}: {text}") from e
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"store {self.shown} stayed locked for {BUSY_GIVE_UP_S:.0f} s"
                    ) from e
            except sqlite3.DatabaseError as e:
                raise StoreError(f"store {self.shown}: {e}") from e
            import random  # here, not above: every read passes through, a cold hit's too

            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.1)

    def transaction(self, fn: Callable[[Any], T]) -> T:
        if self.read_only:
            raise StoreError(
                f"store {self.shown} is read-only: it serves hits but cannot record a run"
            )

        try:
            return self._attempt(fn)  # the common case, without the retry loop around it
        except (_Retry, sqlite3.OperationalError):
            return self._busy(lambda: self._attempt(fn))
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {self.shown}: {e}") from e

    def _attempt(self, fn: Callable[[Any], T]) -> T:
        conn = self.connection()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            out = fn(cur)
            cur.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    def read(self, text: str, params: Any) -> Any:
        return self._busy(lambda: self.connection().execute(text, params).fetchone())

    def lookup(self, work: str, key: str) -> Stored | None:
        row = self.read(SQLITE_LOOKUP, (work, key))
        return None if row is None else Stored._make(row)

    def hit(self, work: str, key: str) -> Hit | None:
        """The hit statement, with as little Python around it as will do: this is the hot path."""
        local = self._local
        try:
            # _owner._pid, not _owner.pid(): the same value without a Python call. One cursor
            # per thread serves every hit: Connection.execute makes (and registers) a new one
            # each time. The statement is sqlite3's cached one (the same text), and fetchone
            # steps past the one row, which resets it: no read transaction outlives the hit,
            # so the next one sees every other process's writes.
            if local.pid == _owner._pid:
                row = local.hits.execute(SQLITE_HIT, (work, key)).fetchone()
                return None if row is None else new_record(Hit, row)
        except (AttributeError, sqlite3.OperationalError, sqlite3.ProgrammingError):
            pass  # no connection yet (or dropped, or closed), or busy: the careful path below
        row = self.read(SQLITE_HIT, (work, key))
        local.hits = self.connection().cursor()
        return None if row is None else new_record(Hit, row)

    def inserted_id(self, cur: Any) -> int:
        return cur.lastrowid  # type: ignore[no-any-return]

    def max_blob_bytes(self) -> int:
        # SQLITE_LIMIT_LENGTH bounds a string, a blob and a whole row; a build or a connection
        # may lower it. Python < 3.11 cannot ask: SQLite's default then.
        getlimit = getattr(self.connection(), "getlimit", None)
        length = getattr(sqlite3, "SQLITE_LIMIT_LENGTH", None)
        if getlimit is None or length is None:
            return 1_000_000_000
        return int(getlimit(length))

    def query(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        # mode=ro stops writes to the store; the authorizer, what would write beside it.
        refused: list[str] = []

        def authorize(action: int, arg1: Any, arg2: Any, _db: Any, _trigger: Any) -> int:
            what = _OUTSIDE_WRITES.get(action)
            if what is None and action == sqlite3.SQLITE_FUNCTION and arg2 == "load_extension":
                what = "loading an extension"
            if what is None:
                return sqlite3.SQLITE_OK
            refused.append(what)
            return sqlite3.SQLITE_DENY

        try:
            conn = self.connect_file(read_only=True)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open store {self.shown}: {e}") from e
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

    def arg_is(self, args: Any, name: str, value_json: str) -> Any:
        import sqlalchemy as sa

        lit = sa.bindparam(None, value_json, type_=sa.Text())
        if _SQLITE_ARROW and '"' not in name:
            # ``->`` gives the member's JSON text as stored: compared with the text the
            # same encoder writes, 1 and 1.0 (and ints past 64 bits) stay apart. The path
            # quotes the name as the stored JSON spells it ($."a.b", $."a\\b").
            path = sa.bindparam(None, "$." + name_json(name), type_=sa.Text())
            return args.op("->")(path) == lit
        # Before SQLite 3.38 (no ``->``), or a name with a quote, which a path cannot
        # spell there: json_each finds the member by its name, its type keeps true, 1 and
        # "1" apart, and both sides are read by the same JSON parser.
        each = sa.func.json_each(args).table_valued("key", "type", "value").alias("arg")
        return (
            sa.select(sa.literal(1))
            .select_from(each)
            .where(
                each.c.key == name,
                each.c.type == sa.func.json_type(lit),
                each.c.value.is_(sa.func.json_extract(lit, "$")),
            )
            .exists()
        )

    def arg_text(self, args: Any, name: str) -> Any:
        import sqlalchemy as sa

        return sa.func.json_extract(args, "$." + name_json(name))

    def upsert(self, table: Any) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    def vacuum(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)  # VACUUM needs no transaction
        try:
            conn.execute("VACUUM")
        finally:
            conn.close()

    def size_bytes(self) -> int:
        files = (self.path, self.path + "-wal")
        return sum(os.path.getsize(p) for p in files if os.path.exists(p))

    def now(self, cur: Any) -> str:
        return utc_text()

    stamp = now

    def epoch(self, value: Any) -> float:
        return parse_utc(value).timestamp()

    def later(self, value: Any, seconds: float) -> str:
        return utc_text(self.epoch(value) + seconds)

    def expired(self, expires_at: Any) -> bool:
        return expires_at <= utc_text()


class ServerBackend(Backend):
    """PostgreSQL (psycopg 3); clocks are the server's ``now()``.

    Two pools: SQLAlchemy's engine for migrations and listings, and a pool of autocommit
    connections lent per statement or transaction for the call path (``_lend``). Holding a
    connection per thread instead ran out of connections with more than 15 threads.
    """

    name = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._lender: _Lender | None = None

    def _make_engine(self) -> Any:
        import sqlalchemy as sa

        _psycopg(self.shown)  # before SQLAlchemy asks for it, to say how to install it
        try:
            return sa.create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except Exception as e:
            raise StoreError(f"cannot open store {self.shown}: {_first_line(e)}") from e

    def _dialect(self) -> Any:
        return self.engine.dialect

    def _connect(self) -> Any:
        # The call path borrows from the lender (``_lend``) instead: one connection per
        # thread ran out of connections with more than 15 threads.
        raise TypeError("a server store lends connections per statement: use _lend")

    def open(self, create: bool, revision: str, known: tuple[str, ...]) -> None:
        import sqlalchemy as sa

        nowhere = None
        try:
            with self.engine.connect() as conn:
                has = sa.inspect(conn).has_table(VERSION_TABLE)
                found = conn.exec_driver_sql(REVISION_SQL).scalar() if has else None
                # Where new tables go: none when no schema of the search_path exists.
                if not has and conn.exec_driver_sql("SELECT current_schema()").scalar() is None:
                    nowhere = conn.exec_driver_sql("SHOW search_path").scalar()
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"cannot reach store {self.shown}: {_first_line(getattr(e, 'orig', None) or e)}"
            ) from e
        if nowhere is not None:
            raise StoreError(
                f"store {self.shown}: no schema of its search_path ({nowhere}) exists in the "
                "database, so cachework has nowhere to keep its tables: create it (CREATE "
                "SCHEMA name) or correct the URL's search_path (options=-csearch_path%3Dname)"
            )
        if found == revision:
            return
        _check_revision(self.shown, found, revision, known)
        if found is not None and not create:
            # A reading command on a store a newer library has not upgraded yet: as SQLite's.
            log.info("store %s is at revision %s: opened as it is", self.shown, found)
            self.older_revision = found
            return
        if not create:
            raise NoSchema(
                f"store {self.shown} has no cachework schema: run `cachework db upgrade`"
            )
        self._migrate()

    def _make_lender(self) -> _Lender:
        engine = self.engine  # before the lock: it takes the same one
        with self._engine_lock:
            lender = self._lender
            if lender is None or lender.pid != _getpid():
                # A forked child opens its own: psycopg never closes a connection in a
                # process that did not open it, so the parent's are simply dropped.
                psycopg = _psycopg(self.shown)

                cargs, cparams = engine.dialect.create_connect_args(engine.url)

                def connect() -> Any:
                    return psycopg.connect(*cargs, **cparams, autocommit=True)

                lender = self._lender = _Lender(connect, SERVER_POOL_SIZE)
            return lender

    def _lend(self, use: Callable[[Any], T]) -> T:
        """``use(connection)`` on a pooled connection, given back as soon as it returns."""
        lender = self._lender
        if lender is None or lender.pid != _getpid():
            lender = self._make_lender()
        try:
            conn = lender.take()
        except Exception as e:
            raise StoreError(f"cannot reach store {self.safe_url()}: {_first_line(e)}") from e
        try:
            out = use(conn)
        except BaseException:
            # A connection that broke, or was left inside a transaction or a statement (an
            # interrupt), must not be lent again.
            idle = conn.info.transaction_status == 0  # psycopg.pq.TransactionStatus.IDLE
            lender.give_back(conn, keep=idle and not conn.broken)
            raise
        lender.give_back(conn)
        return out

    def dispose(self) -> None:
        super().dispose()
        lender, self._lender = self._lender, None
        if lender is not None and lender.pid == _getpid():
            lender.close()

    def _retrying(self, fn: Callable[[], T]) -> T:
        try:
            return fn()  # the common case (every hit): no loop, nothing imported
        except Exception as e:
            failed: Exception | None = e
        import random

        import psycopg  # the hit path: the engine, made first, said if it was missing

        delay, attempts = 0.01, 0
        while True:
            try:
                if failed is not None:  # the first attempt's failure, judged like any other
                    first, failed = failed, None
                    raise first
                return fn()
            except _Retry:
                continue  # the transaction learnt something; it does not wait for anyone
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                pass
            except psycopg.OperationalError as e:
                # The server restarted or dropped us: run the whole transaction again on
                # another connection (``_lend`` discarded this one). Every write is keyed by
                # run id, so a replay never records twice.
                attempts += 1
                if attempts > 30:
                    raise StoreError(f"store {self.safe_url()}: {_first_line(e)}") from e
                log.warning("store %s: %s; reconnecting", self.safe_url(), _first_line(e))
            except psycopg.Error as e:
                raise StoreError(f"store {self.safe_url()}: {_first_line(e)}") from e
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    def transaction(self, fn: Callable[[Any], T]) -> T:
        def use(conn: Any) -> T:
            with conn.transaction():
                return fn(conn.cursor())

        return self._retrying(lambda: self._lend(use))

    def read(self, text: str, params: Any) -> Any:
        return self._retrying(
            lambda: self._lend(lambda conn: conn.execute(text, params).fetchone())
        )

    def hit(self, work: str, key: str) -> Hit | None:
        """The hit, as a server-side prepared statement from its first use on a connection
        (psycopg would prepare it only at its fifth): the server skips parsing and planning."""
        text, params = self.sql("hit")[0], {"work": work, "key": key}
        row = self._retrying(
            lambda: self._lend(lambda conn: conn.execute(text, params, prepare=True).fetchone())
        )
        return None if row is None else new_record(Hit, row)

    def query(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        psycopg = _psycopg(self.shown)
        import sqlalchemy as sa

        engine = self.engine
        text, values = sql, None
        if params:
            try:
                # SQLAlchemy turns :name into psycopg's placeholders (and doubles a literal %).
                compiled = sa.text(sql).compile(dialect=engine.dialect)
                text, values = str(compiled), compiled.construct_params(params)
            except sa.exc.SQLAlchemyError as e:
                raise StoreError(f"query refused: {_first_line(e)}") from e
        # Without values psycopg sends the text as it is: a ':1' or a '%' in a literal
        # ('{"n":1}', LIKE '2026-%') stays text, as on SQLite.
        _, connect = engine.dialect.create_connect_args(engine.url)
        # Appended last, so it wins over any option of the URL's; a fresh session, so
        # nothing a statement SETs outlives the call.
        options = f"{connect.get('options') or ''} -c default_transaction_read_only=on"
        try:
            conn = psycopg.connect(**{**connect, "options": options.strip()})
        except psycopg.Error as e:
            raise StoreError(f"cannot reach store {self.shown}: {_first_line(e)}") from e
        try:
            conn.read_only = True
            cur = conn.cursor()
            # prepare=True sends the text through the extended protocol, which holds one
            # statement; DECLARE takes only a query, and refuses data-modifying WITH.
            cur.execute(
                "DECLARE cachework_query NO SCROLL CURSOR FOR " + text,
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

    def _tables(self) -> tuple[str, ...]:
        from .schema import calls, runs

        return calls.name, runs.name

    def arg_is(self, args: Any, name: str, value_json: str) -> Any:
        import sqlalchemy as sa
        from sqlalchemy.dialects.postgresql import JSONB

        # jsonb's own = would call 1 and 1.0 equal (both numeric): its text keeps them
        # apart, and the value is read as jsonb first so both texts are jsonb's spelling.
        member = args.op("->")(sa.cast(sa.bindparam(None, name, type_=sa.Text()), sa.Text()))
        value = sa.cast(sa.bindparam(None, value_json, type_=sa.Text()), JSONB)
        return sa.cast(member, sa.Text()) == sa.cast(value, sa.Text())

    def arg_text(self, args: Any, name: str) -> Any:
        import sqlalchemy as sa

        return sa.func.jsonb_extract_path_text(args, sa.bindparam(None, name, type_=sa.Text()))

    def upsert(self, table: Any) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table)

    @contextlib.contextmanager
    def migrating(self) -> Iterator[Any]:
        # A session-level advisory lock: processes migrating one database take turns.
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})")
                conn.commit()

    def vacuum(self) -> None:
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in self._tables():
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")

    def size_bytes(self) -> int:
        sizes = " + ".join(f"pg_total_relation_size('{table}')" for table in self._tables())
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT {sizes}").scalar() or 0)

    def now(self, cur: Any) -> _dt.datetime:
        return cur.execute("SELECT now()").fetchone()[0]

    def stamp(self, cur: Any) -> None:
        return None

    def max_blob_bytes(self) -> int:
        # A PostgreSQL value (bytea) and a protocol message are at most 1 GB (MaxAllocSize),
        # and one message carries the result and the state together.
        return 2**30 - 1

    def epoch(self, value: Any) -> float:
        return value.timestamp()

    def later(self, value: Any, seconds: float) -> _dt.datetime:
        return value + _dt.timedelta(seconds=seconds)

    def expired(self, expires_at: Any) -> bool:
        return expires_at.timestamp() <= time.time()


class _Lender:
    """A pool of at most ``size`` connections, each lent for one statement or transaction.

    Lending is a deque pop and a locked append (~2 µs; SQLAlchemy's pool costs ~20 µs, a
    tenth of a hit); a thread finding none idle opens one, or waits once ``size`` are open.
    """

    def __init__(self, connect: Callable[[], Any], size: int) -> None:
        import collections

        self.pid = _getpid()
        self._connect = connect
        self._size = size
        self._idle: collections.deque[Any] = collections.deque()
        self._open = 0
        self._waiting = 0  # threads in take() that may wait: only then does give_back lock
        self._cond = threading.Condition()

    def take(self) -> Any:
        try:
            return self._idle.pop()  # atomic: no lock on the common path
        except IndexError:
            pass
        with self._cond:
            # Counted before looking again: a give_back that appends after this look sees
            # the count and notifies; one that appended before it is found by the look.
            self._waiting += 1
            try:
                while True:
                    try:
                        return self._idle.pop()  # given back meanwhile (or taken again)
                    except IndexError:
                        pass
                    if self._open < self._size:
                        self._open += 1
                        break
                    if not self._cond.wait(BUSY_GIVE_UP_S):
                        raise StoreError(f"no connection came free in {BUSY_GIVE_UP_S:.0f} s")
            finally:
                self._waiting -= 1
        try:
            return self._connect()
        except BaseException:
            self._forget_one()
            raise

    def give_back(self, conn: Any, keep: bool = True) -> None:
        if not keep:
            self._forget_one()
            try:
                conn.close()
            except Exception:
                pass
            return
        self._idle.append(conn)  # atomic; a hit gives back without the lock
        if self._waiting:
            with self._cond:
                self._cond.notify()

    def _forget_one(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()

    def close(self) -> None:
        """Close the idle connections; one lent now is closed when given back to no one."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            try:
                conn.close()
            except Exception:
                pass


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


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


#: How to get psycopg, named wherever it is missing: cachework is installed from a checkout.
PSYCOPG_INSTALL = (
    "pip install -e '.[postgres]' in a cachework checkout, or pip install 'psycopg[binary]'"
)


def _psycopg(shown: str) -> Any:
    """The psycopg module, or a StoreError that says how to install it."""
    try:
        import psycopg
    except ImportError as e:
        raise StoreError(
            f"store {shown} needs psycopg 3, which cannot be imported here ({e}): "
            f"install it with {PSYCOPG_INSTALL}"
        ) from e
    return psycopg
