"""The fake's Orders API v2026-01-01: ``searchOrders`` and ``getOrder``.

The same orders as v0 (:mod:`~channelsync_amazon.fake.orders`), rendered as the
v2026 model declares them: no ``payload`` envelope, camelCase, ``orderItems`` always
included with each order, money as ``{"amount": "19.99", "currencyCode": "USD"}``, the
status in ``fulfillment.fulfillmentStatus`` and the other datasets only when
``includedData`` asks for them. The rules from the reference hold: ``marketplaceIds``
required (at most 50), exactly one of ``createdAfter``/``lastUpdatedAfter``, the
"before" bounds at least two minutes before now, ``maxResultsPerPage`` 1-100 and
``paginationToken`` paging that keeps the first request's filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from channelsync.testing.fakes import FakeOrder, PageKind
from channelsync_amazon.fake.orders import (
    csv_param,
    order_by_id,
    select_orders,
    shipped_quantities,
)
from channelsync_amazon.fake.wire import FakeRequestError, iso

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = ["FULFILLMENT_STATUSES", "get_order", "render_order", "search_orders"]

#: v0 ``OrderStatus`` (how the fake keeps it) -> v2026 ``FulfillmentStatus``.
FULFILLMENT_STATUSES: Mapping[str, str] = {
    "PendingAvailability": "PENDING_AVAILABILITY",
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "InvoiceUnconfirmed": "SHIPPED",
    "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
}
_V0_STATUS = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
_DATASETS = frozenset(
    {
        "BUYER",
        "RECIPIENT",
        "PROCEEDS",
        "EXPENSE",
        "PROMOTION",
        "CANCELLATION",
        "FULFILLMENT",
        "PACKAGES",
        "TAX",
        "PAYMENT",
        "FULFILLMENT_ORDERS",
    }
)


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": f"{amount:.2f}", "currencyCode": currency}


def _datasets(params: Mapping[str, str]) -> frozenset[str]:
    asked = frozenset(csv_param(params, "includedData"))
    if asked - _DATASETS:
        raise FakeRequestError(400, "InvalidInput", "includedData names an unknown dataset")
    return asked


def render_order(
    fake: FakeSellingPartner, order: FakeOrder, datasets: frozenset[str]
) -> dict[str, Any]:
    """Return the v2026 ``Order`` of a fake order with the ``includedData`` datasets."""
    priced = order.status != "Pending"  # Pending orders carry no prices yet (reference §6.1)
    shipped = shipped_quantities(order)
    items = []
    for line in order.lines:
        product: dict[str, Any] = {
            "asin": order.extra.get("asins", {}).get(line.line_id, "B000000000"),
            "title": line.title,
            "sellerSku": line.merchant_code or line.sku_id,
            "condition": {"conditionType": "New", "conditionSubtype": "New"},
        }
        if priced:
            product["price"] = {"unitPrice": _money(line.price, fake.currency)}
        item: dict[str, Any] = {
            "orderItemId": line.line_id,
            "quantityOrdered": line.quantity,
            "product": product,
        }
        if "FULFILLMENT" in datasets:
            done = shipped.get(line.line_id, 0)
            item["fulfillment"] = {
                "quantityFulfilled": done,
                "quantityUnfulfilled": line.quantity - done,
            }
        if "PROCEEDS" in datasets and priced:
            item["proceeds"] = {
                "proceedsTotal": _money(line.price * line.quantity, fake.currency),
                "breakdowns": [
                    {"type": "ITEM", "subtotal": _money(line.price * line.quantity, fake.currency)}
                ],
            }
        items.append(item)
    rendered: dict[str, Any] = {
        "orderId": order.order_id,
        "createdTime": iso(order.created),
        "lastUpdatedTime": iso(order.modified),
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": order.extra.get("marketplace_id", fake.marketplace_id),
            "marketplaceName": "Amazon.com",
        },
        "orderItems": items,
    }
    if "FULFILLMENT" in datasets:
        rendered["fulfillment"] = {
            "fulfillmentStatus": FULFILLMENT_STATUSES[order.status],
            "fulfilledBy": "AMAZON" if order.extra.get("fulfillment") == "AFN" else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
            "shipByWindow": {
                "earliestDateTime": iso(order.created + timedelta(days=1)),
                "latestDateTime": iso(order.created + timedelta(days=3)),
            },
        }
    if "RECIPIENT" in datasets:
        rendered["recipient"] = {
            "deliveryAddress": {
                "name": order.receiver_name or None,
                "addressLine1": order.address or None,
                "city": order.city or "SEATTLE",
                "stateOrRegion": order.province or "WA",
                "postalCode": order.extra.get("postal_code", "98101"),
                "countryCode": order.extra.get("country", "US"),
                "phone": order.receiver_phone or None,
            }
        }
        rendered["recipient"]["deliveryAddress"] = {
            k: v for k, v in rendered["recipient"]["deliveryAddress"].items() if v is not None
        }
    if "PROCEEDS" in datasets and priced:
        breakdowns = [{"type": "ITEM", "subtotal": _money(order.total, fake.currency)}]
        if order.shipping_fee:
            breakdowns.append(
                {"type": "SHIPPING", "subtotal": _money(order.shipping_fee, fake.currency)}
            )
        if order.discount:
            breakdowns.append(
                {"type": "DISCOUNT", "subtotal": _money(-order.discount, fake.currency)}
            )
        total = order.total + order.shipping_fee - order.discount
        rendered["proceeds"] = {
            "grandTotal": _money(total, fake.currency),
            "breakdowns": breakdowns,
        }
    if "PACKAGES" in datasets and order.shipments:
        rendered["packages"] = [
            {
                "packageReferenceId": reference,
                "carrier": next(
                    (s.carrier_code for s in order.shipments if s.tracking_number == tracking), None
                )
                or "Other",
                "trackingNumber": tracking,
                "packageItems": [
                    {"orderItemId": line_id, "quantity": quantity}
                    for line_id, quantity in order.extra.get("packages", {})
                    .get(reference, {})
                    .items()
                ],
            }
            for reference, tracking in order.extra.get("package_tracking", {}).items()
        ]
    return rendered


def search_orders(fake: FakeSellingPartner, params: Mapping[str, str]) -> dict[str, Any]:
    """Answer ``searchOrders``."""
    marketplaces = csv_param(params, "marketplaceIds")
    if not marketplaces or len(marketplaces) > 50:
        raise FakeRequestError(400, "InvalidInput", "marketplaceIds: 1 to 50 ids are required")
    if any(m not in fake.marketplace_ids for m in marketplaces):
        raise FakeRequestError(400, "InvalidInput", "marketplaceIds names an unknown marketplace")
    datasets = _datasets(params)
    token = params.get("paginationToken")
    if token is not None:
        state = fake.order_tokens.pop(token, None)
        if state is None:
            raise FakeRequestError(400, "InvalidInput", "Invalid paginationToken")
        matched, offset, size, echo = state
    else:
        statuses = csv_param(params, "fulfillmentStatuses")
        if set(statuses) - set(_V0_STATUS):
            raise FakeRequestError(400, "InvalidInput", "fulfillmentStatuses has an unknown status")
        by = csv_param(params, "fulfilledBy")
        if set(by) - {"MERCHANT", "AMAZON"}:
            raise FakeRequestError(400, "InvalidInput", "fulfilledBy must be MERCHANT or AMAZON")
        matched, echo = select_orders(
            fake,
            created_after=params.get("createdAfter"),
            created_before=params.get("createdBefore"),
            updated_after=params.get("lastUpdatedAfter"),
            updated_before=params.get("lastUpdatedBefore"),
            page_size=params.get("maxResultsPerPage", "100"),
            statuses=[_V0_STATUS[s] for s in statuses],
            channels=["AFN" if b == "AMAZON" else "MFN" for b in by],
            names=("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore"),
            size_name="maxResultsPerPage",
        )
        size = int(params.get("maxResultsPerPage", "100"))
        offset = 0
    page = matched[offset : offset + size]
    answer: dict[str, Any] = {
        "orders": [render_order(fake, fake.store.orders[o], datasets) for o in page],
        **echo,
    }
    if offset + size < len(matched):
        next_token = fake.token("orders")
        fake.order_tokens[next_token] = (matched, offset + size, size, echo)
        answer["pagination"] = {"nextToken": next_token}
    fake.page_served(PageKind.ORDERS, "searchOrders", page)
    return answer


def get_order(fake: FakeSellingPartner, order_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Answer ``getOrder`` (v2026-01-01)."""
    return {"order": render_order(fake, order_by_id(fake, order_id), _datasets(params))}
