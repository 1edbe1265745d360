"""Orders, notifications and shipments on SQLAlchemy Core."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    ShipmentRecord,
    StoredOrder,
    StoreSession,
)
from channelsync.store.orders import split_personal
from channelsync.store.sql._common import (
    SqlPart,
    stored_order,
)
from channelsync.store.sql._fast import (
    Rows,
    insert_rows,
    lock_keys,
    one_of,
    run_many,
    stored_json,
    stored_time,
    update_rows,
)

__all__ = ["SqlOrders"]


def _with_personal() -> Select[Any]:
    """Select orders with their personal data (``personal``, null once erased)."""
    o, p = t.orders.c, t.order_personal.c
    return select(t.orders, p.data.label("personal")).outerjoin(
        t.order_personal, (p.channel == o.channel) & (p.order_id == o.order_id)
    )


class SqlOrders(SqlPart, StoreSession):
    """The order and shipment operations of a SQL store transaction."""

    @override
    def order(self, channel: str, order_id: str) -> StoredOrder | None:
        o = t.orders.c
        row = self._c.execute(
            _with_personal().where(o.channel == channel, o.order_id == order_id)
        ).first()
        return None if row is None else stored_order(row)

    @override
    def save_order(self, order: StoredOrder) -> None:
        self.save_orders([order])

    @override
    def orders(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[StoredOrder]:
        o = t.orders.c
        query = _with_personal().order_by(o.updated_at.desc(), o.channel, o.order_id)
        if channel is not None:
            query = query.where(o.channel == channel)
        if status is not None:
            query = query.where(o.status == status)
        if since is not None:
            query = query.where(o.updated_at >= since)
        return [stored_order(r) for r in self._c.execute(query)]

    @override
    def add_notification(
        self, channel: str, order_id: str, version: str, previous_status: str | None
    ) -> bool:
        n = t.notifications.c
        exists = self._c.execute(
            select(n.version).where(
                n.channel == channel, n.order_id == order_id, n.version == version
            )
        ).first()
        if exists is not None:
            return False
        self._c.execute(
            insert(t.notifications).values(
                channel=channel,
                order_id=order_id,
                version=version,
                previous_status=previous_status,
                delivered=False,
            )
        )
        return True

    @override
    def pending_notifications(self) -> list[tuple[str, str, str, str | None]]:
        n = t.notifications.c
        rows = self._c.execute(
            select(n.channel, n.order_id, n.version, n.previous_status)
            .where(n.delivered.is_(False))
            .order_by(n.channel, n.order_id, n.version)
        )
        # Unpacked, not read by name: a burst leaves thousands pending.
        return [(c, o, v, previous) for c, o, v, previous in rows]

    @override
    def mark_notified(self, channel: str, order_id: str, version: str) -> None:
        n = t.notifications.c
        self._c.execute(
            update(t.notifications)
            .where(n.channel == channel, n.order_id == order_id, n.version == version)
            .values(delivered=True)
        )

    @override
    def add_shipment(
        self,
        *,
        key: str,
        channel: str,
        order_id: str,
        carrier: str,
        tracking_number: str,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(t.shipments).values(
                        key=key,
                        channel=channel,
                        order_id=order_id,
                        carrier=carrier,
                        tracking_number=tracking_number,
                        payload=dict(payload),
                        state="pending",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _shipment(row: Row[Any]) -> ShipmentRecord:
        return ShipmentRecord(
            id=row.id,
            key=row.key,
            channel=row.channel,
            order_id=row.order_id,
            carrier=row.carrier,
            tracking_number=row.tracking_number,
            payload=dict(row.payload),
            state=row.state,
            marketplace_ref=row.marketplace_ref,
            reason=row.reason,
        )

    @override
    def shipment(self, key: str) -> ShipmentRecord | None:
        row = self._c.execute(select(t.shipments).where(t.shipments.c.key == key)).first()
        return None if row is None else self._shipment(row)

    @override
    def shipments(self, *, channel: str | None = None) -> list[ShipmentRecord]:
        query = select(t.shipments).order_by(t.shipments.c.id)
        if channel is not None:
            query = query.where(t.shipments.c.channel == channel)
        return [self._shipment(r) for r in self._c.execute(query)]

    @override
    def set_shipment_state(
        self,
        key: str,
        state: str,
        now: datetime,
        *,
        marketplace_ref: str | None = None,
        reason: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"state": state, "updated_at": now, "reason": reason}
        if marketplace_ref is not None:
            values["marketplace_ref"] = marketplace_ref
        self._c.execute(update(t.shipments).where(t.shipments.c.key == key).values(values))

    @override
    def count_orders_created(self, channel: str, start: datetime, end: datetime) -> int:
        o = t.orders.c
        query = select(func.count()).where(
            o.channel == channel, o.created_at >= start, o.created_at < end
        )
        return int(self._c.execute(query).scalar_one())

    def orders_by_id(self, channel: str, order_ids: Iterable[str]) -> dict[str, StoredOrder]:
        """Return the imported orders of ``channel`` with these ids."""
        o = t.orders.c
        found: dict[str, StoredOrder] = {}
        ids = list(dict.fromkeys(order_ids))
        if ids:
            query = _with_personal().where(o.channel == channel, one_of(self._c, o.order_id, ids))
            for row in self._c.execute(query):
                found[str(row.order_id)] = stored_order(row)
        return found

    def save_orders(self, orders: Sequence[StoredOrder]) -> None:
        """Insert or replace many imported orders, their personal data in a row apart."""
        latest = {(order.channel, order.order_id): order for order in orders}
        if not latest:
            return
        split = {key: split_personal(order.raw) for key, order in latest.items()}
        time = stored_time(self._c)
        rows = [
            (
                order.channel,
                order.order_id,
                order.status,
                order.version,
                time(order.updated_at),
                time(order.created_at),
                order.on_hold,
                stored_json(split[key][0]),
                time(order.imported_at),
            )
            for key, order in latest.items()
        ]
        insert_rows(self._c, "orders.save", t.orders, Rows(_SAVED, rows), conflict=_replace_order)
        self._save_personal({key: personal for key, (_, personal) in split.items()})

    def _save_personal(self, personal: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        # The latest read says what the buyer's data is: an order read without it (masked
        # after shipping, say) keeps none, as the order itself would.
        p = t.order_personal.c
        by_channel: dict[str, list[str]] = defaultdict(list)
        for channel, order_id in personal:
            by_channel[channel].append(order_id)
        for channel, order_ids in by_channel.items():
            self._c.execute(
                delete(t.order_personal).where(
                    p.channel == channel, one_of(self._c, p.order_id, order_ids)
                )
            )
        rows = [
            {"channel": channel, "order_id": order_id, "data": stored_json(dict(data))}
            for (channel, order_id), data in personal.items()
            if data
        ]
        insert_rows(self._c, "orders.personal", t.order_personal, rows)

    def mark_notified_many(self, notifications: Iterable[tuple[str, str, str]]) -> None:
        """Record that the ``(channel, order_id, version)`` announcements were delivered."""
        if self._c.dialect.name == "sqlite":
            rows = [
                {"_channel": c, "_order": o, "_version": v, "_delivered": True}
                for c, o, v in notifications
            ]
            run_many(self._c, "notifications.delivered", _mark_delivered, rows)
            return
        # PostgreSQL: one statement for the lot, not one per announcement; the rows are
        # locked first in key order, as the update of a joined set locks in none.
        marked = Rows(_NOTIFIED, [(c, o, v, True) for c, o, v in dict.fromkeys(notifications)])
        lock_keys(self._c, "notifications.lock", t.notifications, marked, where=_NOTIFICATION)
        update_rows(
            self._c,
            "notifications.delivered_set",
            t.notifications,
            marked,
            where=_NOTIFICATION,
            values={"_delivered": "delivered"},
        )

    def add_notifications(self, notifications: Sequence[tuple[str, str, str, str | None]]) -> int:
        """Record announcements; those recorded before stay as they are; return how many new."""
        n = t.notifications.c
        wanted = {(c, o, v): previous for c, o, v, previous in notifications}
        if not wanted:
            return 0
        known: set[tuple[str, str, str]] = set()
        by_channel: dict[str, set[str]] = defaultdict(set)
        for channel, order_id, _ in wanted:
            by_channel[channel].add(order_id)
        for channel, order_ids in by_channel.items():
            if order_ids:
                query = select(n.channel, n.order_id, n.version).where(
                    n.channel == channel, one_of(self._c, n.order_id, sorted(order_ids))
                )
                known.update((str(c), str(o), str(v)) for c, o, v in self._c.execute(query))
        rows = [
            {
                "channel": c,
                "order_id": o,
                "version": v,
                "previous_status": previous,
                "delivered": False,
            }
            for (c, o, v), previous in wanted.items()
            if (c, o, v) not in known
        ]
        insert_rows(self._c, "notifications.insert", t.notifications, rows)
        return len(rows)

    @override
    def erase_personal_data(
        self,
        statuses: Iterable[str],
        updated_before: datetime,
        *,
        updated_since: datetime | None = None,
    ) -> int:
        o, p = t.orders.c, t.order_personal.c
        done = (
            select(o.order_id)
            .where(o.channel == p.channel, o.order_id == p.order_id)
            .where(o.status.in_(list(statuses)), o.updated_at < updated_before)
        )
        if updated_since is not None:
            done = done.where(o.updated_at >= updated_since)
        result = self._c.execute(delete(t.order_personal).where(exists(done)))
        return int(result.rowcount)


def _replace_order(statement: Any) -> Any:
    """Replace a stored order with the one being inserted (see ``save_orders``)."""
    o = t.orders.c
    replaced = ("status", "version", "updated_at", "created_at", "on_hold", "raw", "imported_at")
    return statement.on_conflict_do_update(
        index_elements=[o.channel, o.order_id],
        set_={name: statement.excluded[name] for name in replaced},
    )


#: An order's values as ``save_orders`` gives them.
_SAVED = (
    "channel",
    "order_id",
    "status",
    "version",
    "updated_at",
    "created_at",
    "on_hold",
    "raw",
    "imported_at",
)


#: An announcement's row, by the names ``mark_notified_many`` gives its values.
_NOTIFICATION = {"_channel": "channel", "_order": "order_id", "_version": "version"}
_NOTIFIED = ("_channel", "_order", "_version", "_delivered")


def _mark_delivered() -> Any:
    """Mark one announcement delivered, every value bound."""
    n = t.notifications.c
    return (
        update(t.notifications)
        .where(
            n.channel == bindparam("_channel"),
            n.order_id == bindparam("_order"),
            n.version == bindparam("_version"),
        )
        .values(delivered=bindparam("_delivered"))
    )
