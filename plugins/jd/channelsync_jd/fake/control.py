"""The fake JOS shop's control surface: orders and wares changed as JD records them.

An order cancelled before it leaves the warehouse is ``TRADE_CANCELED`` and gives its
stock back; one shipped from the seller back office waits for the buyer's receipt
(``WAIT_GOODS_RECEIVE_CONFIRM``) and finishes as ``FINISHED_L``. JD's after-sales
requests lock an order (``LOCKED``) rather than change its state, and refunds are not
served, so those changes are not offered. A ware taken off sale by hand is
``wareStatus`` 2.
"""

from __future__ import annotations

from typing import ClassVar

from channelsync.testing.fakes import (
    FakeItem,
    FakeMarketplace,
    FakeOrder,
    FakeShipment,
    OrderChange,
)

__all__ = ["JosControl"]

_WAITING = "WAIT_SELLER_STOCK_OUT"
#: The carrier the seller back office ships with (顺丰快递).
_BACK_OFFICE_CARRIER = "467"


class JosControl(FakeMarketplace):
    """How orders and wares change on JD, for :class:`~channelsync_jd.fake.FakeJos`."""

    order_changes: ClassVar[frozenset[OrderChange]] = frozenset(
        {
            OrderChange.TOUCHED,
            OrderChange.SHIPPED,
            OrderChange.COMPLETED,
            OrderChange.CANCELLED,
        }
    )

    def apply_order_change(self, order: FakeOrder, change: OrderChange) -> None:
        """Write ``change`` into the order's state (and stock, for a cancellation)."""
        if change is OrderChange.CANCELLED:
            if order.status == _WAITING:
                for line in order.lines:
                    found = self.store.find_sku(line.sku_id or "")
                    if found is not None:
                        found[1].quantity += line.quantity
            order.status = "TRADE_CANCELED"
            return
        if not order.shipments:
            number = f"JD{int(order.order_id) % 10**11:011d}"
            order.shipments.append(
                FakeShipment(order.order_id, _BACK_OFFICE_CARRIER, number, self.clock.now())
            )
        order.status = (
            "WAIT_GOODS_RECEIVE_CONFIRM" if change is OrderChange.SHIPPED else "FINISHED_L"
        )

    def apply_listing_status(self, item: FakeItem, on_sale: bool) -> None:
        """List (``wareStatus`` 8) or delist (2) a whole ware."""
        item.on_sale = on_sale
        item.extra["wareStatus"] = 8 if on_sale else 2
