"""The fake Selling Partner's control surface: orders changed as Amazon records them.

An order the buyer cancels before it ships is ``Canceled`` and its stock returns; one
shipped from Seller Central is ``Shipped`` with every item counted shipped. Amazon
has no "completed" order status, and refunds are not served, so those changes are
not offered.
"""

from __future__ import annotations

from typing import ClassVar

from channelsync.testing.fakes import FakeMarketplace, FakeOrder, FakeShipment, OrderChange

__all__ = ["SellingPartnerControl"]


class SellingPartnerControl(FakeMarketplace):
    """How orders change on Amazon, for :class:`~channelsync_amazon.fake.FakeSellingPartner`."""

    order_changes: ClassVar[frozenset[OrderChange]] = frozenset(
        {OrderChange.TOUCHED, OrderChange.SHIPPED, OrderChange.CANCELLED}
    )

    def apply_order_change(self, order: FakeOrder, change: OrderChange) -> None:
        """Write ``change`` into the order's status, shipped counts and stock."""
        if change is OrderChange.CANCELLED:
            for line in order.lines:
                found = self.store.find_sku(line.sku_id or "")
                if found is not None:
                    found[1].quantity += line.quantity
            order.status = "Canceled"
            return
        order.extra["shipped"] = {line.line_id: line.quantity for line in order.lines}
        if not order.shipments:
            lines = tuple(line.line_id for line in order.lines)
            number = f"1Z{order.order_id.replace('-', '')[-16:]}"
            order.shipments.append(
                FakeShipment(order.order_id, "UPS", number, self.clock.now(), lines)
            )
        order.status = "Shipped"
