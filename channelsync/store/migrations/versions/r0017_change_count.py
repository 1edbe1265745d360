"""Count each SKU's change marks, so a plan clears only the marks it saw.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``skus.change_count``."""
    with op.batch_alter_table("skus") as batch:
        batch.add_column(
            sa.Column("change_count", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Drop it (a plan then clears every mark of the SKUs it planned)."""
    with op.batch_alter_table("skus") as batch:
        batch.drop_column("change_count")
