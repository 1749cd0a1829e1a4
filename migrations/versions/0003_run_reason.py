"""Each run's reason: why its call ran ("new", "expired", "code changed", "refresh"...), and
the key of its arguments alone, which tells "new version" and "code changed" apart from new
arguments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: both databases add it without rewriting the table, and runs
    # recorded before it keep NULL (their reason was only ever logged).
    op.add_column("cachework_runs", sa.Column("reason", sa.Text))
    op.add_column("cachework_runs", sa.Column("args_key", sa.String(32)))


def downgrade() -> None:
    # SQLite before 3.35 cannot drop a column in place: batch mode copies the table.
    with op.batch_alter_table("cachework_runs") as batch:
        batch.drop_column("args_key")
        batch.drop_column("reason")
