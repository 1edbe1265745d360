"""The set-based store operations on SQLAlchemy Core: a few statements per batch.

A first sync cycle of a large catalogue touches every SKU, binding and outbox entry;
done one statement per row, the statements themselves are the cost. Here reads are
keyed ``IN`` lists (split to stay under SQLite's bound-parameter limit) and writes are
``executemany`` batches or multi-row ``INSERT ... ON CONFLICT`` upserts. The upsert is
built with the dialect's own insert construct (:func:`upsert_insert`), which SQLite
and PostgreSQL share, so no SQL text is written by hand.

Every method runs in the caller's transaction: a failing row raises and the
transaction rolls the whole batch back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from channelsync.errors import ConfigurationError
from channelsync.store import schema as t
from channelsync.store.base import (
    AuditEntry,
    BindingRecord,
    LedgerEvent,
    ListingBinding,
    OutboxEntry,
    OutboxState,
    Settlement,
    SkuData,
    StoredOrder,
)

__all__ = ["SqlBulkOperations", "binding_record", "chunks", "stored_order", "upsert_insert"]

#: Rows per ``IN`` list: SQLite allows 32,766 bound parameters, older builds 999.
CHUNK = 500


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Split ``values`` into slices of at most ``size`` (for ``IN`` lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def upsert_insert(connection: Connection, table: Table) -> Any:
    """Return the dialect's INSERT for ``table``, which offers ``on_conflict_do_*``."""
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise ConfigurationError(
        f"the state store supports SQLite and PostgreSQL, not {name!r}", field="store.url"
    )


def binding_record(row: Row[Any]) -> BindingRecord:
    """Return the binding a ``bindings`` row holds."""
    return BindingRecord(
        id=row.id,
        channel=row.channel,
        item_id=row.item_id,
        listing_sku_id=row.listing_sku_id or None,
        sku_id=row.sku_id,
        merchant_code=row.merchant_code,
        manual=bool(row.manual),
        title=row.title,
        channel_quantity=row.channel_quantity,
        planned_quantity=row.planned_quantity,
        sent_quantity=row.sent_quantity,
        planned_price=row.planned_price,
        sent_price=row.sent_price,
        seen_at=row.seen_at,
        sent_at=row.sent_at,
        held_since=row.held_since,
        held_shown=row.held_shown,
    )


def stored_order(row: Row[Any]) -> StoredOrder:
    """Return the imported order an ``orders`` row holds."""
    return StoredOrder(
        channel=row.channel,
        order_id=row.order_id,
        status=row.status,
        version=row.version,
        updated_at=row.updated_at,
        created_at=row.created_at,
        on_hold=bool(row.on_hold),
        raw=dict(row.raw),
        imported_at=row.imported_at,
    )


def _update_by_id(table: Table, columns: Iterable[str]) -> Any:
    # One UPDATE compiled once and run with executemany: ``_id`` names the row.
    return (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({name: bindparam(name) for name in columns})
    )


def _binding_changes(
    before: BindingRecord | None, listing: ListingBinding, now: datetime
) -> dict[str, Any]:
    """Return the columns an upsert of ``listing`` changes on its binding ``before``."""
    values: dict[str, Any] = {"seen_at": now}
    if listing.title is not None:
        values["title"] = listing.title
    if listing.channel_quantity is not None:
        values["channel_quantity"] = listing.channel_quantity
    if before is None or listing.manual or not before.manual:
        values.update(sku_id=listing.sku_id, merchant_code=listing.merchant_code)
        values["manual"] = listing.manual
        if before is not None and before.sku_id != listing.sku_id:
            # A listing bound to another SKU starts from nothing planned or sent.
            values.update(
                planned_quantity=None, sent_quantity=None, planned_price=None, sent_price=None
            )
    return values


class SqlBulkOperations:
    """The set-based half of :class:`~channelsync.store.sql.SqlSession`."""

    _c: Connection

    # -- catalogue -----------------------------------------------------------------------

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
            set_={name: statement.excluded[name] for name in rows[0] if name not in kept},
        )
        self._c.execute(statement, rows)
        codes = list(latest)
        found: dict[str, int] = {}
        for chunk in chunks(codes):
            query = select(t.skus.c.merchant_code, t.skus.c.id).where(
                t.skus.c.merchant_code.in_(chunk)
            )
            found.update({str(code): int(sku_id) for code, sku_id in self._c.execute(query)})
        return found

    # -- stock ---------------------------------------------------------------------------

    def on_hand_many(self, sku_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """Return on-hand stock per warehouse of each SKU that has any."""
        found: dict[int, dict[str, int]] = defaultdict(dict)
        s = t.stock.c
        for chunk in chunks(list(dict.fromkeys(sku_ids))):
            query = select(s.sku_id, s.warehouse, s.on_hand).where(s.sku_id.in_(chunk))
            for sku_id, warehouse, on_hand in self._c.execute(query):
                found[int(sku_id)][str(warehouse)] = int(on_hand)
        return dict(found)

    def applied_events(self, idempotency_keys: Iterable[str]) -> set[str]:
        """Return which of these event keys have been applied."""
        e = t.ledger_events.c
        found: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(idempotency_keys))):
            query = select(e.idempotency_key).where(e.idempotency_key.in_(chunk))
            found.update(str(key) for key in self._c.execute(query).scalars())
        return found

    def reservations(self, channel: str, order_ids: Iterable[str]) -> dict[tuple[str, int], int]:
        """Return units still reserved per ``(order_id, sku_id)`` for these orders."""
        r = t.reservations.c
        found: dict[tuple[str, int], int] = {}
        for chunk in chunks(list(dict.fromkeys(order_ids))):
            query = select(r.order_id, r.sku_id, r.quantity).where(
                r.channel == channel, r.order_id.in_(chunk)
            )
            for order_id, sku_id, quantity in self._c.execute(query):
                found[(str(order_id), int(sku_id))] = int(quantity)
        return found

    def apply_events(self, events: Sequence[LedgerEvent], now: datetime) -> list[bool]:
        """Record and apply ``events`` in order; return, per event, whether it was new."""
        if not events:
            return []
        seen = self.applied_events(e.idempotency_key for e in events)
        fresh: list[LedgerEvent] = []
        applied: list[bool] = []
        for event in events:
            new = event.idempotency_key not in seen
            seen.add(event.idempotency_key)
            applied.append(new)
            if new:
                fresh.append(event)
        if not fresh:
            return applied
        reserved = self._reservation_totals(fresh, now)
        self._c.execute(
            insert(t.ledger_events),
            [
                {
                    "idempotency_key": e.idempotency_key,
                    "kind": e.kind,
                    "sku_id": e.sku_id,
                    "warehouse": e.warehouse,
                    "on_hand_delta": e.on_hand_delta,
                    "reserved_delta": e.reserved_delta,
                    "channel": e.channel,
                    "order_id": e.order_id,
                    "note": e.note,
                    "at": now,
                }
                for e in fresh
            ],
        )
        on_hand: dict[tuple[int, str], int] = defaultdict(int)
        for event in fresh:
            if event.on_hand_delta:
                on_hand[(event.sku_id, event.warehouse)] += event.on_hand_delta
        if on_hand:
            statement = upsert_insert(self._c, t.stock)
            statement = statement.on_conflict_do_update(
                index_elements=[t.stock.c.sku_id, t.stock.c.warehouse],
                set_={"on_hand": t.stock.c.on_hand + statement.excluded.on_hand},
            )
            self._c.execute(
                statement,
                [{"sku_id": s, "warehouse": w, "on_hand": d} for (s, w), d in on_hand.items()],
            )
        self._write_reservations(reserved, now)
        self._mark_dirty({e.sku_id for e in fresh})
        return applied

    def _reservation_totals(
        self, events: Sequence[LedgerEvent], now: datetime
    ) -> dict[tuple[str, str, int], tuple[int | None, int]]:
        """Return ``(before, after)`` units per reservation; raise before anything is written."""
        moving = [e for e in events if e.reserved_delta]
        for event in moving:
            if event.channel is None or event.order_id is None:
                raise ValueError(
                    f"event {event.idempotency_key!r} reserves without channel and order"
                )
        current: dict[tuple[str, str, int], int] = {}
        by_channel: dict[str, set[str]] = defaultdict(set)
        for event in moving:
            assert event.channel is not None
            assert event.order_id is not None
            by_channel[event.channel].add(event.order_id)
        for channel, order_ids in by_channel.items():
            for (order_id, sku_id), quantity in self.reservations(channel, order_ids).items():
                current[(channel, order_id, sku_id)] = quantity
        totals: dict[tuple[str, str, int], tuple[int | None, int]] = {}
        for event in moving:
            assert event.channel is not None
            assert event.order_id is not None
            key = (event.channel, event.order_id, event.sku_id)
            before, running = totals.get(key, (current.get(key), current.get(key, 0)))
            running += event.reserved_delta
            if running < 0:
                raise ValueError(
                    f"event {event.idempotency_key!r} releases more than order "
                    f"{event.order_id!r} reserved ({running - event.reserved_delta})"
                )
            totals[key] = (before, running)
        return totals

    def _write_reservations(
        self, totals: Mapping[tuple[str, str, int], tuple[int | None, int]], now: datetime
    ) -> None:
        created = [
            {"channel": c, "order_id": o, "sku_id": s, "quantity": after, "at": now}
            for (c, o, s), (before, after) in totals.items()
            if before is None and after
        ]
        changed = [
            {"_channel": c, "_order": o, "_sku": s, "quantity": after}
            for (c, o, s), (before, after) in totals.items()
            if before is not None and after and after != before
        ]
        emptied = [
            {"_channel": c, "_order": o, "_sku": s}
            for (c, o, s), (before, after) in totals.items()
            if before is not None and not after
        ]
        r = t.reservations.c
        where = (
            (r.channel == bindparam("_channel"))
            & (r.order_id == bindparam("_order"))
            & (r.sku_id == bindparam("_sku"))
        )
        if created:
            self._c.execute(insert(t.reservations), created)
        if changed:
            statement = update(t.reservations).where(where).values(quantity=bindparam("quantity"))
            self._c.execute(statement, changed)
        if emptied:
            self._c.execute(delete(t.reservations).where(where), emptied)

    def _mark_dirty(self, sku_ids: Iterable[int]) -> None:
        for chunk in chunks(sorted(set(sku_ids))):
            self._c.execute(update(t.skus).where(t.skus.c.id.in_(chunk)).values(dirty=True))

    # -- bindings ------------------------------------------------------------------------

    def has_bindings(self, channel: str) -> bool:
        """Return whether any listing of ``channel`` has a binding (bound or not) yet."""
        query = select(t.bindings.c.id).where(t.bindings.c.channel == channel).limit(1)
        return self._c.execute(query).first() is not None

    def bindings_for_listings(
        self, channel: str, listings: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], BindingRecord]:
        """Return the bindings of ``(item_id, listing_sku_id)`` listings of one channel."""
        wanted = {(item_id, sku_id or "") for item_id, sku_id in listings}
        b = t.bindings.c
        found: dict[tuple[str, str], BindingRecord] = {}
        for chunk in chunks(sorted({item_id for item_id, _ in wanted})):
            query = select(t.bindings).where(b.channel == channel, b.item_id.in_(chunk))
            for row in self._c.execute(query):
                key = (str(row.item_id), str(row.listing_sku_id))
                if key in wanted:
                    found[key] = binding_record(row)
        return found

    def upsert_bindings(self, listings: Sequence[ListingBinding], now: datetime) -> set[int]:
        """Create or update the bindings of many listings; return the newly bound SKU ids."""
        latest: dict[tuple[str, str, str], ListingBinding] = {}
        for listing in listings:
            latest[(listing.channel, listing.item_id, listing.listing_sku_id or "")] = listing
        existing: dict[tuple[str, str, str], BindingRecord] = {}
        by_channel: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for channel, item_id, sku_id in latest:
            by_channel[channel].append((item_id, sku_id))
        for channel, keys in by_channel.items():
            for (item_id, sku_id), record in self.bindings_for_listings(channel, keys).items():
                existing[(channel, item_id, sku_id)] = record
        created: list[dict[str, Any]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        bound: set[int] = set()
        for key, listing in latest.items():
            before = existing.get(key)
            if before is None:
                created.append(
                    {
                        "channel": listing.channel,
                        "item_id": listing.item_id,
                        "listing_sku_id": key[2],
                        "sku_id": listing.sku_id,
                        "merchant_code": listing.merchant_code,
                        "manual": listing.manual,
                        "title": listing.title,
                        "channel_quantity": listing.channel_quantity,
                        "seen_at": now,
                    }
                )
            values = _binding_changes(before, listing, now)
            if before is not None:
                updates[tuple(sorted(values))].append({"_id": before.id, **values})
            rebound = "sku_id" in values and (before is None or before.sku_id != listing.sku_id)
            if rebound and listing.sku_id is not None:
                bound.add(listing.sku_id)
        if created:
            self._c.execute(insert(t.bindings), created)
        for columns, rows in updates.items():
            self._c.execute(_update_by_id(t.bindings, columns), rows)
        return bound

    def set_planned_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
    ) -> None:
        """Remember the values last queued, per binding id."""
        if quantities:
            self._c.execute(
                _update_by_id(t.bindings, ["planned_quantity"]),
                [{"_id": i, "planned_quantity": q} for i, q in quantities.items()],
            )
        if prices:
            self._c.execute(
                _update_by_id(t.bindings, ["planned_price"]),
                [{"_id": i, "planned_price": p} for i, p in prices.items()],
            )

    def set_sent_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
        now: datetime,
    ) -> None:
        """Remember the values the channels last accepted, per binding id."""
        if quantities:
            # Once accepted, the quantity is what the channel shows.
            columns = ["sent_quantity", "sent_at", "channel_quantity", "seen_at"]
            self._c.execute(
                _update_by_id(t.bindings, columns),
                [
                    {
                        "_id": i,
                        "sent_quantity": q,
                        "sent_at": now,
                        "channel_quantity": q,
                        "seen_at": now,
                    }
                    for i, q in quantities.items()
                ],
            )
        if prices:
            self._c.execute(
                _update_by_id(t.bindings, ["sent_price"]),
                [{"_id": i, "sent_price": p} for i, p in prices.items()],
            )

    # -- outbox --------------------------------------------------------------------------

    def enqueue_many(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """Queue the latest value of each entry (coalescing repeats of one target)."""
        latest: dict[tuple[str, str, str], OutboxEntry] = {}
        for entry in entries:
            latest[(entry.channel, entry.kind, entry.key)] = entry
        if not latest:
            return
        statement = upsert_insert(self._c, t.outbox)
        o = t.outbox.c
        replaced = ("payload", "urgency", "state", "attempts", "next_attempt_at", "reason")
        statement = statement.on_conflict_do_update(
            index_elements=[o.channel, o.kind, o.key],
            set_={
                **{name: statement.excluded[name] for name in replaced},
                "updated_at": statement.excluded.updated_at,
                # Each enqueue bumps the version, so an older answer never settles it.
                "version": o.version + 1,
            },
        )
        self._c.execute(
            statement,
            [
                {
                    "channel": e.channel,
                    "kind": e.kind,
                    "key": e.key,
                    "payload": dict(e.payload),
                    "version": 1,
                    "urgency": e.urgency,
                    "state": OutboxState.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "reason": None,
                    "updated_at": now,
                }
                for e in latest.values()
            ],
        )

    def settle_many(self, outcomes: Sequence[Settlement], now: datetime) -> list[bool]:
        """Record many outcomes; return, per outcome, whether its version was current."""
        o = t.outbox.c
        current: dict[int, int] = {}
        for chunk in chunks(sorted({s.item_id for s in outcomes})):
            query = select(o.id, o.version).where(o.id.in_(chunk)).with_for_update()
            current.update({int(i): int(v) for i, v in self._c.execute(query)})
        answers = [current.get(s.item_id) == s.version for s in outcomes]
        rows = [
            {
                "_id": s.item_id,
                "_version": s.version,
                "_attempt": 0 if s.state is OutboxState.SENT else 1,
                "state": s.state.value,
                "reason": s.reason,
                "next_attempt_at": s.next_attempt_at or now,
                "updated_at": now,
            }
            for s, current_version in zip(outcomes, answers, strict=True)
            if current_version
        ]
        if rows:
            statement = (
                update(t.outbox)
                .where(o.id == bindparam("_id"), o.version == bindparam("_version"))
                .values(
                    state=bindparam("state"),
                    reason=bindparam("reason"),
                    attempts=o.attempts + bindparam("_attempt"),
                    next_attempt_at=bindparam("next_attempt_at"),
                    updated_at=bindparam("updated_at"),
                )
            )
            self._c.execute(statement, rows)
        return answers

    def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Record many sends and answers (each at its own ``at``)."""
        if entries:
            self._c.execute(
                insert(t.audit),
                [
                    {
                        "at": e.at,
                        "channel": e.channel,
                        "kind": e.kind,
                        "key": e.key,
                        "sent": dict(e.sent),
                        "ok": e.ok,
                        "answer": e.answer,
                    }
                    for e in entries
                ],
            )

    # -- orders --------------------------------------------------------------------------

    def orders_by_id(self, channel: str, order_ids: Iterable[str]) -> dict[str, StoredOrder]:
        """Return the imported orders of ``channel`` with these ids."""
        o = t.orders.c
        found: dict[str, StoredOrder] = {}
        for chunk in chunks(list(dict.fromkeys(order_ids))):
            query = select(t.orders).where(o.channel == channel, o.order_id.in_(chunk))
            for row in self._c.execute(query):
                found[str(row.order_id)] = stored_order(row)
        return found

    def save_orders(self, orders: Sequence[StoredOrder]) -> None:
        """Insert or replace many imported orders."""
        latest = {(order.channel, order.order_id): order for order in orders}
        if not latest:
            return
        statement = upsert_insert(self._c, t.orders)
        replaced = ("status", "version", "updated_at", "created_at", "on_hold", "raw")
        statement = statement.on_conflict_do_update(
            index_elements=[t.orders.c.channel, t.orders.c.order_id],
            set_={
                **{name: statement.excluded[name] for name in replaced},
                "imported_at": statement.excluded.imported_at,
            },
        )
        self._c.execute(
            statement,
            [
                {
                    "channel": order.channel,
                    "order_id": order.order_id,
                    "status": order.status,
                    "version": order.version,
                    "updated_at": order.updated_at,
                    "created_at": order.created_at,
                    "on_hold": order.on_hold,
                    "raw": dict(order.raw),
                    "imported_at": order.imported_at,
                }
                for order in latest.values()
            ],
        )

    def mark_notified_many(self, notifications: Iterable[tuple[str, str, str]]) -> None:
        """Record that the ``(channel, order_id, version)`` announcements were delivered."""
        rows = [{"_channel": c, "_order": o, "_version": v} for c, o, v in notifications]
        if rows:
            n = t.notifications.c
            statement = (
                update(t.notifications)
                .where(
                    n.channel == bindparam("_channel"),
                    n.order_id == bindparam("_order"),
                    n.version == bindparam("_version"),
                )
                .values(delivered=True)
            )
            self._c.execute(statement, rows)

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
            for chunk in chunks(sorted(order_ids)):
                query = select(n.channel, n.order_id, n.version).where(
                    n.channel == channel, n.order_id.in_(chunk)
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
        if rows:
            self._c.execute(insert(t.notifications), rows)
        return len(rows)
