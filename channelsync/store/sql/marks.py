"""Which SKUs a plan must look at again: their change marks, and the SKU row locks.

A change to a SKU's stock or catalogue marks it (``dirty``, and ``change_count`` bumped);
a plan reads the counts first and clears only the marks it saw, so a mark another
writer makes meanwhile stays. The ledger's writes mark what they change
(:class:`~channelsync.store.sql.ledger.SqlLedger` builds on this part).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import StoreSession
from channelsync.store.sql._common import SqlPart
from channelsync.store.sql._fast import lock_ids, one_of, update_rows

__all__ = ["SqlChangeMarks"]


class SqlChangeMarks(SqlPart, StoreSession):
    """The change marks and SKU locks of a SQL store transaction."""

    @override
    def changed_skus(self, limit: int | None = None) -> list[int]:
        query = select(t.skus.c.id).where(t.skus.c.dirty.is_(True)).order_by(t.skus.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [int(i) for i in self._c.execute(query).scalars()]

    @override
    def change_counts(self, sku_ids: Iterable[int]) -> dict[int, int]:
        s = t.skus.c
        found: dict[int, int] = {}
        ids = sorted(set(sku_ids))
        if ids:
            query = select(s.id, s.change_count).where(one_of(self._c, s.id, ids))
            found.update({int(i): int(n) for i, n in self._c.execute(query).all()})
        return found

    @override
    def clear_changed(self, sku_ids: Iterable[int], seen: Mapping[int, int] | None = None) -> None:
        if seen is None:
            self._set_dirty(sku_ids, dirty=False)
            return
        ids = sorted(set(sku_ids))
        self.lock_skus(ids)
        # Only where no mark came since the plan read the counts: a SKU marked meanwhile
        # (an order, a new binding committed by another writer) stays marked.
        rows = [{"_id": i, "_seen": seen[i], "_dirty": False} for i in ids if i in seen]
        cleared = update_rows(
            self._c,
            "skus.clear_seen",
            t.skus,
            rows,
            where={"_id": "id", "_seen": "change_count"},
            values={"_dirty": "dirty"},
        )
        if cleared is None or cleared.rowcount == len(rows):
            return
        # Marked since: that writer (an order's page) may have planned the SKU and
        # cleared its own mark, and this plan's values, read before its change, were
        # written after it. Marked again, so the next pass plans it on what is now.
        counts = self.change_counts(row["_id"] for row in rows)
        self._mark_dirty(i for i in counts if counts[i] != seen[i])

    @override
    def mark_changed(self, sku_ids: Iterable[int]) -> None:
        self._set_dirty(sku_ids, dirty=True)

    def _set_dirty(self, sku_ids: Iterable[int], *, dirty: bool) -> None:
        # Locked in ascending order first: an UPDATE ... IN locks in no promised order.
        ids = sorted(set(sku_ids))
        self.lock_skus(ids)
        if ids:
            values: dict[str, Any] = {"dirty": dirty}
            if dirty:
                values["change_count"] = t.skus.c.change_count + 1
            self._c.execute(update(t.skus).where(one_of(self._c, t.skus.c.id, ids)).values(values))

    @override
    def mark_all_changed(self) -> None:
        if self._c.dialect.name != "sqlite":
            key = t.skus.c.id
            self._c.execute(select(key).order_by(key).with_for_update(key_share=True)).all()
        self._c.execute(update(t.skus).values(dirty=True, change_count=t.skus.c.change_count + 1))

    @override
    def lock_skus(self, sku_ids: Iterable[int]) -> None:
        """Hold these SKUs' stock, reservations and marks for this transaction's writes.

        PostgreSQL: their ``skus`` rows locked in ascending id order (see
        :func:`~channelsync.store.sql._fast.lock_ids`); SQLite: the database's write lock.
        """
        lock_ids(self._c, t.skus, sku_ids)

    def _mark_dirty(self, sku_ids: Iterable[int]) -> None:
        # Only SKUs this transaction holds (apply_events locked them first).
        ids = sorted(set(sku_ids))
        if ids:
            self._c.execute(
                update(t.skus)
                .where(one_of(self._c, t.skus.c.id, ids))
                .values(dirty=True, change_count=t.skus.c.change_count + 1)
            )
