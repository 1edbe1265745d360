"""Orders API v0 ``confirmShipment``: the shipment confirmation of a merchant-fulfilled order.

The body names a package (a seller-chosen positive number unique within the order),
Amazon's carrier code (``Other`` plus the carrier's name when Amazon has no code for
it), the tracking number, the ship date and the order items with quantities. Amazon
answers 204; confirming the same package again edits it, so a retried confirmation
is harmless when the package reference is derived from the tracking number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from channelsync.errors import InvalidRequestError
from channelsync.models import Carrier, Shipment
from channelsync_amazon.orders_v0 import ShippableItem
from channelsync_amazon.wire import format_time

__all__ = [
    "CARRIER_CODES",
    "OTHER_CARRIER",
    "confirm_shipment_body",
    "package_reference",
    "shipment_items",
]

OTHER_CARRIER = "Other"

#: Canonical carrier -> Amazon ``carrierCode``. Carriers Amazon lists no code for here
#: are sent as ``Other`` with the carrier's name.
CARRIER_CODES: Mapping[Carrier, str] = {
    Carrier.UPS: "UPS",
    Carrier.USPS: "USPS",
    Carrier.FEDEX: "FedEx",
    Carrier.DHL: "DHL",
    **{
        carrier: OTHER_CARRIER
        for carrier in Carrier
        if carrier not in {Carrier.UPS, Carrier.USPS, Carrier.FEDEX, Carrier.DHL}
    },
}


def package_reference(tracking_number: str) -> str:
    """Return a stable positive number for the package, derived from its tracking number."""
    digest = hashlib.sha256(tracking_number.encode("utf-8")).hexdigest()
    return str(int(digest[:12], 16) % 999_999_999 + 1)


def shipment_items(shipment: Shipment, items: Sequence[ShippableItem]) -> list[dict[str, Any]]:
    """Return the ``orderItems`` of the confirmation.

    A shipment without lines ships what is still unshipped of every item; a line is
    matched by ``line_id`` (the order item id), else by merchant code (the seller SKU).
    """
    what = f"order {shipment.order_id}"
    if not shipment.lines:
        chosen = [
            {"orderItemId": i.order_item_id, "quantity": i.quantity_ordered - i.quantity_shipped}
            for i in items
            if i.quantity_ordered > i.quantity_shipped
        ]
        if not chosen:
            chosen = [
                {"orderItemId": i.order_item_id, "quantity": i.quantity_ordered}
                for i in items
                if i.quantity_ordered > 0
            ]
        if not chosen:
            raise InvalidRequestError(f"{what} has no item to ship", operation="confirmShipment")
        return chosen
    by_id = {i.order_item_id: i for i in items}
    by_sku = {i.seller_sku: i for i in items if i.seller_sku}
    chosen = []
    for line in shipment.lines:
        found = by_id.get(line.line_id or "") or by_sku.get(line.merchant_code or line.sku_id or "")
        if found is None:
            raise InvalidRequestError(
                f"{what} has no item {line.line_id or line.merchant_code or line.sku_id!r}",
                operation="confirmShipment",
            )
        chosen.append({"orderItemId": found.order_item_id, "quantity": line.quantity})
    return chosen


def confirm_shipment_body(
    shipment: Shipment,
    marketplace_id: str,
    carrier_code: str,
    order_items: list[dict[str, Any]],
) -> dict[str, Any]:
    """Return the ``ConfirmShipmentRequest`` body."""
    package: dict[str, Any] = {
        "packageReferenceId": package_reference(shipment.tracking_number),
        "carrierCode": carrier_code,
    }
    if carrier_code == OTHER_CARRIER:
        package["carrierName"] = shipment.carrier_name or shipment.carrier.display_name
    package["trackingNumber"] = shipment.tracking_number
    package["shipDate"] = format_time(shipment.shipped_at)
    package["orderItems"] = order_items
    return {"marketplaceId": marketplace_id, "packageDetail": package}
