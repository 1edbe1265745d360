"""The stock ledger: every change to stock is an event with an idempotency key.

Kinds: an order reserved stock, an order was cancelled (its reservation released),
an order shipped (on hand consumed, reservation released), a return was restocked, a
manual adjustment, a catalogue import, a marketplace's stock read into the warehouse
it holds (:mod:`channelsync.engine.marketplace_stock`). Applying the same event twice
changes nothing, so every caller can retry freely. Available = on hand - reserved -
safety stock.

An order's reservation of a SKU is held in one warehouse, named by the event that
reserves it; shipping takes the units from there and a release releases them there.
A kit (or multipack) has no stock of its own: selling one moves its components
(:func:`stock_units`).

The event builders here are pure; they are applied with
:meth:`~channelsync.store.StoreSession.apply_event` inside the caller's transaction,
so a stock change and the outbox entries it causes commit together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from channelsync.config import ChannelSyncSettings
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.sourcing import marketplace_sells, order_sources, reservation_warehouse
from channelsync.models import OrderStatus
from channelsync.store import (
    KitComponent,
    LedgerEvent,
    StockPosition,
    Store,
    StoreSession,
    WarehouseStock,
)

__all__ = [
    "EventKind",
    "OrderStock",
    "adjust_stock",
    "count_event",
    "order_event_kind",
    "release_event",
    "reserve_event",
    "restock_event",
    "set_safety_stock",
    "ship_event",
    "ship_events",
    "stock_position",
    "stock_units",
]


class EventKind(StrEnum):
    """What caused a stock event."""

    ORDER_RESERVED = "order_reserved"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_SHIPPED = "order_shipped"
    RETURN_RESTOCKED = "return_restocked"
    MANUAL_ADJUSTMENT = "manual_adjustment"
    CATALOGUE_IMPORT = "catalogue_import"
    MARKETPLACE_STOCK = "marketplace_stock"
    """On hand in a marketplace-held warehouse set to what the marketplace reported."""


def reserve_event(
    channel: str, order_id: str, sku_id: int, quantity: int, *, warehouse: str = ""
) -> LedgerEvent:
    """Reserve ``quantity`` for a paid order line (once per order and SKU) in ``warehouse``.

    ``warehouse`` is where the units are held, as
    :func:`~channelsync.engine.sourcing.reservation_warehouse` chooses it; ``""``
    attributes them to none.
    """
    return LedgerEvent(
        idempotency_key=f"reserve:{channel}:{order_id}:{sku_id}",
        kind=EventKind.ORDER_RESERVED,
        sku_id=sku_id,
        reserved_delta=quantity,
        warehouse=warehouse,
        channel=channel,
        order_id=order_id,
    )


def release_event(
    channel: str, order_id: str, sku_id: int, reserved: int, *, warehouse: str = ""
) -> LedgerEvent:
    """Release what a cancelled order reserved (``warehouse``: where the reservation is held)."""
    return LedgerEvent(
        idempotency_key=f"release:{channel}:{order_id}:{sku_id}",
        kind=EventKind.ORDER_CANCELLED,
        sku_id=sku_id,
        reserved_delta=-reserved,
        warehouse=warehouse,
        channel=channel,
        order_id=order_id,
    )


def ship_events(
    session: StoreSession,
    channel: str,
    order_id: str,
    sku_id: int,
    *,
    quantity: int,
    reserved: int,
) -> list[LedgerEvent]:
    """Consume ``quantity`` for a shipped order line and release its reservation.

    The units leave the warehouse the order's reservation is held in (see
    :func:`ship_event`), so per-warehouse counts stay meaningful.
    """
    stock = session.on_hand(sku_id)
    held_in = session.reservation_warehouses(channel, [order_id]).get((order_id, sku_id), "")
    return [
        ship_event(
            channel,
            order_id,
            sku_id,
            quantity=quantity,
            reserved=reserved,
            stock=stock,
            warehouse=held_in,
        )
    ]


def ship_event(
    channel: str,
    order_id: str,
    sku_id: int,
    *,
    quantity: int,
    reserved: int,
    stock: Mapping[str, int],
    warehouse: str = "",
    held: Collection[str] = (),
) -> LedgerEvent:
    """Consume ``quantity`` of a shipped line and release the ``reserved`` units.

    The units leave ``warehouse``, where the order's reservation is held; for a
    reservation attributed to none (``""``, as every one made before warehouses were
    tracked) or no reservation at all, the warehouse holding the most of the SKU in
    ``stock`` (on hand per warehouse), never one of the ``held`` warehouses, whose
    units are a marketplace's.
    """
    if not warehouse:
        ours = [w for w in stock if w not in held]
        warehouse = max(ours, key=lambda w: (stock[w], w)) if ours else ""
    return LedgerEvent(
        idempotency_key=f"ship:{channel}:{order_id}:{sku_id}",
        kind=EventKind.ORDER_SHIPPED,
        sku_id=sku_id,
        on_hand_delta=-quantity,
        reserved_delta=-reserved,
        warehouse=warehouse,
        channel=channel,
        order_id=order_id,
    )


def stock_units(
    sold: Iterable[tuple[int, int]], components: Mapping[int, Sequence[KitComponent]]
) -> dict[int, int]:
    """Return the units per stock SKU that ``sold`` ``(sku_id, quantity)`` pairs take.

    A kit's (a SKU in ``components``) are its components', the quantity times each
    component's; everything else is its own. Units of one SKU add up, whether sold
    alone or in kits, so its events stay one per order (or refund) and SKU.
    """
    units: dict[int, int] = defaultdict(int)
    for sku_id, quantity in sold:
        parts = components.get(sku_id)
        if not parts:
            units[sku_id] += quantity
        for part in parts or ():
            units[part.sku_id] += quantity * part.quantity
    return dict(units)


def count_event(
    stock: MutableMapping[int, dict[str, WarehouseStock]], event: LedgerEvent, held_in: str
) -> None:
    """Update ``stock`` (per SKU and warehouse) with an event about to be applied.

    ``held_in`` is the warehouse of the reservation the event changes: its reserved
    units are counted there, whatever warehouse the event takes on-hand units from
    (a reservation attributed to none ships from the fullest warehouse).
    """
    per_warehouse = stock.setdefault(event.sku_id, {})
    for warehouse, on_hand, reserved in (
        (event.warehouse, event.on_hand_delta, 0),
        (held_in, 0, event.reserved_delta),
    ):
        if on_hand or reserved:
            was = per_warehouse.get(warehouse, WarehouseStock(on_hand=0, reserved=0))
            per_warehouse[warehouse] = WarehouseStock(
                on_hand=was.on_hand + on_hand, reserved=was.reserved + reserved
            )


_RESERVED = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED})
_CONSUMED = frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED})
_RELEASED = frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED})


def order_event_kind(status: OrderStatus) -> str | None:
    """Return the kind of stock event (its key's prefix) an order in ``status`` needs per SKU.

    ``reserve`` while paid (or partially shipped); ``ship`` once shipped or completed
    (on hand consumed, the reservation released with it); ``release`` when cancelled
    or refunded before shipping; ``None`` for a status that moves no stock.
    """
    if status in _RESERVED:
        return "reserve"
    if status in _CONSUMED:
        return "ship"
    if status in _RELEASED:
        return "release"
    return None


@dataclass
class OrderStock:
    """What one channel's order events are decided against, kept current as they are taken.

    ``applied`` holds the keys applied already (or taken); ``reserved`` and ``held_in``
    each reservation's units and warehouse per ``(order_id, sku_id)``; ``stock`` the
    stock SKUs' units per warehouse; ``settings`` the ordering channel's and ``held``
    the marketplace-held warehouses, which decide where a reservation is held
    (:func:`~channelsync.engine.sourcing.order_sources`): a channel whose marketplace
    holds the stock it sells reserves and ships in its held warehouse, where on hand
    may go below zero until the next read of the marketplace's stock sets it.
    """

    channel: str
    applied: set[str]
    reserved: dict[tuple[str, int], int]
    held_in: dict[tuple[str, int], str]
    stock: dict[int, dict[str, WarehouseStock]]
    settings: ChannelSyncSettings
    held: Collection[str] = ()

    def events(
        self, order_id: str, status: OrderStatus, units: Mapping[int, int]
    ) -> list[LedgerEvent]:
        """Return the new events of an order in ``status`` taking ``units`` per stock SKU.

        Nothing is kept (see :meth:`take`). A reservation the order holds of a SKU it
        no longer takes (a kit's components changed, a listing bound to another SKU) is
        kept while the order is paid and released after. Raises ``ValueError`` when an
        event would release more than the order holds.
        """
        lines = dict(units)
        if status not in _RESERVED:
            for (order, sku_id), held in self.reserved.items():
                if order == order_id and held and sku_id not in lines:
                    lines[sku_id] = 0
        events = [
            event
            for sku_id, quantity in lines.items()
            if (event := self._event(order_id, status, sku_id, quantity)) is not None
            and event.idempotency_key not in self.applied  # applying it again changes nothing
        ]
        for event in events:
            held = self.reserved.get((order_id, event.sku_id), 0)
            if held + event.reserved_delta < 0:
                raise ValueError(
                    f"event {event.idempotency_key!r} releases more than order "
                    f"{order_id!r} reserved ({held})"
                )
        return events

    def take(self, order_id: str, events: Iterable[LedgerEvent]) -> None:
        """Count ``events`` of an order as applied: its reservations, stock and keys."""
        for event in events:
            key = (order_id, event.sku_id)
            if event.reserved_delta > 0:
                self.held_in.setdefault(key, event.warehouse)
            count_event(self.stock, event, self.held_in.get(key, ""))
            self.reserved[key] = self.reserved.get(key, 0) + event.reserved_delta
            if not self.reserved[key]:
                # The store drops an emptied reservation, and the warehouse with it.
                self.held_in.pop(key, None)
            self.applied.add(event.idempotency_key)

    def _event(
        self, order_id: str, status: OrderStatus, sku_id: int, quantity: int
    ) -> LedgerEvent | None:
        channel = self.channel
        shipped = f"ship:{channel}:{order_id}:{sku_id}" in self.applied
        held = self.reserved.get((order_id, sku_id), 0)
        held_in = self.held_in.get((order_id, sku_id), "")
        stock = self.stock.get(sku_id, {})
        if status in _RESERVED:
            sources = order_sources(self.settings, stock, self.held)
            free = {w: units.free for w, units in stock.items()}
            warehouse = reservation_warehouse(sources, free, quantity)
            return reserve_event(channel, order_id, sku_id, quantity, warehouse=warehouse)
        if shipped or status not in _CONSUMED | _RELEASED:
            return None
        if status in _CONSUMED and quantity:
            on_hand = {w: units.on_hand for w, units in stock.items()}
            ships_from = held_in
            if (
                marketplace_sells(self.settings)
                and held_in not in self.settings.marketplace_warehouses
            ):
                # The marketplace shipped it from its warehouse, whatever held the order
                # (nothing, when first seen shipped; the merchant's own, when reserved
                # before such orders were held by the marketplace): the units left there.
                sources = order_sources(self.settings, stock, self.held)
                free = {w: units.free for w, units in stock.items()}
                ships_from = reservation_warehouse(sources, free, quantity)
            return ship_event(
                channel,
                order_id,
                sku_id,
                quantity=quantity,
                reserved=held,
                stock=on_hand,
                warehouse=ships_from,
                held=self.held,
            )
        return release_event(channel, order_id, sku_id, held, warehouse=held_in) if held else None


def restock_event(
    key: str, sku_id: int, quantity: int, *, warehouse: str = "", channel: str | None = None
) -> LedgerEvent:
    """Put returned goods back on hand (``key`` identifies the return)."""
    return LedgerEvent(
        idempotency_key=f"return:{key}:{sku_id}",
        kind=EventKind.RETURN_RESTOCKED,
        sku_id=sku_id,
        on_hand_delta=quantity,
        warehouse=warehouse,
        channel=channel,
    )


def adjust_stock(
    store: Store,
    merchant_code: str,
    delta: int,
    *,
    key: str,
    now: datetime,
    warehouse: str = "",
    note: str | None = None,
) -> bool:
    """Apply a manual adjustment of on-hand stock; ``False`` when ``key`` was applied before.

    Raises :class:`~channelsync.engine.errors.InputError` for an unknown SKU, or when
    the adjustment would take the warehouse below zero.
    """
    with store.transaction() as session:
        found = session.skus([merchant_code])
        if not found:
            raise InputError("adjustment", [Problem(f"unknown SKU {merchant_code!r}", field="sku")])
        sku_id = found[0].id
        current = session.on_hand(sku_id).get(warehouse, 0)
        event = LedgerEvent(
            idempotency_key=f"adjust:{key}",
            kind=EventKind.MANUAL_ADJUSTMENT,
            sku_id=sku_id,
            on_hand_delta=delta,
            warehouse=warehouse,
            note=note,
        )
        if current + delta < 0 and session.ledger is not None:
            already = any(
                e.idempotency_key == event.idempotency_key for e in session.ledger(sku_id)
            )
            if not already:
                raise InputError(
                    "adjustment",
                    [
                        Problem(
                            f"{merchant_code!r} has {current} on hand in warehouse "
                            f"{warehouse or '(default)'!r}; cannot remove {-delta}",
                            field="quantity",
                        )
                    ],
                )
        return session.apply_event(event, now)


def set_safety_stock(store: Store, merchant_code: str, quantity: int) -> None:
    """Set the units of a SKU never offered on any channel."""
    if quantity < 0:
        raise InputError("safety stock", [Problem(f"{quantity} is negative", field="quantity")])
    with store.transaction() as session:
        found = session.skus([merchant_code])
        if not found:
            raise InputError(
                "safety stock", [Problem(f"unknown SKU {merchant_code!r}", field="sku")]
            )
        session.set_safety_stock(found[0].id, quantity)


def stock_position(store: Store, merchant_code: str) -> StockPosition | None:
    """Return a SKU's stock position (on hand, reserved, safety, available)."""
    with store.transaction() as session:
        found = session.skus([merchant_code])
        if not found:
            return None
        return session.positions([found[0].id])[found[0].id]
