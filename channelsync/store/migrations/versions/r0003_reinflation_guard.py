"""Remember when a listing's quantity was accepted and hold raises over an unexplained drop.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from channelsync.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the binding columns the re-inflation guard reads."""
    with op.batch_alter_table("bindings") as batch:
        batch.add_column(sa.Column("sent_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("held_since", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("held_shown", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("bindings") as batch:
        batch.drop_column("held_shown")
        batch.drop_column("held_since")
        batch.drop_column("sent_at")
