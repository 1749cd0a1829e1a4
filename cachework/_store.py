"""The store: the one public face of a cache and its history, in SQLite or PostgreSQL.

``Store`` opens its database once (``_backends``) and gathers what it does by job: the
claim protocol (``_claims.Claims``: hit, lookup, claim, finish, release, beat, sweep) and reports
and upkeep (``_reports.Reports``). ``get_store`` shares one ``Store`` per URL in a process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from . import _owner
from ._backends import Backend, _first_line, backend_for
from ._claims import DEFAULT_LEASE, Busy, Claim, Claims, Outcome
from ._errors import StoreError
from ._formats import storable
from ._records import CALL_STATUSES, RUN_STATUSES, Call, Run
from ._reports import Reports
from ._typing import TYPE_CHECKING
from ._urls import DEFAULT_URL, resolve_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "DEFAULT_LEASE",
    "CALL_STATUSES",
    "DEFAULT_URL",
    "RUN_STATUSES",
    "SCHEMA_REVISION",
    "Busy",
    "Call",
    "Claim",
    "Outcome",
    "Run",
    "Store",
    "resolve_url",
]

#: The schema revision this library reads and writes; tests check it is Alembic's head.
SCHEMA_REVISION = "0003"
#: Every revision this library can upgrade from. A store at any other is newer than us.
KNOWN_REVISIONS = ("0001", "0002", "0003")


class Store(Claims, Reports):
    """A cache and its history in one database, shared by every work that names it.

    Cheap to create: nothing is opened until the first call, and a SQLite store opens with
    the standard library alone. Opening a store with an older schema upgrades it. Its
    methods are what the ``cachework`` command runs: the history, the calls, forgetting,
    pruning, read-only SQL, the calendar, migrations.

    ```python
    store = cachework.Store("sqlite:///pipeline.db")
    store.history(work="ingest", status="failed", limit=20)
    store.forget("ingest", day="2022-05-25")
    ```

    Args:
        url: A SQLAlchemy URL (``sqlite:///pipeline.db``, ``postgresql+psycopg://...``;
            a bare ``postgresql://`` means psycopg 3) or a SQLite file path. Default:
            ``$CACHEWORK_URL``, else ``./cachework.db``. Other databases are refused with
            ``StoreError``, and so is an in-memory SQLite store (``:memory:``): a store
            outlives the process and is shared by its threads and other processes.
        create: ``False`` refuses to create a missing database (``StoreError`` when it is
            opened): what the command's reading subcommands use, so a typo in a path never
            leaves an empty store behind. It also leaves a store at an older schema
            revision as it is: hits and reports work, a run is refused (``StoreError``,
            before the function runs) until ``cachework db upgrade``.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
    ) -> None:
        self.url = resolve_url(url)
        self._backend: Backend = backend_for(self.url)
        self._shown = self._backend.shown  # what messages, logs and repr show: no password
        self._create = create
        self._ready = False
        self._ready_lock = threading.Lock()
        self._host = storable(_owner.host())  # an env var or a node name may hold any bytes
        self._scheme_checked: set[str] = set()

    def __repr__(self) -> str:
        return f"Store({self._shown!r})"

    def __reduce__(self) -> tuple[Callable[[str], Store], tuple[str]]:
        # Connections do not travel: another process reopens the store by its URL.
        return (get_store, (self.url,))

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: which spelling of the SQL recipes this store takes."""
        return self._backend.name

    @property
    def path(self) -> str | None:
        """The SQLite file, or None for a server database."""
        return self._backend.path

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
                    self._backend.open(self._create, SCHEMA_REVISION, KNOWN_REVISIONS)
                    # From now on a hit's store.hit is the backend's own: a Python call
                    # less on every hit (Claims.hit only opens the store first).
                    self.__dict__["hit"] = self._backend.hit
                    self._ready = True
        return self._backend

    @property
    def read_only(self) -> bool:
        """Whether the store only serves hits: a SQLite file this process may not write
        (a read-only file system, no permission). Opens the store to tell."""
        return self._ensure().read_only

    def _unready(self) -> None:
        """The schema changed under this store: the next use checks it again."""
        self._ready = False
        self.__dict__.pop("hit", None)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (Alembic); what ``cachework db upgrade`` runs."""
        from . import _migrate

        if not self._backend.exists():
            self._ensure()  # creates it, with the folder lock and WAL a new store needs
            return
        self._migrating("upgrade", _migrate.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        """Take the schema back to ``revision`` (Alembic); ``"base"`` drops cachework's
        tables and every call and run in them. What ``cachework db downgrade`` runs."""
        from . import _migrate

        self._migrating("downgrade", _migrate.downgrade, revision)

    def _migrating(self, verb: str, action: Callable[[Backend, str], None], revision: str) -> None:
        """Run a migration; a read-only store refuses first, and a driver's error is one
        ``StoreError`` line naming the store."""
        import sqlalchemy as sa

        if not self._backend.writable():
            raise StoreError(f"store {self._shown} is read-only: it cannot {verb} its schema")
        try:
            action(self._backend, revision)
        except sa.exc.DBAPIError as e:
            raise StoreError(
                f"store {self._shown}: cannot {verb} its schema: {_first_line(e.orig or e)}"
            ) from e
        finally:
            self._unready()

    def revision(self) -> str | None:
        """The schema revision the database is at (None: no cachework tables yet)."""
        from . import _migrate

        return _migrate.current(self._backend.engine)

    def close(self) -> None:
        """Close this thread's connection and the engine; the store reopens on next use."""
        self._backend.dispose()

    def _engine(self) -> Engine:
        self._ensure()
        return self._backend.engine

    def safe_url(self) -> str:
        """The URL with any password hidden: the only form of it a message may show."""
        return self._backend.safe_url()


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
