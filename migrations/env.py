"""Alembic environment for cachework: runs on a connection handed over by cachework, or on a URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from cachework.schema import VERSION_TABLE, metadata

config = context.config


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        # Only cachework's own tables: a store may share its database with other apps.
        include_name=lambda name, type_, parent: type_ != "table" or name.startswith("cachework_"),
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("CACHEWORK_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    engine = create_engine(url)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("cachework migrations run online only: give a database URL")
run_migrations_online()
