"""The state a fake marketplace keeps: items with SKUs and stock, orders, shipments, refunds.

The records are marketplace-neutral; each fake renders them in its own wire format
(field names, id formats, status strings, yuan or fen) and keeps any extra
marketplace-specific detail in the ``extra`` dicts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "FakeChange",
    "FakeItem",
    "FakeOrder",
    "FakeOrderLine",
    "FakeRefund",
    "FakeShipment",
    "FakeSku",
    "FakeStore",
]


@dataclass
class FakeSku:
    """One sellable variant of an item."""

    sku_id: str
    merchant_code: str | None
    price: Decimal
    quantity: int
    properties: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeItem:
    """A listing (item / ware / goods) with its SKUs."""

    item_id: str
    title: str
    merchant_code: str | None
    price: Decimal
    on_sale: bool
    created: datetime
    modified: datetime
    skus: list[FakeSku] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def quantity(self) -> int:
        """Return the item's total stock (the sum over its SKUs, or its own stock)."""
        if self.skus:
            return sum(sku.quantity for sku in self.skus)
        return int(self.extra.get("quantity", 0))

    def sku(self, sku_id: str) -> FakeSku | None:
        """Return the SKU with ``sku_id``, or ``None``."""
        return next((sku for sku in self.skus if sku.sku_id == sku_id), None)


@dataclass
class FakeOrderLine:
    """One line of a fake order."""

    line_id: str
    item_id: str
    sku_id: str | None
    merchant_code: str | None
    title: str
    quantity: int
    price: Decimal


@dataclass
class FakeShipment:
    """A shipment the fake recorded for an order."""

    order_id: str
    carrier_code: str
    tracking_number: str
    shipped_at: datetime
    line_ids: tuple[str, ...] = ()


@dataclass
class FakeOrder:
    """A buyer's order as the fake holds it; ``status`` is the marketplace's own string."""

    order_id: str
    status: str
    created: datetime
    modified: datetime
    lines: list[FakeOrderLine]
    total: Decimal
    shipping_fee: Decimal = Decimal("0")
    discount: Decimal = Decimal("0")
    paid_at: datetime | None = None
    buyer_name: str = ""
    receiver_name: str = ""
    receiver_phone: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    address: str = ""
    buyer_note: str = ""
    shipments: list[FakeShipment] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeRefund:
    """A refund / after-sales case on an order."""

    refund_id: str
    order_id: str
    status: str
    amount: Decimal
    created: datetime
    modified: datetime
    line_id: str | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeChange:
    """A change a fake's push service may announce.

    ``kind`` is ``"order"``, ``"refund"`` or ``"item"``; ``change`` says what happened
    in marketplace-neutral words (``"created"``, ``"updated"``, ``"paid"``,
    ``"shipped"``, ``"cancelled"``, ``"refunded"`` …); ``record`` is the changed
    record itself. Each fake maps these onto its own topics.
    """

    kind: str
    key: str
    change: str
    record: FakeOrder | FakeRefund | FakeItem


class FakeStore:
    """Everything a fake marketplace knows, behind one lock (the loopback server is threaded).

    Listeners added with :meth:`on_change` hear every change made through
    :meth:`add_order`, :meth:`add_refund` and :meth:`changed` (a fake calls the latter
    where it changes a record in place), which is how a fake's push service learns
    what to announce.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.items: dict[str, FakeItem] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.refunds: dict[str, FakeRefund] = {}
        self._listeners: list[Callable[[FakeChange], None]] = []

    def on_change(self, listener: Callable[[FakeChange], None]) -> None:
        """Call ``listener`` (under the store's lock, so keep it quick) on every change."""
        with self.lock:
            self._listeners.append(listener)

    def changed(self, record: FakeOrder | FakeRefund | FakeItem, change: str) -> None:
        """Announce that ``record`` changed in place (``change`` as in :class:`FakeChange`)."""
        if isinstance(record, FakeOrder):
            kind, key = "order", record.order_id
        elif isinstance(record, FakeRefund):
            kind, key = "refund", record.refund_id
        else:
            kind, key = "item", record.item_id
        with self.lock:
            for listener in self._listeners:
                listener(FakeChange(kind=kind, key=key, change=change, record=record))

    def add_item(self, item: FakeItem) -> FakeItem:
        """Add (or replace) ``item``."""
        with self.lock:
            self.items[item.item_id] = item
            return item

    def add_order(self, order: FakeOrder) -> FakeOrder:
        """Add (or replace) ``order``; announced as ``"created"`` or ``"updated"``."""
        with self.lock:
            known = order.order_id in self.orders
            self.orders[order.order_id] = order
            self.changed(order, "updated" if known else "created")
            return order

    def add_refund(self, refund: FakeRefund) -> FakeRefund:
        """Add (or replace) ``refund``; announced as ``"created"`` or ``"updated"``."""
        with self.lock:
            known = refund.refund_id in self.refunds
            self.refunds[refund.refund_id] = refund
            self.changed(refund, "updated" if known else "created")
            return refund

    def find_sku(self, sku_id: str) -> tuple[FakeItem, FakeSku] | None:
        """Return the item and SKU for ``sku_id`` (SKU ids are unique per marketplace)."""
        with self.lock:
            for item in self.items.values():
                sku = item.sku(sku_id)
                if sku is not None:
                    return item, sku
        return None

    def iter_skus(self) -> Iterator[tuple[FakeItem, FakeSku]]:
        """Yield every (item, SKU) pair, items in insertion order."""
        with self.lock:
            pairs = [(item, sku) for item in self.items.values() for sku in item.skus]
        yield from pairs

    def stock_by_merchant_code(self) -> dict[str, int]:
        """Return the stock each merchant code shows (for checking end states)."""
        with self.lock:
            return {
                sku.merchant_code: sku.quantity
                for item in self.items.values()
                for sku in item.skus
                if sku.merchant_code
            }
