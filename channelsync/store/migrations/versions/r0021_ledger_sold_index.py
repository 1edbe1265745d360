"""Index the reservations by channel and time: the SKUs a channel's orders reserved lately.

When a channel's visibility delay changes (an order imported late, a listener falling
back to polling), every SKU selling there holds back a different number of units for
orders not yet seen, and the engine plans those SKUs again (see
``channelsync.engine.pace_change``). It finds them by the channel's reservations within
the pace window: without this index, a scan of the whole ledger. Partial: only the
events that reserve units (an order's lines), not stock counts or releases.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``ix_ledger_events_sold``."""
    where = sa.text("reserved_delta > 0")
    op.create_index(
        "ix_ledger_events_sold",
        "ledger_events",
        ["channel", "at"],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    """Drop ``ix_ledger_events_sold``."""
    op.drop_index("ix_ledger_events_sold", table_name="ledger_events")
