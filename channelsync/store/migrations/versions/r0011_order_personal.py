"""Keep buyers' personal data apart from the order facts, a row per order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: The order JSON's personal fields (as ``channelsync.store.orders.PERSONAL_FIELDS`` at
#: this revision; a migration does not follow later code).
_FIELDS = ("shipping_address", "buyer_note")
_BATCH = 500

_orders = sa.table(
    "orders",
    sa.column("channel", sa.String),
    sa.column("order_id", sa.String),
    sa.column("raw", sa.JSON),
)


def _personal_table() -> sa.Table:
    return op.create_table(
        "order_personal",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(128), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
    )


def upgrade() -> None:
    """Add ``order_personal`` and move every order's address and note into it."""
    personal = _personal_table()
    bind = op.get_bind()
    moved: list[dict[str, Any]] = []
    rows = bind.execute(sa.select(_orders.c.channel, _orders.c.order_id, _orders.c.raw)).all()
    for row in rows:
        raw = dict(row.raw)
        data = {k: raw[k] for k in _FIELDS if raw.get(k) is not None}
        if not data:
            continue
        raw.update(dict.fromkeys(data))
        bind.execute(
            sa.update(_orders)
            .where(_orders.c.channel == row.channel, _orders.c.order_id == row.order_id)
            .values(raw=raw)
        )
        moved.append({"channel": row.channel, "order_id": row.order_id, "data": data})
        if len(moved) >= _BATCH:
            bind.execute(sa.insert(personal), moved)
            moved = []
    if moved:
        bind.execute(sa.insert(personal), moved)


def downgrade() -> None:
    """Put the personal data back into the orders' JSON and drop the table."""
    bind = op.get_bind()
    personal = sa.table(
        "order_personal",
        sa.column("channel", sa.String),
        sa.column("order_id", sa.String),
        sa.column("data", sa.JSON),
    )
    query = sa.select(_orders.c.channel, _orders.c.order_id, _orders.c.raw, personal.c.data).join(
        personal,
        (personal.c.channel == _orders.c.channel) & (personal.c.order_id == _orders.c.order_id),
    )
    for row in bind.execute(query).all():
        raw = {**dict(row.raw), **dict(row.data)}
        bind.execute(
            sa.update(_orders)
            .where(_orders.c.channel == row.channel, _orders.c.order_id == row.order_id)
            .values(raw=raw)
        )
    op.drop_table("order_personal")
