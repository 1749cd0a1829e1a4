"""Schema migrations through Alembic. Imported only when a store's schema needs work."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ._urls import mask_url
from .schema import VERSION_TABLE

log = logging.getLogger("cachework")

#: Session-level advisory lock id on PostgreSQL: serializes processes migrating one database.
_PG_LOCK_ID = 0x63616368  # "cach"


def script_location() -> Path:
    """The migrations shipped inside the wheel, else the source tree's top-level ``migrations/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("cachework's migration scripts are missing from this installation")


def _config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.attributes["connection"] = connection
    return cfg


def heads() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(_config(None)).get_heads())


def current(engine: Any) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def upgrade(engine: Any, revision: str = "head") -> None:
    _run(engine, command.upgrade, revision)


def downgrade(engine: Any, revision: str) -> None:
    _run(engine, command.downgrade, revision)


def _run(engine: Any, action: Any, revision: str) -> None:
    with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_ID})")
            conn.commit()
        try:
            # Masked by the one helper every message uses: render_as_string(hide_password=True)
            # would still show a ?password= option.
            shown = mask_url(engine.url.render_as_string(hide_password=False))
            log.info("migrating %s to %s", shown, revision)
            action(_config(conn), revision)
            conn.commit()
        finally:
            if postgres:
                conn.rollback()
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_ID})")
                conn.commit()
