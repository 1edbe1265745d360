"""Index the outbox's due entries by kind, so each kind's next batch is found directly.

The flush asks for the most urgent pending entries of one kind (stock, then prices,
then listing status) per channel. Without the kind in the index, every batch of stock
entries walked past all pending price entries first (they share the channel and sort
earlier by urgency): a first cycle of a large catalogue cost the square of its size.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-03
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace the due index with one that leads with state, channel and kind."""
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index(
        "ix_outbox_due", "outbox", ["state", "channel", "kind", "urgency", "next_attempt_at"]
    )


def downgrade() -> None:
    """Restore the index without the kind."""
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["state", "channel", "urgency", "next_attempt_at"])
