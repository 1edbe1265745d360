"""SP-API notification envelopes, read into channelsync events at the plugin edge.

Amazon writes one notification per SQS message; the body is the notification JSON
(``NotificationVersion``, ``NotificationType``, ``PayloadVersion``, ``EventTime``,
``Payload``, ``NotificationMetadata``). The models below follow the shape of Amazon's
JSON Schemas (``schemas/notifications/OrderChangeNotification.json``,
``ListingsItemStatusChangeNotification.json``, ``ListingsItemMfnQuantityChange.json``
in ``amzn/selling-partner-api-models``): every required field must be present with
its JSON type (strings stay strings, integers integers: no coercion). Enumerated
values are read as text, not checked against the schema's lists, because Amazon
extends them (the subscription filter already knows ``DeliveryTipChange``, the
payload schema does not) and an event is only a hint for a targeted read.

A notification is mapped to a :class:`~channelsync.channels.ChannelEvent`:
``ORDER_CHANGE`` to an order event keyed by ``AmazonOrderId``; the two listings types
(``LISTINGS_ITEM_STATUS_CHANGE``, spelt ``..._CHANGED`` in its own schema's enum, and
``LISTINGS_ITEM_MFN_QUANTITY_CHANGE``) to listing events keyed by the seller SKU.
``message_id`` is ``NotificationMetadata.NotificationId``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channelsync.channels import ChannelEvent, EventKind

__all__ = [
    "EVENT_TOPICS",
    "LISTINGS_MFN_QUANTITY",
    "LISTINGS_STATUS",
    "LISTINGS_STATUS_SPELLINGS",
    "ORDER_CHANGE",
    "Notification",
    "NotificationError",
    "parse_notification",
]

ORDER_CHANGE = "ORDER_CHANGE"
LISTINGS_STATUS = "LISTINGS_ITEM_STATUS_CHANGE"
#: The subscription path and the schema's example say ``..._CHANGE``; its enum ``..._CHANGED``.
LISTINGS_STATUS_SPELLINGS = frozenset({LISTINGS_STATUS, "LISTINGS_ITEM_STATUS_CHANGED"})
LISTINGS_MFN_QUANTITY = "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"
#: The notification types an ``amazon`` channel maps to events.
EVENT_TOPICS = (ORDER_CHANGE, LISTINGS_STATUS, LISTINGS_MFN_QUANTITY)


class NotificationError(ValueError):
    """A message that is no notification the channel can use (its reason, never its body)."""


class _Strict(BaseModel):
    # Unknown fields are Amazon's to add; known ones must have their JSON type.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _Metadata(_Strict):
    ApplicationId: str
    SubscriptionId: str
    PublishTime: str
    NotificationId: str = Field(min_length=1, max_length=256)


class _Envelope(_Strict):
    NotificationVersion: str
    NotificationType: str
    PayloadVersion: str
    EventTime: str
    Payload: dict[str, Any]
    NotificationMetadata: _Metadata


class _Trigger(_Strict):
    TimeOfOrderChange: str | None
    ChangeReason: str


class _OrderItem(_Strict):
    OrderItemId: str
    SellerSKU: str
    SupplySourceId: str | None
    Quantity: int
    OrderItemStatus: str | None = None
    QuantityShipped: int | None = None
    IsBuyerRequestedCancel: bool | None = None
    ItemEarliestDeliveryDate: str | None = None
    ItemLatestDeliveryDate: str | None = None


class _Summary(_Strict):
    MarketplaceId: str
    OrderStatus: str
    PurchaseDate: str | None
    DestinationPostalCode: str | None
    FulfillmentType: str
    OrderType: str
    OrderItems: list[_OrderItem]
    NumberOfItemsShipped: int | None = None
    NumberOfItemsUnshipped: int | None = None
    EarliestShipDate: str | None = None
    LatestShipDate: str | None = None
    EarliestDeliveryDate: str | None = None
    LatestDeliveryDate: str | None = None
    CancelNotifyDate: str | None = None
    OrderPrograms: list[str] | None = None
    ShippingPrograms: list[str] | None = None
    EasyShipShipmentStatus: str | None = None
    ElectronicInvoiceStatus: str | None = None


class _OrderChange(_Strict):
    NotificationLevel: str
    SellerId: str
    AmazonOrderId: str = Field(min_length=1, max_length=256)
    OrderChangeType: str
    OrderChangeTrigger: _Trigger
    Summary: _Summary


class _OrderChangePayload(_Strict):
    OrderChangeNotification: _OrderChange


class _ListingStatusPayload(_Strict):
    SellerId: str
    Sku: str = Field(min_length=1, max_length=256)
    Status: list[str]
    MarketplaceId: str | None = None
    Asin: str | None = None
    CreatedDate: str | None = None


class _MfnQuantityPayload(_Strict):
    SellerId: str
    FulfillmentChannelCode: str
    Sku: str = Field(min_length=1, max_length=256)
    Quantity: int


@dataclass(frozen=True)
class Notification:
    """What channelsync takes from one notification."""

    notification_type: str
    notification_id: str
    seller_id: str
    kind: EventKind
    key: str
    occurred_at: datetime
    marketplace_id: str | None = None
    units: Mapping[str, int] | None = None
    """What a new merchant-fulfilled order takes, by seller SKU, from its summary."""

    def event(self, delivery: str | None = None) -> ChannelEvent:
        """Return the channel event, ``delivery`` being the SQS receipt handle."""
        topic = (
            LISTINGS_STATUS
            if self.notification_type in LISTINGS_STATUS_SPELLINGS
            else self.notification_type
        )
        return ChannelEvent(
            kind=self.kind,
            message_id=self.notification_id,
            key=self.key,
            topic=topic,
            occurred_at=self.occurred_at,
            delivery=delivery,
            units=None if self.units is None else dict(self.units),
        )


#: Summary statuses of an order that holds stock and has shipped nothing yet.
_TAKING_STOCK = frozenset({"PendingAvailability", "Pending", "Unshipped"})


def _units_taken(summary: _Summary) -> dict[str, int] | None:
    """Return what a new merchant-fulfilled order takes, by seller SKU (``None``: nothing said).

    Only an order not yet shipped or cancelled, fulfilled by the merchant (FBA stock is
    Amazon's), with every item naming a SKU and a positive quantity: anything else is
    left to the order's read.
    """
    if summary.OrderStatus not in _TAKING_STOCK or summary.FulfillmentType != "MFN":
        return None
    units: dict[str, int] = {}
    for item in summary.OrderItems:
        if not item.SellerSKU or item.Quantity <= 0:
            return None
        units[item.SellerSKU] = units.get(item.SellerSKU, 0) + item.Quantity
    return units or None


def _reject_constant(name: str) -> object:
    raise NotificationError(f"the body holds the non-JSON constant {name}")


def _time(value: str, what: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            # SP-API times are UTC; one written without an offset is read as UTC too.
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise NotificationError(f"{what} is not an ISO 8601 time") from None


def _problem(error: ValidationError, where: str) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "<root>"
    return f"{where}.{location}: {first['msg']}"


def _key(value: str, what: str) -> str:
    if value != value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise NotificationError(f"{what} has blanks or control characters")
    return value


def parse_notification(body: str | bytes) -> Notification:
    """Read one SQS message body; raise :class:`NotificationError` when it cannot be used.

    The error names what is wrong (not valid JSON, a missing or mistyped field, an
    unknown notification type) and never quotes the body.
    """
    try:
        raw = json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NotificationError("the body is not JSON") from None
    if not isinstance(raw, dict):
        raise NotificationError("the body is not a JSON object")
    try:
        envelope = _Envelope.model_validate(raw)
    except ValidationError as error:
        raise NotificationError(_problem(error, "envelope")) from None
    kind_of = envelope.NotificationType
    event_time = _time(envelope.EventTime, "EventTime")
    notification_id = _key(envelope.NotificationMetadata.NotificationId, "NotificationId")
    try:
        if kind_of == ORDER_CHANGE:
            change = _OrderChangePayload.model_validate(envelope.Payload).OrderChangeNotification
            changed_at = change.OrderChangeTrigger.TimeOfOrderChange
            return Notification(
                notification_type=kind_of,
                notification_id=notification_id,
                seller_id=change.SellerId,
                kind=EventKind.ORDER,
                key=_key(change.AmazonOrderId, "AmazonOrderId"),
                occurred_at=_time(changed_at, "TimeOfOrderChange") if changed_at else event_time,
                marketplace_id=change.Summary.MarketplaceId,
                units=_units_taken(change.Summary),
            )
        if kind_of in LISTINGS_STATUS_SPELLINGS:
            status = _ListingStatusPayload.model_validate(envelope.Payload)
            return Notification(
                notification_type=kind_of,
                notification_id=notification_id,
                seller_id=status.SellerId,
                kind=EventKind.LISTING,
                key=_key(status.Sku, "Sku"),
                occurred_at=event_time,
                marketplace_id=status.MarketplaceId,
            )
        if kind_of == LISTINGS_MFN_QUANTITY:
            quantity = _MfnQuantityPayload.model_validate(envelope.Payload)
            return Notification(
                notification_type=kind_of,
                notification_id=notification_id,
                seller_id=quantity.SellerId,
                kind=EventKind.LISTING,
                key=_key(quantity.Sku, "Sku"),
                occurred_at=event_time,
            )
    except ValidationError as error:
        raise NotificationError(_problem(error, f"{kind_of} Payload")) from None
    raise NotificationError(f"notification type {kind_of[:80]!r} is not one the channel maps")
