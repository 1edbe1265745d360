"""The fake's notifications: its own changes, filtered as subscribed, on ``fake.push``.

:class:`Notifier` hears the fake's changes (``store.on_change``): an order placed,
its status changed, shipped, cancelled, a buyer's cancellation request
(``ORDER_CHANGE``), and the MFN stock an order took or gave back
(``LISTINGS_ITEM_MFN_QUANTITY_CHANGE``). For each type the seller subscribed to, it
applies the subscription's event filter (``orderChangeTypes``, ``marketplaceIds``),
builds the envelope, checks it against the schema and queues it on ``fake.push`` (a
:class:`~channelsync.testing.fakes.PushQueue` whose permitted topics are the
subscribed types whose destination is the served queue). The served queue
(:mod:`channelsync_amazon.fake.events`) takes it from there.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from channelsync.testing.fakes import FakeChange, FakeOrder
from channelsync_amazon.fake.envelopes import envelope, mfn_quantity_payload, order_change_payload
from channelsync_amazon.fake.schemas import validate_notification

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = ["MFN_QUANTITY", "ORDER_CHANGE", "Notifier"]

ORDER_CHANGE = "ORDER_CHANGE"
MFN_QUANTITY = "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"
#: Store change -> (OrderChangeType, ChangeReason).
_ORDER_CHANGES = {
    "created": ("OrderStatusChange", "Order placed"),
    "updated": ("OrderStatusChange", "Order updated"),
    "status": ("OrderStatusChange", "Order status changed"),
    "shipped": ("OrderStatusChange", "Order shipped"),
    "cancelled": ("OrderStatusChange", "Order canceled"),
    "buyer_cancel_requested": ("BuyerRequestedChange", "Buyer Requested Cancel"),
}


class Notifier:
    """Turns the fake's changes into notifications on ``fake.push`` (see the module)."""

    def __init__(self, fake: FakeSellingPartner) -> None:
        self.fake = fake
        #: Notifications not written, by reason (``filtered``, ``unsubscribed``).
        self.counts: Counter[str] = Counter()

    def __call__(self, change: FakeChange) -> None:
        """Store hook (called under the store's lock)."""
        if change.kind != "order" or not isinstance(change.record, FakeOrder):
            return
        order = change.record
        mapped = _ORDER_CHANGES.get(change.change)
        if mapped is not None:
            change_type, reason = mapped
            if self._passes(order, change_type):
                payload = order_change_payload(
                    self.fake, order, change_type=change_type, reason=reason
                )
                self.publish(ORDER_CHANGE, order.order_id, payload)
        if change.change in ("created", "cancelled") and order.extra.get("fulfillment") != "AFN":
            for line in order.lines:
                found = self.fake.store.find_sku(line.sku_id or "")
                if found is not None:
                    sku = found[1]
                    self.publish(
                        MFN_QUANTITY,
                        sku.sku_id,
                        mfn_quantity_payload(self.fake, sku.sku_id, sku.quantity),
                    )

    def _passes(self, order: FakeOrder, change_type: str) -> bool:
        subscription = self.fake.subscriptions.get(ORDER_CHANGE)
        if subscription is None:
            return True  # refused (and counted) by the push queue
        event_filter = subscription.event_filter()
        wanted_types = event_filter.get("orderChangeTypes")
        wanted_markets = event_filter.get("marketplaceIds")
        marketplace = order.extra.get("marketplace_id", self.fake.marketplace_id)
        if (wanted_types and change_type not in wanted_types) or (
            wanted_markets and marketplace not in wanted_markets
        ):
            self.counts["filtered"] += 1
            return False
        return True

    def publish(self, notification_type: str, key: str, payload: dict[str, Any]) -> None:
        """Queue one notification of ``notification_type`` if the seller subscribed to it."""
        subscription = self.fake.subscriptions.get(notification_type)
        if subscription is None:
            self.counts["unsubscribed"] += 1
            return
        message = envelope(
            self.fake,
            notification_type,
            payload,
            subscription_id=subscription.subscription_id,
            now=self.fake.clock.now(),
        )
        validate_notification(message)
        self.fake.push.publish(notification_type, key, message)
