"""The store: the one public face of a cache and its history, in SQLite or PostgreSQL.

``Store`` opens its database once (``_backends``) and gathers what it does by job: the
claim protocol (``_claims.Claims``: lookup, claim, finish, release, beat, sweep) and reports
and upkeep (``_reports.Reports``). ``get_store`` shares one ``Store`` per URL in a process.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from . import _owner
from ._backends import Backend, backend_for
from ._claims import DEFAULT_LEASE, Busy, Claim, Claims, Outcome
from ._formats import storable
from ._records import CALL_STATUSES, RUN_STATUSES, Call, Run
from ._reports import Reports
from ._urls import DEFAULT_URL, resolve_url

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
SCHEMA_REVISION = "0002"
#: Every revision this library can upgrade from. A store at any other is newer than us.
KNOWN_REVISIONS = ("0001", "0002")


class Store(Claims, Reports):
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
        self._backend: Backend = backend_for(self.url)
        self._shown = self._backend.shown  # what messages, logs and repr show: no password
        self._create = create
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
                    # From now on a hit's store.lookup is the backend's own: a Python call
                    # less on every hit (Claims.lookup only opens the store first).
                    self.__dict__["lookup"] = self._backend.lookup
                    self._ready = True
        return self._backend

    def _unready(self) -> None:
        """The schema changed under this store: the next use checks it again."""
        self._ready = False
        self.__dict__.pop("lookup", None)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (Alembic); what ``cachework db upgrade`` runs."""
        from . import _migrate

        if not self._backend.exists():
            self._ensure()  # creates it, with the folder lock and WAL a new store needs
            return
        _migrate.upgrade(self._backend.engine, revision)
        self._unready()

    def downgrade(self, revision: str) -> None:
        from . import _migrate

        _migrate.downgrade(self._backend.engine, revision)
        self._unready()

    def revision(self) -> str | None:
        """The schema revision the database is at (None: no cachework tables yet)."""
        from . import _migrate

        return _migrate.current(self._backend.engine)

    def close(self) -> None:
        """Close this thread's connection and the engine; the store reopens on next use."""
        self._backend.dispose()

    def _engine(self) -> Any:
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
