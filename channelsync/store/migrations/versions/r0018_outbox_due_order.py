"""Let the outbox's due index give the flush's whole order, ``id`` included.

The flush reads a channel's most urgent due entries of one kind ordered by urgency,
due time and id. Without ``id`` in the index, PostgreSQL sorts every due entry of
equal urgency and time on each read (a first cycle queues them all at one time):
8 to 12 ms a read at 10,000 SKUs, 0.1 ms with it. SQLite keeps the row id in every
index already; the index is rebuilt the same way there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_BEFORE = ["state", "channel", "kind", "urgency", "next_attempt_at"]


def upgrade() -> None:
    """Rebuild ``ix_outbox_due`` with ``id`` last."""
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", [*_BEFORE, "id"])


def downgrade() -> None:
    """Rebuild it without ``id``."""
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", _BEFORE)
