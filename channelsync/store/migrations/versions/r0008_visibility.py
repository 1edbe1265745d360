"""Keep each channel's measured visibility delay, for protection that knows the pace.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from channelsync.store.schema import UtcDateTime

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the table of recent visibility samples per channel and way of seeing orders."""
    op.create_table(
        "visibility",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(16), primary_key=True),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("delay_s", sa.Float(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("visibility")
