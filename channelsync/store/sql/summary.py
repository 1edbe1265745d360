"""The view reads of a SQL store transaction: aggregates and pages computed in SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import StoreSession
from channelsync.store.journal import AuditEntry
from channelsync.store.ledger import LedgerEvent
from channelsync.store.orders import ShipmentRecord, StoredOrder
from channelsync.store.outbox import OutboxState
from channelsync.store.sql._common import SqlPart, audit_entry, ledger_event, stored_order
from channelsync.store.sql.orders import SqlOrders
from channelsync.store.sql.outbox_statements import in_state
from channelsync.store.summary import ChannelCounts

__all__ = ["SqlSummary"]


class SqlSummary(SqlPart, StoreSession):
    """The view reads of a SQL store transaction."""

    @override
    def channel_counts(self) -> dict[str, ChannelCounts]:
        # Every count is read from an index: the overview asks for them every few seconds.
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        o = t.outbox.c
        for state in (OutboxState.PENDING, OutboxState.PARKED):
            # One state a query, named as a literal: each is counted from its partial
            # index, never by a walk over the sent entries.
            for channel, number in self._c.execute(
                select(o.channel, func.count()).where(in_state(state)).group_by(o.channel)
            ):
                counts[channel][state.value] = int(number)
        p = t.parked.c
        for channel, number in self._c.execute(select(p.channel, func.count()).group_by(p.channel)):
            counts[channel]["parked_records"] = int(number)
        b = t.bindings.c
        # Bound: all bindings (the listing key's index) less the unbound ones (the SKU's).
        for channel, number in self._c.execute(select(b.channel, func.count()).group_by(b.channel)):
            counts[channel]["bound"] = int(number)
        for channel, number in self._c.execute(
            select(b.channel, func.count()).where(b.sku_id.is_(None)).group_by(b.channel)
        ):
            counts[channel]["bound"] -= int(number)
        for channel, number in self._c.execute(
            # The partial index ix_bindings_held holds only these rows.
            select(b.channel, func.count()).where(b.held_since.is_not(None)).group_by(b.channel)
        ):
            counts[channel]["held"] = int(number)
        r = t.orders.c
        for channel, number in self._c.execute(select(r.channel, func.count()).group_by(r.channel)):
            counts[channel]["orders"] = int(number)
        return {
            channel: ChannelCounts(
                pending=found.get(OutboxState.PENDING.value, 0),
                parked=found.get(OutboxState.PARKED.value, 0),
                parked_records=found.get("parked_records", 0),
                held=found.get("held", 0),
                bound=found.get("bound", 0),
                orders=found.get("orders", 0),
            )
            for channel, found in counts.items()
        }

    @override
    def oversold(self, limit: int = 100) -> tuple[int, dict[str, int]]:
        s, k, r = t.stock.c, t.skus.c, t.reservations.c
        # Only SKUs with a reservation can be oversold: start from those, and sum the
        # stock of each of them alone (not of the whole catalogue).
        reserved = (
            select(r.sku_id, func.sum(r.quantity).label("units")).group_by(r.sku_id).subquery()
        )
        on_hand = (
            select(func.coalesce(func.sum(s.on_hand), 0))
            .where(s.sku_id == reserved.c.sku_id)
            .scalar_subquery()
        )
        available = (on_hand - reserved.c.units - k.safety_stock).label("available")
        rows = (
            select(k.merchant_code, available)
            .select_from(reserved.join(t.skus, k.id == reserved.c.sku_id))
            .subquery()
        )
        short = rows.c.available < 0
        total = func.count().over().label("total")
        listed = self._c.execute(
            select(rows.c.merchant_code, rows.c.available, total)
            .where(short)
            .order_by(rows.c.available, rows.c.merchant_code)
            .limit(limit)
        ).all()
        if listed:
            count = int(listed[0].total)
        elif limit > 0:
            count = 0
        else:
            count = int(
                self._c.execute(select(func.count()).select_from(rows).where(short)).scalar_one()
            )
        return count, {code: -int(units) for code, units, _ in listed}

    @override
    def skus_in_several_warehouses(self, limit: int | None = None) -> dict[int, str]:
        s, k = t.stock.c, t.skus.c
        # The stock table's key is (sku_id, warehouse): counting rows counts warehouses.
        spread = select(s.sku_id).group_by(s.sku_id).having(func.count() > 1).subquery()
        query = (
            select(k.id, k.merchant_code)
            .join(spread, spread.c.sku_id == k.id)
            .order_by(k.merchant_code)
            .limit(limit)
        )
        return {int(sku_id): str(code) for sku_id, code in self._c.execute(query)}

    @override
    def search_skus(self, text: str, limit: int = 50) -> list[str]:
        code = t.skus.c.merchant_code
        query = (
            select(code)
            .where(func.lower(code).contains(text.lower(), autoescape=True))
            .order_by(code)
            .limit(limit)
        )
        return [str(found) for (found,) in self._c.execute(query)]

    @override
    def order_page(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[StoredOrder]]:
        o = t.orders.c
        conditions: list[Any] = []
        if channel is not None:
            conditions.append(o.channel == channel)
        if status is not None:
            conditions.append(o.status == status)
        # No WHERE at all when unfiltered: SQLite then counts the table without reading rows.
        total = int(
            self._c.execute(
                select(func.count()).select_from(t.orders).where(*conditions)
            ).scalar_one()
        )
        rows = self._c.execute(
            select(t.orders)
            .where(*conditions)
            # ix_orders_created: the newest first, read in order, no sort of every order.
            .order_by(o.created_at.desc(), o.channel, o.order_id)
            .limit(limit)
            .offset(offset)
        )
        return total, [stored_order(row) for row in rows]

    @override
    def order_statuses(self) -> list[str]:
        o = t.orders.c
        return [str(s) for (s,) in self._c.execute(select(o.status).distinct().order_by(o.status))]

    @override
    def order_ledger(self, channel: str, order_id: str) -> list[LedgerEvent]:
        e = t.ledger_events.c
        rows = self._c.execute(
            select(t.ledger_events)
            .where(e.channel == channel, e.order_id == order_id)
            .order_by(e.id)
        )
        return [ledger_event(r) for r in rows]

    @override
    def order_shipments(self, channel: str, order_id: str) -> list[ShipmentRecord]:
        s = t.shipments.c
        rows = self._c.execute(
            select(t.shipments).where(s.channel == channel, s.order_id == order_id).order_by(s.id)
        )
        return [SqlOrders._shipment(row) for row in rows]

    @override
    def listing_audit(self, listings: Sequence[tuple[str, str]], limit: int) -> list[AuditEntry]:
        if not listings:
            return []
        a = t.audit.c
        wanted = or_(*(and_(a.channel == channel, a.key == key) for channel, key in listings))
        rows = self._c.execute(select(t.audit).where(wanted).order_by(a.id.desc()).limit(limit))
        return [audit_entry(r) for r in rows]
