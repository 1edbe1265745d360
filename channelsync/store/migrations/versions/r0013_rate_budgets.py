"""Keep each channel's rate-limit bucket levels past the process that spent them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from channelsync.store.schema import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the ``rate_budgets`` table."""
    op.create_table(
        "rate_budgets",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("operation", sa.String(128), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("saved_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop it (every bucket starts full again)."""
    op.drop_table("rate_budgets")
