"""Schema migrations through Alembic. Imported only when a store's schema needs work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ._log import log
from .schema import VERSION_TABLE

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from ._backends import Backend


def script_location() -> Path:
    """The migrations shipped inside the wheel, else the source tree's top-level ``migrations/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("cachework's migration scripts are missing from this installation")


def _config(connection: Connection | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.attributes["connection"] = connection
    return cfg


def heads() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(_config(None)).get_heads())


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def upgrade(backend: Backend, revision: str = "head") -> None:
    _run(backend, command.upgrade, revision)


def downgrade(backend: Backend, revision: str) -> None:
    _run(backend, command.downgrade, revision)


def _run(backend: Backend, action: Callable[[Config, str], None], revision: str) -> None:
    # The backend takes turns with other processes where its database needs it.
    with backend.migrating() as conn:
        log.info("migrating %s to %s", backend.safe_url(), revision)
        action(_config(conn), revision)
        conn.commit()
