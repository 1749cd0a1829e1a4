"""The works table: each work's schedule (every, tz, lag), for the calendar and catch-up.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A frozen copy of the timestamp type in cachework/schema.py as of this revision.
Timestamp = sa.DateTime(timezone=True).with_variant(sqlite.DATETIME(), "sqlite")


def upgrade() -> None:
    # A new table only: the calls and runs of a store written before it are untouched, so
    # its entries keep their keys and keep hitting.
    op.create_table(
        "cachework_works",
        sa.Column("work", sa.String(255), primary_key=True),
        sa.Column("every", sa.String(64), nullable=False),
        sa.Column("tz", sa.String(64)),
        sa.Column("lag", sa.Integer, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cachework_works")
