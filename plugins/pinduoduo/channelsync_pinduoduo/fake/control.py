"""The fake PDD shop's control surface: orders and after-sales cases changed as PDD records them.

An order shipped from the merchant back office is ``order_status`` 2 with its tracking
number, one the buyer received is 3; an after-sales request sets the order's
``refund_status`` 2 and opens a case (``after_sales_status`` 2); a refunded order is
``refund_status`` 4. A paid, confirmed PDD order is not cancelled as such: the buyer
asks for a refund (a failed group buy, ``group_status`` 2, is cancelled before it is
confirmed), so the cancellation is not offered. A case moves on as the merchant, the
buyer or PDD moves it: agreed (4, the order refunding), rejected (6), refunded (10),
withdrawn by the buyer (11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from channelsync.testing.fakes import (
    FakeMarketplace,
    FakeOrder,
    FakeRefund,
    FakeShipment,
    OrderChange,
    RefundChange,
)
from channelsync_pinduoduo.fake.wire import LOGISTICS_COMPANIES

__all__ = ["PddControl"]

#: ``after_sales_status`` of the case and ``refund_status`` of its order, per refund change.
_CASE_STATES: dict[RefundChange, tuple[int, int]] = {
    RefundChange.APPROVED: (4, 3),
    RefundChange.REJECTED: (6, 2),
    RefundChange.REFUNDED: (10, 4),
    RefundChange.CANCELLED: (11, 1),
}


class PddControl(FakeMarketplace):
    """How orders and after-sales cases change on PDD, for the fake gateway."""

    order_changes: ClassVar[frozenset[OrderChange]] = frozenset(
        {
            OrderChange.TOUCHED,
            OrderChange.SHIPPED,
            OrderChange.COMPLETED,
            OrderChange.REFUND_REQUESTED,
            OrderChange.REFUNDED,
        }
    )
    refund_changes: ClassVar[frozenset[RefundChange]] = frozenset(RefundChange)

    if TYPE_CHECKING:

        def buyer_requests_refund(self, order_sn: str) -> FakeRefund:
            """Open an after-sales case for the order's first line (defined by the gateway)."""
            ...

    def apply_order_change(self, order: FakeOrder, change: OrderChange) -> None:
        """Write ``change`` into the order's statuses (and its case, for refunds)."""
        if change in (OrderChange.REFUND_REQUESTED, OrderChange.REFUNDED):
            refund = self.buyer_requests_refund(order.order_id)
            if change is OrderChange.REFUNDED:
                self.apply_refund_change(refund, RefundChange.REFUNDED)
            return
        if not order.shipments:
            # Shipped from the merchant back office, not through pdd.logistics.online.send.
            _, _, code, _ = next(c for c in LOGISTICS_COMPANIES if c[3])
            digits = "".join(ch for ch in order.order_id if ch.isdigit())
            number = f"SF{digits[-12:]:0>12}"
            order.shipments.append(FakeShipment(order.order_id, code, number, self.clock.now()))
        if change is OrderChange.COMPLETED:
            order.status = "3"
            order.extra["received_at"] = self.clock.now()
        else:
            order.status = "2"

    def create_refund(self, order: FakeOrder) -> FakeRefund:
        """Open an after-sales case (refund only) for the order's first line."""
        return self.buyer_requests_refund(order.order_id)

    def apply_refund_change(self, refund: FakeRefund, change: RefundChange) -> None:
        """Move the case on; the order's refund status follows and the order is modified."""
        case, order_refund = _CASE_STATES[change]
        refund.status = str(case)
        order = self.store.orders.get(refund.order_id)
        if order is not None:
            order.extra.update(refund_status=order_refund, after_sales_status=case)
            order.modified = self.clock.now()
