"""Index only the outbox entries that are waiting: pending ones to send, parked ones to list.

``ix_outbox_due`` held every entry, sent ones included, with the state first. On a
large store each re-queue (an order moves a SKU's stock: sent -> pending) deleted the
entry from the sent part of the index, a page far from any other, and each settle
put it back there: one random index page written per entry, twice per round trip.
The due index now holds pending entries only (a partial index, on SQLite and
PostgreSQL alike), and a second partial index finds parked ones; sent entries, the
great majority, are in neither. Queries name the state as a literal so both
databases can use them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_DUE = ["channel", "kind", "urgency", "next_attempt_at", "id"]


def _partial(name: str, columns: list[str], state: str) -> None:
    where = sa.text(f"state = '{state}'")
    op.create_index(name, "outbox", columns, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    """Rebuild ``ix_outbox_due`` over pending entries; add ``ix_outbox_parked``."""
    op.drop_index("ix_outbox_due", table_name="outbox")
    _partial("ix_outbox_due", _DUE, "pending")
    _partial("ix_outbox_parked", ["channel", "kind"], "parked")


def downgrade() -> None:
    """Restore the full index with the state first."""
    op.drop_index("ix_outbox_parked", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["state", *_DUE])
