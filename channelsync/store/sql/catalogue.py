"""The catalogue on SQLAlchemy Core: products and SKUs, one by one and in bulk, and kits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Text,
    delete,
    insert,
    select,
    type_coerce,
    update,
)
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    KitComponent,
    SkuData,
    SkuRecord,
    StoreSession,
)
from channelsync.store.sql._common import (
    SqlPart,
    upsert_insert,
)
from channelsync.store.sql._fast import one_of
from channelsync.store.sql.statistics import note_written

__all__ = ["SqlCatalogue"]

# A SKU's columns as the driver gives them: a read of thousands of SKUs (a plan's
# slice) then converts only what needs it, in ``_sku``, instead of each value through
# its column type. JSON arrives as text from SQLite and parsed from psycopg; a flag as
# 0/1 from SQLite.
_SKU_COLUMNS = (
    t.skus.c.id,
    t.skus.c.merchant_code,
    t.products.c.code.label("product_code"),
    t.skus.c.title,
    t.skus.c.price,
    t.skus.c.currency,
    t.skus.c.cost,
    t.skus.c.barcode,
    type_coerce(t.skus.c.attributes, Text).label("attributes"),
    t.skus.c.safety_stock,
    type_coerce(t.skus.c.low_stock_alerted, Integer).label("low_stock_alerted"),
)


def _sku(row: Sequence[Any]) -> SkuRecord:
    """Return the record of a row of ``_SKU_COLUMNS`` (in the record's own field order)."""
    attributes = row[8]
    if isinstance(attributes, str | bytes):
        attributes = None if attributes == "{}" else json.loads(attributes)
    return SkuRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        dict(attributes) if attributes else {},
        row[9],
        bool(row[10]),
    )


class SqlCatalogue(SqlPart, StoreSession):
    """The catalogue operations of a SQL store transaction."""

    @override
    def upsert_product(self, code: str, title: str, attributes: Mapping[str, str]) -> int:
        found = self._c.execute(select(t.products.c.id).where(t.products.c.code == code)).scalar()
        if found is None:
            result = self._c.execute(
                insert(t.products).values(code=code, title=title, attributes=dict(attributes))
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        self._c.execute(
            update(t.products)
            .where(t.products.c.id == found)
            .values(title=title, attributes=dict(attributes))
        )
        return int(found)

    @override
    def upsert_sku(
        self,
        *,
        merchant_code: str,
        product_id: int | None,
        title: str,
        price: str,
        currency: str,
        cost: str | None,
        barcode: str | None,
        attributes: Mapping[str, str],
        now: datetime,
    ) -> int:
        values = {
            "product_id": product_id,
            "title": title,
            "price": price,
            "currency": currency,
            "cost": cost,
            "barcode": barcode,
            "attributes": dict(attributes),
            "dirty": True,
            "updated_at": now,
        }
        found = self._c.execute(
            select(t.skus.c.id).where(t.skus.c.merchant_code == merchant_code)
        ).scalar()
        if found is None:
            result = self._c.execute(
                insert(t.skus).values(
                    merchant_code=merchant_code, safety_stock=0, low_stock_alerted=False, **values
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        self._c.execute(
            update(t.skus)
            .where(t.skus.c.id == found)
            .values(**values, change_count=t.skus.c.change_count + 1)
        )
        return int(found)

    def _sku_query(self) -> Any:
        return select(*_SKU_COLUMNS).select_from(
            t.skus.outerjoin(t.products, t.skus.c.product_id == t.products.c.id)
        )

    @override
    def skus(self, merchant_codes: Iterable[str] | None = None) -> list[SkuRecord]:
        query = self._sku_query().order_by(t.skus.c.merchant_code)
        if merchant_codes is not None:
            codes = list(dict.fromkeys(merchant_codes))
            if not codes:
                return []
            where = one_of(self._c, t.skus.c.merchant_code, codes)
            rows = self._c.execute(query.where(where)).all()
            # Sorted here: a database's collation may order codes otherwise.
            return sorted(map(_sku, rows), key=lambda s: s.merchant_code)
        return list(map(_sku, self._c.execute(query)))

    @override
    def skus_by_id(self, sku_ids: Iterable[int]) -> dict[int, SkuRecord]:
        found: dict[int, SkuRecord] = {}
        ids = list(dict.fromkeys(sku_ids))
        if ids:
            query = self._sku_query().where(one_of(self._c, t.skus.c.id, ids))
            # Fetched at once: the driver's one call, not one per row.
            for sku in map(_sku, self._c.execute(query).all()):
                found[sku.id] = sku
        return found

    @override
    def sku_ids(self) -> dict[str, int]:
        s = t.skus.c
        query = select(s.merchant_code, s.id).order_by(s.merchant_code)
        return {str(code): int(i) for code, i in self._c.execute(query)}

    @override
    def set_low_stock_alerted(self, sku_id: int, alerted: bool) -> None:
        self._c.execute(
            update(t.skus).where(t.skus.c.id == sku_id).values(low_stock_alerted=alerted)
        )

    @override
    def claim_low_stock_alert(self, sku_id: int, alerted: bool) -> bool:
        s = t.skus.c
        # Where the flag is still the other way: a writer that set it first holds the
        # row until it commits, then this finds nothing to change.
        changed = self._c.execute(
            update(t.skus)
            .where(s.id == sku_id, s.low_stock_alerted == (not alerted))
            .values(low_stock_alerted=alerted)
        )
        return changed.rowcount == 1

    def upsert_skus(self, skus: Sequence[SkuData], now: datetime) -> dict[str, int]:
        """Create or update SKUs by merchant code (marking them changed); return their ids."""
        if not skus:
            return {}
        latest = {s.merchant_code: s for s in skus}
        rows = [
            {
                "merchant_code": s.merchant_code,
                "product_id": s.product_id,
                "title": s.title,
                "price": s.price,
                "currency": s.currency,
                "cost": s.cost,
                "barcode": s.barcode,
                "attributes": dict(s.attributes),
                "dirty": True,
                "updated_at": now,
                "safety_stock": 0,
                "low_stock_alerted": False,
            }
            for s in latest.values()
        ]
        statement = upsert_insert(self._c, t.skus)
        kept = ("merchant_code", "safety_stock", "low_stock_alerted")
        statement = statement.on_conflict_do_update(
            index_elements=[t.skus.c.merchant_code],
            set_={
                **{name: statement.excluded[name] for name in rows[0] if name not in kept},
                "change_count": t.skus.c.change_count + 1,
            },
        )
        self._c.execute(statement, rows)
        note_written(self._c, t.skus.name, len(rows))
        codes = list(latest)
        found: dict[str, int] = {}
        if codes:
            query = select(t.skus.c.merchant_code, t.skus.c.id).where(
                one_of(self._c, t.skus.c.merchant_code, codes)
            )
            found.update({str(code): int(sku_id) for code, sku_id in self._c.execute(query)})
        return found

    @override
    def components_of(self, kit_ids: Iterable[int]) -> dict[int, tuple[KitComponent, ...]]:
        k = t.kit_components.c
        found: dict[int, list[KitComponent]] = {}
        ids = list(dict.fromkeys(kit_ids))
        if ids:
            query = (
                select(k.kit_id, k.component_id, t.skus.c.merchant_code, k.quantity)
                .join(t.skus, t.skus.c.id == k.component_id)
                .where(one_of(self._c, k.kit_id, ids))
            )
            for kit_id, component_id, code, quantity in self._c.execute(query):
                found.setdefault(int(kit_id), []).append(
                    KitComponent(int(component_id), str(code), int(quantity))
                )
        return {
            kit_id: tuple(sorted(parts, key=lambda c: c.merchant_code))
            for kit_id, parts in found.items()
        }

    @override
    def kits_using(self, sku_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
        k = t.kit_components.c
        found: dict[int, list[int]] = {}
        ids = list(dict.fromkeys(sku_ids))
        if ids:
            query = select(k.component_id, k.kit_id).where(one_of(self._c, k.component_id, ids))
            for component_id, kit_id in self._c.execute(query):
                found.setdefault(int(component_id), []).append(int(kit_id))
        return {component: tuple(sorted(kits)) for component, kits in found.items()}

    @override
    def set_components(self, kit_id: int, components: Sequence[tuple[int, int]]) -> bool:
        wanted: dict[int, int] = {}
        for component_id, quantity in components:
            if quantity < 1:
                raise ValueError(f"kit {kit_id}: component {component_id} quantity {quantity} < 1")
            if component_id == kit_id:
                raise ValueError(f"kit {kit_id} cannot be a component of itself")
            if component_id in wanted:
                raise ValueError(f"kit {kit_id}: component {component_id} listed twice")
            wanted[component_id] = quantity
        # Held before the read, as every read-then-write on a SKU is (see lock_skus).
        self.lock_skus([kit_id])
        k = t.kit_components.c
        query = select(k.component_id, k.quantity).where(k.kit_id == kit_id)
        current = {int(c): int(q) for c, q in self._c.execute(query)}
        if current == wanted:
            return False
        self._c.execute(delete(t.kit_components).where(k.kit_id == kit_id))
        if wanted:
            self._c.execute(
                insert(t.kit_components),
                [
                    {"kit_id": kit_id, "component_id": c, "quantity": q}
                    for c, q in sorted(wanted.items())
                ],
            )
        self.mark_changed([kit_id])
        return True

    @override
    def kit_ids(self) -> list[int]:
        k = t.kit_components.c
        query = select(k.kit_id).distinct().order_by(k.kit_id)
        return [int(i) for i in self._c.execute(query).scalars()]

    @override
    def has_kits(self) -> bool:
        query = select(t.kit_components.c.kit_id).limit(1)
        return self._c.execute(query).first() is not None
