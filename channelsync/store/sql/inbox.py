"""The inbox of pushed events on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, null, select, update
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import StoreSession
from channelsync.store.inbox import InboxEvent, InboxSummary
from channelsync.store.sql._common import SqlPart, upsert_insert

__all__ = ["SqlInbox"]


def _units(value: object) -> dict[str, int] | None:
    """Read the stored units (JSON null stays ``None``; anything else malformed is dropped)."""
    if not isinstance(value, dict):
        return None
    return {
        str(code): quantity
        for code, quantity in value.items()
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0
    }


class SqlInbox(SqlPart, StoreSession):
    """The inbox operations of a SQL store transaction."""

    @override
    def record_event(self, event: InboxEvent) -> bool:
        # ON CONFLICT DO NOTHING: two deliveries racing on two connections both end
        # with one row, and only the first one learns it was new. RETURNING says which,
        # on both dialects: psycopg's rowcount for this statement is not 1 for a new row.
        statement = (
            upsert_insert(self._c, t.inbox)
            .values(
                channel=event.channel,
                message_id=event.message_id,
                kind=event.kind,
                key=event.key,
                order_id=event.order_id,
                topic=event.topic,
                received_at=event.received_at,
                units=null() if event.units is None else dict(event.units),
                occurred_at=event.occurred_at,
            )
            .on_conflict_do_nothing(index_elements=["channel", "message_id"])
            .returning(t.inbox.c.message_id)
        )
        return self._c.execute(statement).first() is not None

    @override
    def unprocessed_events(self, channel: str, limit: int = 100) -> list[InboxEvent]:
        i = t.inbox.c
        rows = self._c.execute(
            select(t.inbox)
            .where(i.channel == channel, i.processed_at.is_(None))
            .order_by(i.received_at, i.message_id)
            .limit(limit)
        )
        return [
            InboxEvent(
                channel=row.channel,
                message_id=row.message_id,
                kind=row.kind,
                key=row.key,
                topic=row.topic,
                received_at=row.received_at,
                order_id=row.order_id,
                units=_units(row.units),
                occurred_at=row.occurred_at,
            )
            for row in rows
        ]

    @override
    def event_holds(self, channels: Iterable[str], since: datetime) -> dict[str, int]:
        names = list(channels)
        if not names:
            return {}
        i, o = t.inbox.c, t.orders.c
        imported = select(o.order_id).where(o.channel == i.channel, o.order_id == i.key).exists()
        rows = self._c.execute(
            select(i.channel, i.key, i.units).where(
                i.processed_at.is_(None),
                i.channel.in_(names),
                i.received_at >= since,
                i.kind == "order",
                i.units.is_not(None),
                ~imported,
            )
        )
        # Several events of one order (created, then paid) name the same units once.
        per_order: dict[tuple[str, str], dict[str, int]] = {}
        for channel, key, units in rows:
            order = per_order.setdefault((channel, key), {})
            for code, quantity in (_units(units) or {}).items():
                order[code] = max(order.get(code, 0), quantity)
        held: dict[str, int] = {}
        for order in per_order.values():
            for code, quantity in order.items():
                held[code] = held.get(code, 0) + quantity
        return held

    @override
    def mark_event_processed(
        self, channel: str, message_id: str, outcome: str, now: datetime
    ) -> None:
        i = t.inbox.c
        self._c.execute(
            update(t.inbox)
            .where(i.channel == channel, i.message_id == message_id)
            .values(processed_at=now, outcome=outcome[:32])
        )

    @override
    def inbox_summary(self, channel: str, since: datetime) -> InboxSummary:
        i = t.inbox.c
        received, last = self._c.execute(
            select(func.count(), func.max(i.received_at)).where(
                i.channel == channel, i.received_at >= since
            )
        ).one()
        unprocessed = self._c.execute(
            select(func.count()).where(i.channel == channel, i.processed_at.is_(None))
        ).scalar_one()
        if last is None:
            last = self._c.execute(
                select(func.max(i.received_at)).where(i.channel == channel)
            ).scalar_one()
        return InboxSummary(int(received), int(unprocessed), last)

    @override
    def prune_inbox(self, before: datetime) -> int:
        i = t.inbox.c
        result = self._c.execute(
            delete(t.inbox).where(i.processed_at.is_not(None), i.received_at < before)
        )
        return int(result.rowcount)
