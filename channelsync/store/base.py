"""The state store's interface: what the engine may ask of durable state.

The engine talks only to :class:`Store` and :class:`StoreSession`; the SQLAlchemy
implementation (:mod:`channelsync.store.sql`) serves SQLite and PostgreSQL alike. Every
change the engine makes happens inside :meth:`Store.transaction`: all of it is
committed together or none of it is, which is what lets an outbox entry be written
in the same transaction as the state change that caused it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "AuditEntry",
    "BindingRecord",
    "LedgerEvent",
    "ListingBinding",
    "OutboxEntry",
    "OutboxItem",
    "OutboxState",
    "ParkedRecord",
    "Settlement",
    "ShipmentRecord",
    "SkuData",
    "SkuRecord",
    "StockPosition",
    "Store",
    "StoreSession",
    "StoredOrder",
]


class OutboxState(StrEnum):
    """Where an outbox entry stands."""

    PENDING = "pending"
    SENT = "sent"
    PARKED = "parked"


@dataclass(frozen=True, slots=True)
class SkuRecord:
    """A master SKU as stored (price and cost are decimal text in ``currency``)."""

    id: int
    merchant_code: str
    product_code: str | None
    title: str
    price: str
    currency: str
    cost: str | None
    barcode: str | None
    attributes: Mapping[str, str]
    safety_stock: int
    low_stock_alerted: bool


@dataclass(frozen=True, slots=True)
class StockPosition:
    """A SKU's stock: on hand across warehouses, reserved by open orders, safety stock."""

    sku_id: int
    on_hand: int
    reserved: int
    safety_stock: int

    @property
    def available(self) -> int:
        """On hand minus reserved minus safety stock (negative when oversold)."""
        return self.on_hand - self.reserved - self.safety_stock


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One stock event; ``idempotency_key`` makes applying it twice a no-op.

    ``on_hand_delta`` changes the warehouse's on-hand count; ``reserved_delta``
    changes the reservation held by ``(channel, order_id)`` for the SKU.
    """

    idempotency_key: str
    kind: str
    sku_id: int
    on_hand_delta: int = 0
    reserved_delta: int = 0
    warehouse: str = ""
    channel: str | None = None
    order_id: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class BindingRecord:
    """A channel listing and the master SKU it is bound to (``sku_id`` ``None``: unbound)."""

    id: int
    channel: str
    item_id: str
    listing_sku_id: str | None
    sku_id: int | None
    merchant_code: str | None
    manual: bool
    title: str | None
    channel_quantity: int | None
    planned_quantity: int | None
    sent_quantity: int | None
    planned_price: str | None
    sent_price: str | None
    seen_at: datetime | None = None
    """When ``channel_quantity`` was read from the channel."""
    sent_at: datetime | None = None
    """When the channel accepted ``sent_quantity``."""
    held_since: datetime | None = None
    """When an unexplained drop of the channel's quantity was first seen (raises wait)."""
    held_shown: int | None = None
    """What the channel showed when the drop was first seen."""


@dataclass(frozen=True, slots=True)
class ListingBinding:
    """What a bulk binding write knows of one listing (see :meth:`StoreSession.upsert_bindings`)."""

    channel: str
    item_id: str
    listing_sku_id: str | None
    sku_id: int | None
    merchant_code: str | None
    manual: bool = False
    title: str | None = None
    channel_quantity: int | None = None


@dataclass(frozen=True, slots=True)
class SkuData:
    """A SKU's catalogue data for a bulk write (see :meth:`StoreSession.upsert_skus`)."""

    merchant_code: str
    product_id: int | None
    title: str
    price: str
    currency: str
    cost: str | None = None
    barcode: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One value to queue in a bulk enqueue (see :meth:`StoreSession.enqueue_many`)."""

    channel: str
    kind: str
    key: str
    payload: Mapping[str, Any]
    urgency: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of sending one version of an outbox entry (see ``settle_many``)."""

    item_id: int
    version: int
    state: OutboxState
    reason: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One outgoing change: the latest value for ``(channel, kind, key)``."""

    id: int
    channel: str
    kind: str
    key: str
    payload: Mapping[str, Any]
    version: int
    urgency: int
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An imported order: its canonical status and the core model as JSON."""

    channel: str
    order_id: str
    status: str
    version: str
    updated_at: datetime
    created_at: datetime
    on_hold: bool
    raw: Mapping[str, Any]
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentRecord:
    """A shipment the merchant asked for, and how far its push got."""

    id: int
    key: str
    channel: str
    order_id: str
    carrier: str
    tracking_number: str
    payload: Mapping[str, Any]
    state: str
    marketplace_ref: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What was sent to a channel and what it answered."""

    at: datetime
    channel: str
    kind: str
    key: str
    sent: Mapping[str, Any]
    ok: bool
    answer: str | None


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    """An incoming record (an order) that could not be applied, kept with its reason."""

    channel: str
    kind: str
    key: str
    reason: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None


class StoreSession(ABC):
    """The operations available inside one transaction."""

    # -- catalogue -----------------------------------------------------------------------

    @abstractmethod
    def upsert_product(self, code: str, title: str, attributes: Mapping[str, str]) -> int:
        """Create or update a product by code; return its id."""

    @abstractmethod
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
        """Create or update a SKU by merchant code (and mark it changed); return its id."""

    @abstractmethod
    def skus(self, merchant_codes: Iterable[str] | None = None) -> list[SkuRecord]:
        """Return the SKUs with these merchant codes (all SKUs when ``None``), by code."""

    @abstractmethod
    def skus_by_id(self, sku_ids: Iterable[int]) -> dict[int, SkuRecord]:
        """Return the SKUs with these ids."""

    @abstractmethod
    def set_low_stock_alerted(self, sku_id: int, alerted: bool) -> None:
        """Remember whether the SKU's low-stock alert has fired for the current crossing."""

    # -- stock ---------------------------------------------------------------------------

    @abstractmethod
    def apply_event(self, event: LedgerEvent, now: datetime) -> bool:
        """Record and apply ``event``; return ``False`` (changing nothing) if already applied."""

    @abstractmethod
    def has_event(self, idempotency_key: str) -> bool:
        """Return whether the event with this key has been applied."""

    @abstractmethod
    def set_safety_stock(self, sku_id: int, quantity: int) -> None:
        """Set the units of a SKU held back from every channel (and mark it changed)."""

    @abstractmethod
    def reservation(self, channel: str, order_id: str, sku_id: int) -> int:
        """Return the units an order still holds reserved of a SKU."""

    @abstractmethod
    def on_hand(self, sku_id: int) -> dict[str, int]:
        """Return on-hand stock of a SKU per warehouse (``""`` is the default warehouse)."""

    @abstractmethod
    def positions(self, sku_ids: Iterable[int]) -> dict[int, StockPosition]:
        """Return the stock position of each SKU."""

    @abstractmethod
    def recent_sales(self, sku_ids: Iterable[int], since: datetime) -> dict[tuple[int, str], int]:
        """Return units reserved per ``(sku_id, channel)`` by orders since ``since``."""

    @abstractmethod
    def ledger(self, sku_id: int | None = None) -> list[LedgerEvent]:
        """Return the ledger events (of one SKU), oldest first."""

    @abstractmethod
    def changed_skus(self, limit: int | None = None) -> list[int]:
        """Return the ids of SKUs changed since their allocation was last computed."""

    @abstractmethod
    def clear_changed(self, sku_ids: Iterable[int]) -> None:
        """Mark these SKUs' allocations as computed."""

    @abstractmethod
    def mark_changed(self, sku_ids: Iterable[int]) -> None:
        """Mark these SKUs for recomputation (e.g. newly bound)."""

    @abstractmethod
    def mark_all_changed(self) -> None:
        """Mark every SKU for recomputation (after a settings change)."""

    # -- bindings ------------------------------------------------------------------------

    @abstractmethod
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
        """Create or update the binding of one listing; return the binding id.

        A manual binding is never replaced by an automatic one.
        """

    @abstractmethod
    def bindings(
        self, *, channel: str | None = None, sku_ids: Iterable[int] | None = None
    ) -> list[BindingRecord]:
        """Return the bindings (of a channel, of some SKUs)."""

    @abstractmethod
    def binding_for_listing(
        self, channel: str, item_id: str, listing_sku_id: str | None
    ) -> BindingRecord | None:
        """Return the binding of one listing."""

    @abstractmethod
    def set_planned(
        self, binding_id: int, *, quantity: int | None = None, price: str | None = None
    ) -> None:
        """Remember the value last queued for the listing (quantity and/or price)."""

    @abstractmethod
    def set_sent(
        self,
        binding_id: int,
        *,
        quantity: int | None = None,
        price: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Remember the value the channel last accepted (a quantity at ``now``)."""

    @abstractmethod
    def set_observed(self, binding_id: int, quantity: int, now: datetime) -> None:
        """Remember what the channel showed of the listing at ``now``."""

    @abstractmethod
    def set_hold(self, binding_id: int, since: datetime | None, shown: int | None) -> None:
        """Hold the listing's raises from ``since`` (it showed ``shown``); ``None`` lifts it."""

    @abstractmethod
    def units_ordered_since(self, channel: str, sku_id: int, since: datetime) -> int:
        """Return the units of a SKU in ``channel``'s imported orders created from ``since`` on."""

    # -- cursors -------------------------------------------------------------------------

    @abstractmethod
    def cursor(self, channel: str, kind: str) -> tuple[datetime, str | None] | None:
        """Return the stored ``(since, token)`` of an incremental pull, or ``None``."""

    @abstractmethod
    def set_cursor(self, channel: str, kind: str, since: datetime, token: str | None) -> None:
        """Store where the next incremental pull starts."""

    # -- outbox --------------------------------------------------------------------------

    @abstractmethod
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
        """Queue the latest value for ``(channel, kind, key)``, replacing a pending one.

        Returns the entry's new version: each enqueue bumps it, so an answer for an
        older version can never mark the newer value sent.
        """

    @abstractmethod
    def due(self, channel: str, kind: str, now: datetime, limit: int) -> list[OutboxItem]:
        """Return pending entries due by ``now``, most urgent first."""

    @abstractmethod
    def outbox(
        self, *, channel: str | None = None, state: OutboxState | None = None
    ) -> list[OutboxItem]:
        """Return outbox entries (of a channel, in a state)."""

    @abstractmethod
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
        """Record the outcome of sending version ``version`` of an entry.

        Returns ``False`` when the entry was replaced by a newer value meanwhile; the
        newer value stays pending.
        """

    @abstractmethod
    def defer(
        self, item_id: int, version: int, *, until: datetime, reason: str, now: datetime
    ) -> bool:
        """Keep an entry's version pending until ``until``, without counting an attempt."""

    @abstractmethod
    def requeue_parked(self, now: datetime, channel: str | None = None) -> int:
        """Put parked entries back in the queue; return how many."""

    # -- orders --------------------------------------------------------------------------

    @abstractmethod
    def order(self, channel: str, order_id: str) -> StoredOrder | None:
        """Return one imported order."""

    @abstractmethod
    def save_order(self, order: StoredOrder) -> None:
        """Insert or replace an imported order."""

    @abstractmethod
    def orders(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[StoredOrder]:
        """Return imported orders, newest change first."""

    @abstractmethod
    def add_notification(
        self, channel: str, order_id: str, version: str, previous_status: str | None
    ) -> bool:
        """Record that this order version must be announced; ``False`` if it already was."""

    @abstractmethod
    def pending_notifications(self) -> list[tuple[str, str, str, str | None]]:
        """Return ``(channel, order_id, version, previous_status)`` not yet delivered."""

    @abstractmethod
    def mark_notified(self, channel: str, order_id: str, version: str) -> None:
        """Record that the announcement was delivered."""

    # -- shipments -----------------------------------------------------------------------

    @abstractmethod
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
        """Record a shipment intent; ``False`` when one with ``key`` exists already."""

    @abstractmethod
    def shipment(self, key: str) -> ShipmentRecord | None:
        """Return one shipment by key."""

    @abstractmethod
    def shipments(self, *, channel: str | None = None) -> list[ShipmentRecord]:
        """Return the shipments (of a channel), oldest first."""

    @abstractmethod
    def set_shipment_state(
        self,
        key: str,
        state: str,
        now: datetime,
        *,
        marketplace_ref: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Move a shipment to ``state``."""

    # -- audit and parked records --------------------------------------------------------

    @abstractmethod
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
        """Record what was sent and what the channel answered."""

    @abstractmethod
    def audit_trail(
        self,
        *,
        channel: str | None = None,
        key: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        """Return audit entries, oldest first, optionally only one kind or from ``since`` on."""

    @abstractmethod
    def park(self, record: ParkedRecord, now: datetime) -> None:
        """Keep a record that could not be applied, with its reason (replacing an older one)."""

    @abstractmethod
    def unpark(self, channel: str, kind: str, key: str) -> None:
        """Forget a parked record (it was applied after all)."""

    @abstractmethod
    def parked(self, *, channel: str | None = None) -> list[ParkedRecord]:
        """Return parked records."""

    # -- set-based operations ------------------------------------------------------------
    # Each does in a few statements what the single-row methods above do row by row; a
    # failure raises and (with the caller's transaction) changes nothing of the batch.

    @abstractmethod
    def upsert_skus(self, skus: Sequence[SkuData], now: datetime) -> dict[str, int]:
        """Create or update SKUs by merchant code (marking them changed); return their ids."""

    @abstractmethod
    def on_hand_many(self, sku_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """Return on-hand stock per warehouse of each SKU that has any."""

    @abstractmethod
    def apply_events(self, events: Sequence[LedgerEvent], now: datetime) -> list[bool]:
        """Record and apply ``events`` in order; return, per event, whether it was new.

        An event whose key was applied before (or appears earlier in ``events``)
        changes nothing. Raises ``ValueError`` when a release would take a reservation
        below zero; the caller's transaction then rolls the whole batch back.
        """

    @abstractmethod
    def applied_events(self, idempotency_keys: Iterable[str]) -> set[str]:
        """Return which of these event keys have been applied."""

    @abstractmethod
    def reservations(self, channel: str, order_ids: Iterable[str]) -> dict[tuple[str, int], int]:
        """Return units still reserved per ``(order_id, sku_id)`` for these orders."""

    @abstractmethod
    def upsert_bindings(self, listings: Sequence[ListingBinding], now: datetime) -> set[int]:
        """Create or update the bindings of many listings; return the newly bound SKU ids.

        Follows :meth:`upsert_binding` row for row: a manual binding is never replaced
        by an automatic one, and a listing bound to another SKU starts from nothing
        planned or sent.
        """

    @abstractmethod
    def has_bindings(self, channel: str) -> bool:
        """Return whether any listing of ``channel`` has a binding (bound or not) yet."""

    @abstractmethod
    def bindings_for_listings(
        self, channel: str, listings: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], BindingRecord]:
        """Return the bindings of ``(item_id, listing_sku_id)`` listings of one channel.

        Keyed by ``(item_id, listing_sku_id or "")``.
        """

    @abstractmethod
    def set_planned_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
    ) -> None:
        """Remember the values last queued, per binding id."""

    @abstractmethod
    def set_sent_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
        now: datetime,
    ) -> None:
        """Remember the values the channels accepted, per binding id (quantities at ``now``)."""

    @abstractmethod
    def enqueue_many(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """Queue the latest value of each entry, as :meth:`enqueue` does for one.

        Several entries for the same ``(channel, kind, key)`` coalesce to the last.
        """

    @abstractmethod
    def settle_many(self, outcomes: Sequence[Settlement], now: datetime) -> list[bool]:
        """Record many outcomes, as :meth:`settle` does for one; return each one's answer."""

    @abstractmethod
    def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Record many sends and answers (each at its own ``at``)."""

    @abstractmethod
    def orders_by_id(self, channel: str, order_ids: Iterable[str]) -> dict[str, StoredOrder]:
        """Return the imported orders of ``channel`` with these ids."""

    @abstractmethod
    def save_orders(self, orders: Sequence[StoredOrder]) -> None:
        """Insert or replace many imported orders."""

    @abstractmethod
    def mark_notified_many(self, notifications: Iterable[tuple[str, str, str]]) -> None:
        """Record that the ``(channel, order_id, version)`` announcements were delivered."""

    @abstractmethod
    def add_notifications(self, notifications: Sequence[tuple[str, str, str, str | None]]) -> int:
        """Record ``(channel, order_id, version, previous_status)`` announcements.

        Those recorded before are left as they are; returns how many were new.
        """

    @abstractmethod
    def count_orders_created(self, channel: str, start: datetime, end: datetime) -> int:
        """Return how many of ``channel``'s imported orders were created in ``[start, end)``."""


class Store(ABC):
    """Durable state behind one small interface."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[StoreSession]:
        """Open a transaction; it commits when the block ends and rolls back on an error."""

    @abstractmethod
    def preview(self) -> AbstractContextManager[StoreSession]:
        """Open a transaction that is always rolled back (to show what a change would do)."""

    @abstractmethod
    def close(self) -> None:
        """Release the database connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
