"""The stock ledger: every change to stock is an event with an idempotency key.

Kinds: an order reserved stock, an order was cancelled (its reservation released),
an order shipped (on hand consumed, reservation released), a return was restocked, a
manual adjustment, a catalogue import. Applying the same event twice changes nothing,
so every caller can retry freely. Available = on hand - reserved - safety stock.

The event builders here are pure; they are applied with
:meth:`~channelsync.store.StoreSession.apply_event` inside the caller's transaction,
so a stock change and the outbox entries it causes commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from channelsync.engine.errors import InputError, Problem
from channelsync.store import LedgerEvent, StockPosition, Store, StoreSession

__all__ = [
    "EventKind",
    "adjust_stock",
    "release_event",
    "reserve_event",
    "restock_event",
    "set_safety_stock",
    "ship_event",
    "ship_events",
    "stock_position",
]


class EventKind(StrEnum):
    """What caused a stock event."""

    ORDER_RESERVED = "order_reserved"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_SHIPPED = "order_shipped"
    RETURN_RESTOCKED = "return_restocked"
    MANUAL_ADJUSTMENT = "manual_adjustment"
    CATALOGUE_IMPORT = "catalogue_import"


def reserve_event(channel: str, order_id: str, sku_id: int, quantity: int) -> LedgerEvent:
    """Reserve ``quantity`` for a paid order line (once per order and SKU)."""
    return LedgerEvent(
        idempotency_key=f"reserve:{channel}:{order_id}:{sku_id}",
        kind=EventKind.ORDER_RESERVED,
        sku_id=sku_id,
        reserved_delta=quantity,
        channel=channel,
        order_id=order_id,
    )


def release_event(channel: str, order_id: str, sku_id: int, reserved: int) -> LedgerEvent:
    """Release what a cancelled order reserved."""
    return LedgerEvent(
        idempotency_key=f"release:{channel}:{order_id}:{sku_id}",
        kind=EventKind.ORDER_CANCELLED,
        sku_id=sku_id,
        reserved_delta=-reserved,
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

    The units leave the warehouse holding the most of the SKU, so per-warehouse
    counts stay meaningful.
    """
    stock = session.on_hand(sku_id)
    return [
        ship_event(channel, order_id, sku_id, quantity=quantity, reserved=reserved, stock=stock)
    ]


def ship_event(
    channel: str,
    order_id: str,
    sku_id: int,
    *,
    quantity: int,
    reserved: int,
    stock: Mapping[str, int],
) -> LedgerEvent:
    """Consume ``quantity`` of a shipped line from ``stock`` (on hand per warehouse).

    The units leave the warehouse holding the most of the SKU.
    """
    warehouse = max(stock, key=lambda w: (stock[w], w)) if stock else ""
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
