"""The notifications the fake writes: ORDER_CHANGE and the two listings types.

Envelopes follow ``push.md`` §3.2 and Amazon's schemas (checked against
:mod:`channelsync_amazon.fake.schemas` before they are published). Only order-level
ORDER_CHANGE payloads are written, with every item. ``ChangeReason`` texts are
illustrative: Amazon documents only "Buyer Requested Cancel".
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from channelsync.testing.fakes import FakeOrder

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = [
    "envelope",
    "iso_ms",
    "listing_status_payload",
    "mfn_quantity_payload",
    "notification_id",
    "order_change_payload",
]


def iso_ms(moment: datetime) -> str:
    """Write a time as notifications do: UTC with milliseconds and ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def notification_id(rng: random.Random) -> str:
    """Return a fresh ``NotificationId`` (a UUID, from the fake's seeded generator)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def envelope(
    fake: FakeSellingPartner,
    notification_type: str,
    payload: dict[str, Any],
    *,
    subscription_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Wrap ``payload`` in the notification envelope every type shares."""
    return {
        "NotificationVersion": "1.0",
        "NotificationType": notification_type,
        "PayloadVersion": "1.0",
        "EventTime": iso_ms(now),
        "Payload": payload,
        "NotificationMetadata": {
            "ApplicationId": fake.application_id,
            "SubscriptionId": subscription_id,
            "PublishTime": iso_ms(now),
            "NotificationId": notification_id(fake._rng),
        },
    }


def order_change_payload(
    fake: FakeSellingPartner, order: FakeOrder, *, change_type: str, reason: str
) -> dict[str, Any]:
    """Return ``Payload`` of an order-level ORDER_CHANGE for ``order`` as it is now."""
    shipped: dict[str, int] = order.extra.get("shipped", {})
    cancel_requested = bool(order.extra.get("buyer_cancel_requested"))
    items = []
    for line in order.lines:
        sent = shipped.get(line.line_id, 0)
        items.append(
            {
                "OrderItemId": line.line_id,
                "SellerSKU": line.merchant_code or line.sku_id or line.item_id,
                "SupplySourceId": None,
                "Quantity": line.quantity,
                "QuantityShipped": sent,
                "IsBuyerRequestedCancel": cancel_requested,
                "_status": "Shipped" if sent >= line.quantity else "Unshipped",
            }
        )
    mixed = len({item["_status"] for item in items}) > 1
    for item in items:
        status = item.pop("_status")
        if mixed:
            # The schema: "a non-null value when items' statuses are different".
            item["OrderItemStatus"] = status
    count = sum(line.quantity for line in order.lines)
    count_shipped = sum(shipped.values())
    return {
        "OrderChangeNotification": {
            "NotificationLevel": "OrderLevel",
            "SellerId": fake.seller_id,
            "AmazonOrderId": order.order_id,
            "OrderChangeType": change_type,
            "OrderChangeTrigger": {
                "TimeOfOrderChange": iso_ms(order.modified),
                "ChangeReason": reason,
            },
            "Summary": {
                "MarketplaceId": order.extra.get("marketplace_id", fake.marketplace_id),
                "OrderStatus": order.status,
                "PurchaseDate": iso_ms(order.created),
                "DestinationPostalCode": order.extra.get("postal_code"),
                "FulfillmentType": order.extra.get("fulfillment", "MFN"),
                "OrderType": "StandardOrder",
                "NumberOfItemsShipped": count_shipped,
                "NumberOfItemsUnshipped": count - count_shipped,
                "EarliestShipDate": iso_ms(order.created + timedelta(days=1)),
                "LatestShipDate": iso_ms(order.created + timedelta(days=3)),
                "OrderItems": items,
            },
        }
    }


def mfn_quantity_payload(fake: FakeSellingPartner, sku: str, quantity: int) -> dict[str, Any]:
    """Return ``Payload`` of LISTINGS_ITEM_MFN_QUANTITY_CHANGE."""
    return {
        "SellerId": fake.seller_id,
        "FulfillmentChannelCode": "DEFAULT",
        "Sku": sku,
        "Quantity": quantity,
    }


def listing_status_payload(
    fake: FakeSellingPartner, sku: str, status: list[str], *, asin: str, created: datetime
) -> dict[str, Any]:
    """Return ``Payload`` of LISTINGS_ITEM_STATUS_CHANGE."""
    return {
        "SellerId": fake.seller_id,
        "MarketplaceId": fake.marketplace_id,
        "Asin": asin,
        "Sku": sku,
        "CreatedDate": iso_ms(created),
        "Status": status,
    }
