"""Keep pushed marketplace events in an inbox, once per platform message id.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from channelsync.store.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the inbox table and its index of unprocessed events per channel."""
    op.create_table(
        "inbox",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(256), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("order_id", sa.String(256)),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("processed_at", UtcDateTime()),
        sa.Column("outcome", sa.String(32)),
    )
    op.create_index("ix_inbox_unprocessed", "inbox", ["channel", "processed_at"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_index("ix_inbox_unprocessed", table_name="inbox")
    op.drop_table("inbox")
