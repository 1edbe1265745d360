"""The state store on SQLAlchemy Core: SQLite by default, PostgreSQL by URL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, in one file. The
schema is brought to the newest revision with the packaged Alembic migrations when
the store is opened. Statements are built with SQLAlchemy expressions only, so the
same code serves every database SQLAlchemy supports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from typing_extensions import override

from channelsync.errors import ConfigurationError
from channelsync.store import schema as t
from channelsync.store._sql_bulk import SqlBulkOperations, binding_record, stored_order
from channelsync.store.base import (
    AuditEntry,
    BindingRecord,
    LedgerEvent,
    OutboxItem,
    OutboxState,
    ParkedRecord,
    ShipmentRecord,
    SkuRecord,
    StockPosition,
    Store,
    StoredOrder,
    StoreSession,
)

__all__ = ["SqlStore", "migrate"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(connection: Connection, revision: str = "head") -> None:
    """Bring the database on ``connection`` to ``revision`` with the packaged migrations."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class SqlStore(Store):
    """The state store on a SQLAlchemy engine (see :func:`channelsync.store.open_store`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = _build_engine(url)
        with self._engine.begin() as connection:
            migrate(connection)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools)."""
        return self._engine

    @override
    @contextmanager
    def transaction(self) -> Iterator[StoreSession]:
        with self._engine.begin() as connection:
            yield SqlSession(connection)

    @override
    @contextmanager
    def preview(self) -> Iterator[StoreSession]:
        with self._engine.connect() as connection:
            transaction = connection.begin()
            try:
                yield SqlSession(connection)
            finally:
                transaction.rollback()

    @override
    def close(self) -> None:
        self._engine.dispose()


def _build_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url)
    memory = url in {"sqlite://", "sqlite:///:memory:"}
    if not memory:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.parent.is_dir():
            raise ConfigurationError(
                f"the directory of the state database does not exist: {path.parent}",
                field="store.url",
            )
    engine = create_engine(
        url,
        poolclass=StaticPool if memory else None,
        connect_args={"check_same_thread": False} if memory else {},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: object) -> None:
        # Python's sqlite3 opens transactions implicitly; SQLAlchemy's begin() then
        # issues BEGIN itself, which keeps every multi-row change in one transaction.
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


def _listing_key(listing_sku_id: str | None) -> str:
    return listing_sku_id or ""


class SqlSession(SqlBulkOperations, StoreSession):
    """The store operations on one open transaction (set-based ones in the mixin)."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # -- catalogue -----------------------------------------------------------------------

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
        self._c.execute(update(t.skus).where(t.skus.c.id == found).values(**values))
        return int(found)

    def _sku_query(self) -> Any:
        return select(t.skus, t.products.c.code.label("product_code")).select_from(
            t.skus.outerjoin(t.products, t.skus.c.product_id == t.products.c.id)
        )

    @staticmethod
    def _sku(row: Row[Any]) -> SkuRecord:
        m = row._mapping
        return SkuRecord(
            id=m["id"],
            merchant_code=m["merchant_code"],
            product_code=m["product_code"],
            title=m["title"],
            price=m["price"],
            currency=m["currency"],
            cost=m["cost"],
            barcode=m["barcode"],
            attributes=dict(m["attributes"] or {}),
            safety_stock=m["safety_stock"],
            low_stock_alerted=bool(m["low_stock_alerted"]),
        )

    @override
    def skus(self, merchant_codes: Iterable[str] | None = None) -> list[SkuRecord]:
        query = self._sku_query().order_by(t.skus.c.merchant_code)
        if merchant_codes is not None:
            codes = list(merchant_codes)
            rows: list[Row[Any]] = []
            for chunk in _chunks(codes):
                rows += self._c.execute(query.where(t.skus.c.merchant_code.in_(chunk))).all()
            return sorted((self._sku(r) for r in rows), key=lambda s: s.merchant_code)
        return [self._sku(r) for r in self._c.execute(query)]

    @override
    def skus_by_id(self, sku_ids: Iterable[int]) -> dict[int, SkuRecord]:
        found: dict[int, SkuRecord] = {}
        for chunk in _chunks(list(sku_ids)):
            for row in self._c.execute(self._sku_query().where(t.skus.c.id.in_(chunk))):
                sku = self._sku(row)
                found[sku.id] = sku
        return found

    @override
    def set_low_stock_alerted(self, sku_id: int, alerted: bool) -> None:
        self._c.execute(
            update(t.skus).where(t.skus.c.id == sku_id).values(low_stock_alerted=alerted)
        )

    # -- stock ---------------------------------------------------------------------------

    @override
    def apply_event(self, event: LedgerEvent, now: datetime) -> bool:
        return self.apply_events([event], now)[0]

    @override
    def has_event(self, idempotency_key: str) -> bool:
        e = t.ledger_events.c
        found = self._c.execute(select(e.id).where(e.idempotency_key == idempotency_key)).first()
        return found is not None

    @override
    def set_safety_stock(self, sku_id: int, quantity: int) -> None:
        self._c.execute(
            update(t.skus).where(t.skus.c.id == sku_id).values(safety_stock=quantity, dirty=True)
        )

    @override
    def reservation(self, channel: str, order_id: str, sku_id: int) -> int:
        r = t.reservations.c
        found = self._c.execute(
            select(r.quantity).where(
                r.channel == channel, r.order_id == order_id, r.sku_id == sku_id
            )
        ).scalar()
        return int(found or 0)

    @override
    def on_hand(self, sku_id: int) -> dict[str, int]:
        rows = self._c.execute(
            select(t.stock.c.warehouse, t.stock.c.on_hand).where(t.stock.c.sku_id == sku_id)
        )
        return {str(row[0]): int(row[1]) for row in rows}

    @override
    def positions(self, sku_ids: Iterable[int]) -> dict[int, StockPosition]:
        ids = list(sku_ids)
        on_hand: dict[int, int] = {}
        reserved: dict[int, int] = {}
        safety: dict[int, int] = {}
        for chunk in _chunks(ids):
            for sku_id, total in self._c.execute(
                select(t.stock.c.sku_id, func.sum(t.stock.c.on_hand))
                .where(t.stock.c.sku_id.in_(chunk))
                .group_by(t.stock.c.sku_id)
            ):
                on_hand[sku_id] = int(total)
            for sku_id, total in self._c.execute(
                select(t.reservations.c.sku_id, func.sum(t.reservations.c.quantity))
                .where(t.reservations.c.sku_id.in_(chunk))
                .group_by(t.reservations.c.sku_id)
            ):
                reserved[sku_id] = int(total)
            for sku_id, value in self._c.execute(
                select(t.skus.c.id, t.skus.c.safety_stock).where(t.skus.c.id.in_(chunk))
            ):
                safety[sku_id] = int(value)
        return {
            sku_id: StockPosition(
                sku_id=sku_id,
                on_hand=on_hand.get(sku_id, 0),
                reserved=reserved.get(sku_id, 0),
                safety_stock=safety[sku_id],
            )
            for sku_id in ids
            if sku_id in safety
        }

    @override
    def recent_sales(self, sku_ids: Iterable[int], since: datetime) -> dict[tuple[int, str], int]:
        sales: dict[tuple[int, str], int] = {}
        e = t.ledger_events.c
        for chunk in _chunks(list(sku_ids)):
            for sku_id, channel, total in self._c.execute(
                select(e.sku_id, e.channel, func.sum(e.reserved_delta))
                .where(
                    e.sku_id.in_(chunk),
                    e.at >= since,
                    e.reserved_delta > 0,
                    e.channel.is_not(None),
                )
                .group_by(e.sku_id, e.channel)
            ):
                sales[(sku_id, channel)] = int(total)
        return sales

    @override
    def ledger(self, sku_id: int | None = None) -> list[LedgerEvent]:
        query = select(t.ledger_events).order_by(t.ledger_events.c.id)
        if sku_id is not None:
            query = query.where(t.ledger_events.c.sku_id == sku_id)
        return [
            LedgerEvent(
                idempotency_key=r.idempotency_key,
                kind=r.kind,
                sku_id=r.sku_id,
                on_hand_delta=r.on_hand_delta,
                reserved_delta=r.reserved_delta,
                warehouse=r.warehouse,
                channel=r.channel,
                order_id=r.order_id,
                note=r.note,
            )
            for r in self._c.execute(query)
        ]

    @override
    def changed_skus(self, limit: int | None = None) -> list[int]:
        query = select(t.skus.c.id).where(t.skus.c.dirty.is_(True)).order_by(t.skus.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [int(i) for i in self._c.execute(query).scalars()]

    @override
    def clear_changed(self, sku_ids: Iterable[int]) -> None:
        for chunk in _chunks(list(sku_ids)):
            self._c.execute(update(t.skus).where(t.skus.c.id.in_(chunk)).values(dirty=False))

    @override
    def mark_changed(self, sku_ids: Iterable[int]) -> None:
        for chunk in _chunks(list(sku_ids)):
            self._c.execute(update(t.skus).where(t.skus.c.id.in_(chunk)).values(dirty=True))

    @override
    def mark_all_changed(self) -> None:
        self._c.execute(update(t.skus).values(dirty=True))

    # -- bindings ------------------------------------------------------------------------

    @override
    def upsert_binding(
        self,
        *,
        channel: str,
        item_id: str,
        listing_sku_id: str | None,
        sku_id: int | None,
        merchant_code: str | None,
        manual: bool,
        title: str | None,
        channel_quantity: int | None,
        now: datetime,
    ) -> int:
        b = t.bindings.c
        where = (
            (b.channel == channel)
            & (b.item_id == item_id)
            & (b.listing_sku_id == _listing_key(listing_sku_id))
        )
        row = self._c.execute(select(b.id, b.manual, b.sku_id).where(where)).first()
        observed = {"title": title, "channel_quantity": channel_quantity, "seen_at": now}
        if row is None:
            result = self._c.execute(
                insert(t.bindings).values(
                    channel=channel,
                    item_id=item_id,
                    listing_sku_id=_listing_key(listing_sku_id),
                    sku_id=sku_id,
                    merchant_code=merchant_code,
                    manual=manual,
                    **observed,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        values: dict[str, Any] = dict(observed)
        if manual or not row.manual:
            values.update(sku_id=sku_id, merchant_code=merchant_code, manual=manual)
            if row.sku_id != sku_id:
                # A listing bound to another SKU starts from nothing planned or sent.
                values.update(
                    planned_quantity=None, sent_quantity=None, planned_price=None, sent_price=None
                )
        if title is None:
            del values["title"]
        if channel_quantity is None:
            del values["channel_quantity"]
        self._c.execute(update(t.bindings).where(where).values(**values))
        return int(row.id)

    _binding = staticmethod(binding_record)

    @override
    def bindings(
        self, *, channel: str | None = None, sku_ids: Iterable[int] | None = None
    ) -> list[BindingRecord]:
        b = t.bindings.c
        query = select(t.bindings).order_by(b.channel, b.item_id, b.listing_sku_id)
        if channel is not None:
            query = query.where(b.channel == channel)
        if sku_ids is None:
            return [self._binding(r) for r in self._c.execute(query)]
        found: list[BindingRecord] = []
        for chunk in _chunks(list(sku_ids)):
            found += [self._binding(r) for r in self._c.execute(query.where(b.sku_id.in_(chunk)))]
        return found

    @override
    def binding_for_listing(
        self, channel: str, item_id: str, listing_sku_id: str | None
    ) -> BindingRecord | None:
        b = t.bindings.c
        row = self._c.execute(
            select(t.bindings).where(
                b.channel == channel,
                b.item_id == item_id,
                b.listing_sku_id == _listing_key(listing_sku_id),
            )
        ).first()
        return None if row is None else self._binding(row)

    @override
    def set_planned(
        self, binding_id: int, *, quantity: int | None = None, price: str | None = None
    ) -> None:
        values: dict[str, Any] = {}
        if quantity is not None:
            values["planned_quantity"] = quantity
        if price is not None:
            values["planned_price"] = price
        if values:
            self._c.execute(update(t.bindings).where(t.bindings.c.id == binding_id).values(values))

    @override
    def set_sent(
        self,
        binding_id: int,
        *,
        quantity: int | None = None,
        price: str | None = None,
        now: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if quantity is not None:
            values["sent_quantity"] = quantity
            if now is not None:
                # Once accepted, the quantity is what the channel shows.
                values.update(sent_at=now, channel_quantity=quantity, seen_at=now)
        if price is not None:
            values["sent_price"] = price
        if values:
            self._c.execute(update(t.bindings).where(t.bindings.c.id == binding_id).values(values))

    @override
    def set_observed(self, binding_id: int, quantity: int, now: datetime) -> None:
        self._c.execute(
            update(t.bindings)
            .where(t.bindings.c.id == binding_id)
            .values(channel_quantity=quantity, seen_at=now)
        )

    @override
    def set_hold(self, binding_id: int, since: datetime | None, shown: int | None) -> None:
        self._c.execute(
            update(t.bindings)
            .where(t.bindings.c.id == binding_id)
            .values(held_since=since, held_shown=None if since is None else shown)
        )

    @override
    def units_ordered_since(self, channel: str, sku_id: int, since: datetime) -> int:
        e, o = t.ledger_events.c, t.orders.c
        rows = self._c.execute(
            select(e.order_id, e.reserved_delta, e.on_hand_delta)
            .join(t.orders, (o.channel == e.channel) & (o.order_id == e.order_id))
            .where(
                e.channel == channel,
                e.sku_id == sku_id,
                e.kind.in_(("order_reserved", "order_shipped")),
                o.created_at >= since,
            )
        )
        # An order reserves, then consumes when it ships: count its units once.
        units: dict[str, int] = {}
        for order_id, reserved, on_hand in rows:
            units[order_id] = max(units.get(order_id, 0), reserved, -on_hand)
        return sum(units.values())

    # -- cursors -------------------------------------------------------------------------

    @override
    def cursor(self, channel: str, kind: str) -> tuple[datetime, str | None] | None:
        c = t.cursors.c
        row = self._c.execute(
            select(c.since, c.token).where(c.channel == channel, c.kind == kind)
        ).first()
        return None if row is None else (row.since, row.token)

    @override
    def set_cursor(self, channel: str, kind: str, since: datetime, token: str | None) -> None:
        c = t.cursors.c
        where = (c.channel == channel) & (c.kind == kind)
        if self._c.execute(select(c.channel).where(where)).first() is None:
            self._c.execute(
                insert(t.cursors).values(channel=channel, kind=kind, since=since, token=token)
            )
        else:
            self._c.execute(update(t.cursors).where(where).values(since=since, token=token))

    # -- outbox --------------------------------------------------------------------------

    @override
    def enqueue(
        self,
        *,
        channel: str,
        kind: str,
        key: str,
        payload: Mapping[str, Any],
        urgency: int,
        now: datetime,
    ) -> int:
        o = t.outbox.c
        where = (o.channel == channel) & (o.kind == kind) & (o.key == key)
        row = self._c.execute(select(o.id, o.version).where(where)).first()
        values = {
            "payload": dict(payload),
            "urgency": urgency,
            "state": OutboxState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "reason": None,
            "updated_at": now,
        }
        if row is None:
            self._c.execute(
                insert(t.outbox).values(channel=channel, kind=kind, key=key, version=1, **values)
            )
            return 1
        version = int(row.version) + 1
        self._c.execute(update(t.outbox).where(where).values(version=version, **values))
        return version

    @staticmethod
    def _item(row: Row[Any]) -> OutboxItem:
        return OutboxItem(
            id=row.id,
            channel=row.channel,
            kind=row.kind,
            key=row.key,
            payload=dict(row.payload),
            version=row.version,
            urgency=row.urgency,
            state=OutboxState(row.state),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            reason=row.reason,
        )

    @override
    def due(self, channel: str, kind: str, now: datetime, limit: int) -> list[OutboxItem]:
        o = t.outbox.c
        query = (
            select(t.outbox)
            .where(
                o.state == OutboxState.PENDING.value,
                o.channel == channel,
                o.kind == kind,
                o.next_attempt_at <= now,
            )
            .order_by(o.urgency, o.next_attempt_at, o.id)
            .limit(limit)
        )
        return [self._item(r) for r in self._c.execute(query)]

    @override
    def outbox(
        self, *, channel: str | None = None, state: OutboxState | None = None
    ) -> list[OutboxItem]:
        o = t.outbox.c
        query = select(t.outbox).order_by(o.channel, o.urgency, o.id)
        if channel is not None:
            query = query.where(o.channel == channel)
        if state is not None:
            query = query.where(o.state == state.value)
        return [self._item(r) for r in self._c.execute(query)]

    @override
    def settle(
        self,
        item_id: int,
        version: int,
        state: OutboxState,
        *,
        now: datetime,
        reason: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        o = t.outbox.c
        result = self._c.execute(
            update(t.outbox)
            .where(o.id == item_id, o.version == version)
            .values(
                state=state.value,
                reason=reason,
                attempts=o.attempts + (0 if state is OutboxState.SENT else 1),
                next_attempt_at=next_attempt_at or now,
                updated_at=now,
            )
        )
        return bool(result.rowcount)

    @override
    def defer(
        self, item_id: int, version: int, *, until: datetime, reason: str, now: datetime
    ) -> bool:
        o = t.outbox.c
        result = self._c.execute(
            update(t.outbox)
            .where(o.id == item_id, o.version == version)
            .values(reason=reason, next_attempt_at=until, updated_at=now)
        )
        return bool(result.rowcount)

    @override
    def requeue_parked(self, now: datetime, channel: str | None = None) -> int:
        o = t.outbox.c
        query = (
            update(t.outbox)
            .where(o.state == OutboxState.PARKED.value)
            .values(
                state=OutboxState.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                version=o.version + 1,
                updated_at=now,
            )
        )
        if channel is not None:
            query = query.where(o.channel == channel)
        return int(self._c.execute(query).rowcount)

    # -- orders --------------------------------------------------------------------------

    _order = staticmethod(stored_order)

    @override
    def order(self, channel: str, order_id: str) -> StoredOrder | None:
        o = t.orders.c
        row = self._c.execute(
            select(t.orders).where(o.channel == channel, o.order_id == order_id)
        ).first()
        return None if row is None else self._order(row)

    @override
    def save_order(self, order: StoredOrder) -> None:
        o = t.orders.c
        values = {
            "status": order.status,
            "version": order.version,
            "updated_at": order.updated_at,
            "created_at": order.created_at,
            "on_hold": order.on_hold,
            "raw": dict(order.raw),
            "imported_at": order.imported_at,
        }
        where = (o.channel == order.channel) & (o.order_id == order.order_id)
        if self._c.execute(select(o.order_id).where(where)).first() is None:
            self._c.execute(
                insert(t.orders).values(channel=order.channel, order_id=order.order_id, **values)
            )
        else:
            self._c.execute(update(t.orders).where(where).values(**values))

    @override
    def orders(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[StoredOrder]:
        o = t.orders.c
        query = select(t.orders).order_by(o.updated_at.desc(), o.channel, o.order_id)
        if channel is not None:
            query = query.where(o.channel == channel)
        if status is not None:
            query = query.where(o.status == status)
        if since is not None:
            query = query.where(o.updated_at >= since)
        return [self._order(r) for r in self._c.execute(query)]

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
        return [(r.channel, r.order_id, r.version, r.previous_status) for r in rows]

    @override
    def mark_notified(self, channel: str, order_id: str, version: str) -> None:
        n = t.notifications.c
        self._c.execute(
            update(t.notifications)
            .where(n.channel == channel, n.order_id == order_id, n.version == version)
            .values(delivered=True)
        )

    # -- shipments -----------------------------------------------------------------------

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

    # -- audit and parked records --------------------------------------------------------

    @override
    def audit(
        self,
        *,
        channel: str,
        kind: str,
        key: str,
        sent: Mapping[str, Any],
        ok: bool,
        answer: str | None,
        now: datetime,
    ) -> None:
        self._c.execute(
            insert(t.audit).values(
                at=now, channel=channel, kind=kind, key=key, sent=dict(sent), ok=ok, answer=answer
            )
        )

    @override
    def audit_trail(
        self,
        *,
        channel: str | None = None,
        key: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        a = t.audit.c
        query = select(t.audit).order_by(a.id)
        if channel is not None:
            query = query.where(a.channel == channel)
        if key is not None:
            query = query.where(a.key == key)
        if kind is not None:
            query = query.where(a.kind == kind)
        if since is not None:
            query = query.where(a.at >= since)
        return [
            AuditEntry(
                at=r.at,
                channel=r.channel,
                kind=r.kind,
                key=r.key,
                sent=dict(r.sent),
                ok=bool(r.ok),
                answer=r.answer,
            )
            for r in self._c.execute(query)
        ]

    @override
    def park(self, record: ParkedRecord, now: datetime) -> None:
        p = t.parked.c
        where = (p.channel == record.channel) & (p.kind == record.kind) & (p.key == record.key)
        self._c.execute(delete(t.parked).where(where))
        self._c.execute(
            insert(t.parked).values(
                channel=record.channel,
                kind=record.kind,
                key=record.key,
                reason=record.reason,
                payload=dict(record.payload),
                at=now,
            )
        )

    @override
    def unpark(self, channel: str, kind: str, key: str) -> None:
        p = t.parked.c
        self._c.execute(delete(t.parked).where(p.channel == channel, p.kind == kind, p.key == key))

    @override
    def parked(self, *, channel: str | None = None) -> list[ParkedRecord]:
        p = t.parked.c
        query = select(t.parked).order_by(p.id)
        if channel is not None:
            query = query.where(p.channel == channel)
        return [
            ParkedRecord(
                channel=r.channel,
                kind=r.kind,
                key=r.key,
                reason=r.reason,
                payload=dict(r.payload),
                at=r.at,
            )
            for r in self._c.execute(query)
        ]

    @override
    def count_orders_created(self, channel: str, start: datetime, end: datetime) -> int:
        o = t.orders.c
        query = select(func.count()).where(
            o.channel == channel, o.created_at >= start, o.created_at < end
        )
        return int(self._c.execute(query).scalar_one())


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    # SQLite limits bound parameters per statement; large IN lists are split.
    for start in range(0, len(values), size):
        yield values[start : start + size]
