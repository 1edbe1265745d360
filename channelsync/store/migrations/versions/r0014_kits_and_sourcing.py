"""Kits and multipacks made of components; reservations held in a warehouse.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``kit_components`` and the warehouse a reservation is held in."""
    op.create_table(
        "kit_components",
        sa.Column("kit_id", sa.Integer(), sa.ForeignKey("skus.id"), primary_key=True),
        sa.Column("component_id", sa.Integer(), sa.ForeignKey("skus.id"), primary_key=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
    )
    op.create_index("ix_kit_components_component", "kit_components", ["component_id"])
    with op.batch_alter_table("reservations") as batch:
        # Reservations made before warehouses were attributed stay unattributed ("").
        batch.add_column(sa.Column("warehouse", sa.String(128), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop both (kits become plain SKUs; reservations forget their warehouse)."""
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("warehouse")
    op.drop_index("ix_kit_components_component", table_name="kit_components")
    op.drop_table("kit_components")
