"""Keep what an order event says: the units its order takes and when the change happened.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from channelsync.store.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``units`` (JSON: merchant code -> units; null when unsaid) and ``occurred_at``."""
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("units", sa.JSON()))
        batch.add_column(sa.Column("occurred_at", UtcDateTime()))
    # The planner reads every channel's unanswered events: an index without the channel.
    op.create_index("ix_inbox_open", "inbox", ["processed_at", "kind"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_inbox_open", table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("occurred_at")
        batch.drop_column("units")
