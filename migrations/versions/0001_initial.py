"""The calls (the cache) and runs (the history) tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types in cachework/schema.py as of this revision: a migration must
# keep meaning the same thing after the schema module moves on.
Timestamp = sa.DateTime(timezone=True).with_variant(sqlite.DATETIME(), "sqlite")
Args = sa.Text().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "cachework_calls",
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
        sa.Column("owner_start", sa.String(32)),
        sa.Column("lease_s", sa.Float),
        sa.Column("run_id", BigId),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("key_scheme", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "cachework_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
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
    )
    op.create_index("ix_cachework_runs_work_key", "cachework_runs", ["work", "key"])


def downgrade() -> None:
    op.drop_table("cachework_runs")
    op.drop_table("cachework_calls")
