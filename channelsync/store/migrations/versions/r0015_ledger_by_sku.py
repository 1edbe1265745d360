"""Read a SKU's ledger events (its recent sales) by index, not by scanning the ledger.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the index on ``(sku_id, at)``."""
    op.create_index("ix_ledger_events_sku_at", "ledger_events", ["sku_id", "at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_ledger_events_sku_at", table_name="ledger_events")
