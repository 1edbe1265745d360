"""Leave room on each page of ``skus`` and ``bindings`` for their rows' next versions.

PostgreSQL writes every update as a new version of the row. When the new version fits
on the row's own page and no indexed column changed, it is a heap-only tuple: no index
entry is written for it. Filled to the brim (the default), a page has no room, so each
update went elsewhere and wrote an entry in every index of the table. These two tables
are rewritten most: a SKU is marked once per channel bound and per change, a listing
gets its planned and its sent values. Their pages are now filled to 70 %: in the first
cycle of 100,000 SKUs on 4 channels of ``benchmarks/engine_cycle.py``, updates written
without index entries went from 39 % to 66 % of the listings' and from 0 % to 62 % of
the SKUs' (the rest change an indexed column: a SKU's mark set or cleared). Pages
written before keep their fill until the table is rewritten (``VACUUM FULL``). SQLite
has no such setting.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

FILLFACTOR = 70


def upgrade() -> None:
    """Set ``fillfactor`` on PostgreSQL (SQLite has no such setting)."""
    if op.get_bind().dialect.name == "postgresql":
        for table in ("skus", "bindings"):
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    """Fill pages again."""
    if op.get_bind().dialect.name == "postgresql":
        for table in ("skus", "bindings"):
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
