"""Index what the console reads: held listings, orders newest first, an order's ledger.

The overview counts each channel's held listings every few seconds: a partial index
holds only those rows, where a scan walked every binding. The order list pages the
newest orders first (a sort of every order without ``ix_orders_created``), and an
order's page reads the ledger events it caused (a scan of the whole ledger, which only
grows, without ``ix_ledger_events_order``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_HELD = sa.text("held_since IS NOT NULL")


def upgrade() -> None:
    """Add the three indexes."""
    op.create_index(
        "ix_bindings_held",
        "bindings",
        ["channel"],
        sqlite_where=_HELD,
        postgresql_where=_HELD,
    )
    op.create_index("ix_orders_created", "orders", ["created_at"])
    op.create_index("ix_ledger_events_order", "ledger_events", ["channel", "order_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_ledger_events_order", table_name="ledger_events")
    op.drop_index("ix_orders_created", table_name="orders")
    op.drop_index("ix_bindings_held", table_name="bindings")
