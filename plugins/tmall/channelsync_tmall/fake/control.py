"""The fake TOP gateway's control surface: trades and refunds changed as Taobao records them.

The toolkit's neutral changes (:class:`~channelsync.testing.fakes.OrderChange`,
:class:`~channelsync.testing.fakes.RefundChange`) become TOP's own statuses: a trade
shipped from the seller centre waits for the buyer's confirmation
(``WAIT_BUYER_CONFIRM_GOODS``), a finished one is ``TRADE_FINISHED``, a trade refunded
in full is ``TRADE_CLOSED`` (TOP has no "cancelled" for a paid trade: a paid trade the
buyer gives up is refunded and closed), and an open refund request shows on its
sub-order as ``WAIT_SELLER_AGREE``.
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

__all__ = ["TopControl"]

_SHIPPED = "WAIT_BUYER_CONFIRM_GOODS"
#: ``refund.status`` TOP writes for each refund change.
_REFUND_STATUSES: dict[RefundChange, str] = {
    RefundChange.APPROVED: "WAIT_BUYER_RETURN_GOODS",
    RefundChange.REFUNDED: "SUCCESS",
    RefundChange.REJECTED: "SELLER_REFUSE_BUYER",
    RefundChange.CANCELLED: "CLOSED",
}


class TopControl(FakeMarketplace):
    """How trades and refunds change on TOP, for :class:`~channelsync_tmall.fake.FakeTop`."""

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

        def request_refund(self, tid: str, *, oid: str | None = None) -> FakeRefund:
            """Open a refund of one sub-order (defined by the gateway)."""
            ...

    def apply_order_change(self, order: FakeOrder, change: OrderChange) -> None:
        """Write ``change`` into the trade and its sub-orders as TOP reports them."""
        lines: dict[str, str] = order.extra.setdefault("line_status", {})
        if change is OrderChange.REFUND_REQUESTED:
            self.request_refund(order.order_id)
            return
        if change is OrderChange.REFUNDED:
            for line in order.lines:
                refund = self.request_refund(order.order_id, oid=line.line_id)
                refund.status = "SUCCESS"
                order.extra["line_refund"][line.line_id] = "SUCCESS"
                lines[line.line_id] = "TRADE_CLOSED"
            order.status = "TRADE_CLOSED"
            return
        if not order.shipments:
            # Shipped from the seller centre, not through taobao.logistics.offline.send.
            number = f"SF{int(order.order_id) % 10**12:012d}"
            order.shipments.append(FakeShipment(order.order_id, "SF", number, self.clock.now()))
        status = _SHIPPED if change is OrderChange.SHIPPED else "TRADE_FINISHED"
        for line in order.lines:
            lines[line.line_id] = status
        order.status = status

    def create_refund(self, order: FakeOrder) -> FakeRefund:
        """Open a refund of the trade's first sub-order, as its buyer does."""
        return self.request_refund(order.order_id)

    def apply_refund_change(self, refund: FakeRefund, change: RefundChange) -> None:
        """Move the refund (and its sub-order's refund status) on; the trade is modified."""
        refund.status = _REFUND_STATUSES[change]
        order = self.store.orders.get(refund.order_id)
        if order is not None:
            if refund.line_id is not None:
                order.extra.setdefault("line_refund", {})[refund.line_id] = refund.status
            order.modified = self.clock.now()
