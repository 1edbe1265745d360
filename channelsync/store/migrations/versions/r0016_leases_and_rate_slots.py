"""Fence workers that come back late and share rate limits between them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from channelsync.store.schema import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the ``leases`` and ``rate_slots`` tables."""
    op.create_table(
        "leases",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("step", sa.String(16), primary_key=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "rate_slots",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("operation", sa.String(128), primary_key=True),
        sa.Column("tat", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    """Drop them (workers then pace per process and are not fenced)."""
    op.drop_table("rate_slots")
    op.drop_table("leases")
