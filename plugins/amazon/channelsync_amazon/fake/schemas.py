"""The notification schemas the fake checks every envelope it publishes against.

channelsync's rendering, as JSON Schema draft-07, of the structure of Amazon's own
``schemas/notifications/OrderChangeNotification.json``,
``ListingsItemStatusChangeNotification.json`` and ``ListingsItemMfnQuantityChange.json``
(``amzn/selling-partner-api-models``): the same required fields, JSON types, nullable
fields and enumerations, without the examples and descriptions. Unlike the plugin,
which reads enumerations as text, the fake keeps to them strictly: what it sends is
what Amazon's schema allows today.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NOTIFICATION_SCHEMAS", "validate_notification"]

_STRING: dict[str, Any] = {"type": "string"}
_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
_DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _envelope(notification_type: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema",
        "type": "object",
        "required": [
            "NotificationVersion",
            "NotificationType",
            "PayloadVersion",
            "EventTime",
            "Payload",
            "NotificationMetadata",
        ],
        "properties": {
            "NotificationVersion": _STRING,
            "NotificationType": notification_type,
            "PayloadVersion": _STRING,
            "EventTime": _STRING,
            "Payload": payload,
            "NotificationMetadata": {
                "type": "object",
                "required": ["ApplicationId", "SubscriptionId", "PublishTime", "NotificationId"],
                "properties": {
                    "ApplicationId": _STRING,
                    "SubscriptionId": _STRING,
                    "PublishTime": _STRING,
                    "NotificationId": _STRING,
                },
            },
        },
    }


_ORDER_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["OrderItemId", "SellerSKU", "SupplySourceId", "Quantity"],
    "properties": {
        "OrderItemId": _STRING,
        "SellerSKU": _STRING,
        "SupplySourceId": _NULLABLE_STRING,
        "OrderItemStatus": _enum("Unshipped", "Shipped"),
        "Quantity": {"type": "integer"},
        "QuantityShipped": {"type": "integer"},
        "IsBuyerRequestedCancel": {"type": "boolean"},
        "ItemEarliestDeliveryDate": _STRING,
        "ItemLatestDeliveryDate": _STRING,
    },
}

_SUMMARY: dict[str, Any] = {
    "type": "object",
    "required": [
        "MarketplaceId",
        "OrderStatus",
        "PurchaseDate",
        "DestinationPostalCode",
        "FulfillmentType",
        "OrderType",
        "OrderItems",
    ],
    "properties": {
        "MarketplaceId": _STRING,
        "OrderStatus": _enum(
            "Pending",
            "Unshipped",
            "PartiallyShipped",
            "Shipped",
            "Canceled",
            "Unfulfillable",
            "InvoiceUnconfirmed",
            "PendingAvailability",
        ),
        "PurchaseDate": _NULLABLE_STRING,
        "DestinationPostalCode": _NULLABLE_STRING,
        "FulfillmentType": _enum("AFN", "MFN"),
        "OrderType": _enum(
            "StandardOrder", "LongLeadTimeOrder", "Preorder", "BackOrder", "SourcingOnDemandOrder"
        ),
        "NumberOfItemsShipped": {"type": "integer"},
        "NumberOfItemsUnshipped": {"type": "integer"},
        "EarliestDeliveryDate": _STRING,
        "LatestDeliveryDate": _STRING,
        "EarliestShipDate": _STRING,
        "LatestShipDate": _STRING,
        "CancelNotifyDate": _STRING,
        "OrderPrograms": {
            "type": "array",
            "items": _enum("Business", "Prime", "Premium", "IBA", "Replacement"),
        },
        "ShippingPrograms": {
            "type": "array",
            "items": _enum(
                "ShipDateSet", "GlobalExpress", "ISPU", "AccessPoint", "TFM", "EasyShip"
            ),
        },
        "EasyShipShipmentStatus": _enum(
            "PendingSchedule",
            "PendingPickUp",
            "PendingDropOff",
            "LabelCanceled",
            "PickedUp",
            "DroppedOff",
            "AtOriginFC",
            "AtDestinationFC",
            "Delivered",
            "RejectedByBuyer",
            "Undeliverable",
            "ReturningToSeller",
            "ReturnedToSeller",
            "Lost",
            "OutForDelivery",
            "Damaged",
        ),
        "ElectronicInvoiceStatus": _enum(
            "NotRequired", "NotFound", "Processing", "Errored", "Accepted"
        ),
        "OrderItems": {"type": "array", "items": _ORDER_ITEM},
    },
}

ORDER_CHANGE_SCHEMA = _envelope(
    _STRING,
    {
        "type": "object",
        "required": ["OrderChangeNotification"],
        "properties": {
            "OrderChangeNotification": {
                "type": "object",
                "required": [
                    "NotificationLevel",
                    "SellerId",
                    "AmazonOrderId",
                    "OrderChangeType",
                    "OrderChangeTrigger",
                    "Summary",
                ],
                "properties": {
                    "NotificationLevel": _enum("OrderItemLevel", "OrderLevel"),
                    "SellerId": _STRING,
                    "AmazonOrderId": _STRING,
                    "OrderChangeType": _enum("BuyerRequestedChange", "OrderStatusChange"),
                    "OrderChangeTrigger": {
                        "type": "object",
                        "required": ["TimeOfOrderChange", "ChangeReason"],
                        "properties": {
                            "TimeOfOrderChange": _NULLABLE_STRING,
                            "ChangeReason": _STRING,
                        },
                    },
                    "Summary": _SUMMARY,
                },
            }
        },
    },
)

LISTINGS_ITEM_STATUS_CHANGE_SCHEMA = _envelope(
    # The schema's enum says ..._CHANGED; its example and the subscription path ..._CHANGE.
    _enum("LISTINGS_ITEM_STATUS_CHANGED", "LISTINGS_ITEM_STATUS_CHANGE"),
    {
        "type": "object",
        "required": ["SellerId", "Sku", "Status"],
        "properties": {
            "SellerId": _STRING,
            "MarketplaceId": _STRING,
            "Asin": _STRING,
            "Sku": _STRING,
            "CreatedDate": _DATE_TIME,
            "Status": {
                "type": "array",
                "uniqueItems": True,
                "items": _enum("BUYABLE", "DISCOVERABLE", "DELETED"),
            },
        },
    },
)

LISTINGS_ITEM_MFN_QUANTITY_CHANGE_SCHEMA = _envelope(
    _enum("LISTINGS_ITEM_MFN_QUANTITY_CHANGE"),
    {
        "type": "object",
        "required": ["SellerId", "FulfillmentChannelCode", "Sku", "Quantity"],
        "properties": {
            "SellerId": _STRING,
            "FulfillmentChannelCode": _STRING,
            "Sku": _STRING,
            "Quantity": {"type": "integer"},
        },
    },
)

#: Schema by the notification type (both spellings of the listings status type).
NOTIFICATION_SCHEMAS: dict[str, dict[str, Any]] = {
    "ORDER_CHANGE": ORDER_CHANGE_SCHEMA,
    "LISTINGS_ITEM_STATUS_CHANGE": LISTINGS_ITEM_STATUS_CHANGE_SCHEMA,
    "LISTINGS_ITEM_STATUS_CHANGED": LISTINGS_ITEM_STATUS_CHANGE_SCHEMA,
    "LISTINGS_ITEM_MFN_QUANTITY_CHANGE": LISTINGS_ITEM_MFN_QUANTITY_CHANGE_SCHEMA,
}


def validate_notification(envelope: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first place ``envelope`` breaks its type's schema."""
    from jsonschema import (  # type: ignore[import-untyped]  # noqa: PLC0415 - optional
        Draft7Validator,
    )

    schema = NOTIFICATION_SCHEMAS.get(str(envelope.get("NotificationType")))
    if schema is None:
        raise ValueError(f"no schema for notification type {envelope.get('NotificationType')!r}")
    for error in Draft7Validator(schema).iter_errors(envelope):
        where = "/".join(str(part) for part in error.absolute_path) or "<root>"
        raise ValueError(f"{where}: {error.message}")
