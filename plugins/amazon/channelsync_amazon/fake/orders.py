"""The fake's Orders API v0: getOrders, getOrder, getOrderItems, confirmShipment.

Orders keep Amazon's rules from the reference: ``MarketplaceIds`` required (at most
50), exactly one of ``CreatedAfter``/``LastUpdatedAfter``, the "before" bounds at
least two minutes before now, ``MaxResultsPerPage`` 1-100, ``NextToken`` paging that
keeps the first request's filters; ``Pending`` orders carry no prices; a confirmed
shipment moves ``Unshipped`` to ``Shipped`` (or ``PartiallyShipped``) and answers 204.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from channelsync.testing.fakes import FakeOrder, FakeShipment, PageKind
from channelsync_amazon.fake.wire import FakeRequestError, iso, parse_iso, read_json

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = [
    "AMAZON_CARRIER_CODES",
    "confirm_shipment",
    "csv_param",
    "get_order",
    "get_order_items",
    "get_orders",
    "order_by_id",
    "render_order",
    "select_orders",
    "shipped_quantities",
]

#: Carrier codes the fake accepts (a subset of Amazon's list, plus ``Other``).
AMAZON_CARRIER_CODES = frozenset(
    {"UPS", "USPS", "FedEx", "DHL", "Royal Mail", "Canada Post", "China Post", "Other"}
)
_LAG = timedelta(minutes=2)
_STATUSES = frozenset(
    {
        "PendingAvailability",
        "Pending",
        "Unshipped",
        "PartiallyShipped",
        "Shipped",
        "InvoiceUnconfirmed",
        "Canceled",
        "Unfulfillable",
    }
)


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"CurrencyCode": currency, "Amount": f"{amount:.2f}"}


def shipped_quantities(order: FakeOrder) -> dict[str, int]:
    """Return the units shipped per order item (kept in the order's extra)."""
    shipped: dict[str, int] = order.extra.setdefault("shipped", {})
    return shipped


def render_order(fake: FakeSellingPartner, order: FakeOrder) -> dict[str, Any]:
    """Return the v0 ``Order`` of a fake order."""
    shipped = shipped_quantities(order)
    count_shipped = sum(shipped.values())
    count = sum(line.quantity for line in order.lines)
    rendered: dict[str, Any] = {
        "AmazonOrderId": order.order_id,
        "PurchaseDate": iso(order.created),
        "LastUpdateDate": iso(order.modified),
        "OrderStatus": order.status,
        "FulfillmentChannel": order.extra.get("fulfillment", "MFN"),
        "SalesChannel": "Amazon.com",
        "ShipServiceLevel": "Std US D2D Dom",
        "NumberOfItemsShipped": count_shipped,
        "NumberOfItemsUnshipped": count - count_shipped,
        "PaymentMethod": "Other",
        "MarketplaceId": order.extra.get("marketplace_id", fake.marketplace_id),
        "ShipmentServiceLevelCategory": "Standard",
        "OrderType": "StandardOrder",
        "EarliestShipDate": iso(order.created + timedelta(days=1)),
        "LatestShipDate": iso(order.created + timedelta(days=3)),
        "IsBusinessOrder": False,
        "IsPrime": False,
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "ShippingAddress": {
            "City": order.city or "SEATTLE",
            "StateOrRegion": order.province or "WA",
            "PostalCode": order.extra.get("postal_code", "98101"),
            "CountryCode": order.extra.get("country", "US"),
        },
    }
    if order.status != "Pending":
        total = order.total + order.shipping_fee - order.discount
        rendered["OrderTotal"] = _money(total, fake.currency)
    return rendered


def _render_item(fake: FakeSellingPartner, order: FakeOrder, index: int) -> dict[str, Any]:
    line = order.lines[index]
    item: dict[str, Any] = {
        "ASIN": order.extra.get("asins", {}).get(line.line_id, "B000000000"),
        "SellerSKU": line.merchant_code or line.sku_id,
        "OrderItemId": line.line_id,
        "Title": line.title,
        "QuantityOrdered": line.quantity,
        "QuantityShipped": shipped_quantities(order).get(line.line_id, 0),
        "IsGift": "false",
        "ConditionId": "New",
        "ConditionSubtypeId": "New",
    }
    if order.status != "Pending":
        # Pending orders have no prices, taxes or promotions yet (reference §6.1).
        item["ItemPrice"] = _money(line.price * line.quantity, fake.currency)
        item["ShippingPrice"] = _money(Decimal("0"), fake.currency)
        item["ItemTax"] = _money(Decimal("0"), fake.currency)
        item["PromotionDiscount"] = _money(Decimal("0"), fake.currency)
    return item


def csv_param(params: Mapping[str, str], name: str) -> list[str]:
    """Return a comma-separated query parameter's values (empty when absent)."""
    value = params.get(name)
    return [part for part in value.split(",") if part] if value else []


def get_orders(fake: FakeSellingPartner, params: Mapping[str, str]) -> dict[str, Any]:
    """Answer ``getOrders``."""
    marketplaces = csv_param(params, "MarketplaceIds")
    if not marketplaces or len(marketplaces) > 50:
        raise FakeRequestError(400, "InvalidInput", "MarketplaceIds: 1 to 50 ids are required")
    if any(m not in fake.marketplace_ids for m in marketplaces):
        raise FakeRequestError(400, "InvalidInput", "MarketplaceIds names an unknown marketplace")
    token = params.get("NextToken")
    if token is not None:
        state = fake.order_tokens.pop(token, None)
        if state is None:
            raise FakeRequestError(400, "InvalidInput", "Invalid NextToken")
        matched, offset, size, echo = state
    else:
        matched, echo = _filter(fake, params)
        size = int(params.get("MaxResultsPerPage", "100"))
        offset = 0
    page = matched[offset : offset + size]
    payload: dict[str, Any] = {
        "Orders": [render_order(fake, fake.store.orders[o]) for o in page],
        **echo,
    }
    if offset + size < len(matched):
        next_token = fake.token("orders")
        fake.order_tokens[next_token] = (matched, offset + size, size, echo)
        payload["NextToken"] = next_token
    fake.page_served(PageKind.ORDERS, "getOrders", page)
    return {"payload": payload}


def _filter(
    fake: FakeSellingPartner, params: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    statuses = csv_param(params, "OrderStatuses")
    if set(statuses) - _STATUSES:
        raise FakeRequestError(400, "InvalidInput", "OrderStatuses has an unknown status")
    channels = csv_param(params, "FulfillmentChannels")
    if set(channels) - {"AFN", "MFN"}:
        raise FakeRequestError(400, "InvalidInput", "FulfillmentChannels must be AFN or MFN")
    return select_orders(
        fake,
        created_after=params.get("CreatedAfter"),
        created_before=params.get("CreatedBefore"),
        updated_after=params.get("LastUpdatedAfter"),
        updated_before=params.get("LastUpdatedBefore"),
        page_size=params.get("MaxResultsPerPage", "100"),
        statuses=statuses,
        channels=channels,
        names=("CreatedAfter", "CreatedBefore", "LastUpdatedAfter", "LastUpdatedBefore"),
        size_name="MaxResultsPerPage",
    )


def select_orders(
    fake: FakeSellingPartner,
    *,
    created_after: str | None,
    created_before: str | None,
    updated_after: str | None,
    updated_before: str | None,
    page_size: str,
    statuses: Sequence[str],
    channels: Sequence[str],
    names: tuple[str, str, str, str],
    size_name: str,
) -> tuple[list[str], dict[str, str]]:
    """Return the ids of the orders a search matches, oldest first, and the bound to echo.

    Amazon's rules for both versions: exactly one of the "after" bounds, no mixing of
    created and updated bounds, "before" at least two minutes before now (default: that
    moment), 1-100 results a page. ``names`` spell the four bounds in the caller's
    version (for errors and the echoed bound); ``statuses`` are v0 status names and
    ``channels`` ``AFN``/``MFN``.
    """
    now = fake.clock.now()
    created, updated = created_after is not None, updated_after is not None
    if created == updated:
        raise FakeRequestError(
            400, "InvalidInput", f"Exactly one of {names[0]} and {names[2]} is required"
        )
    if (created_before is not None and not created) or (updated_before is not None and created):
        raise FakeRequestError(
            400,
            "InvalidInput",
            f"{names[0]}/{names[1]} and {names[2]}/{names[3]} cannot be combined",
        )
    after_name, before_name = names[:2] if created else names[2:]
    after = parse_iso(str(created_after if created else updated_after), after_name)
    raw_before = created_before if created else updated_before
    if raw_before is None:
        before = now - _LAG
    else:
        before = parse_iso(raw_before, before_name)
        if before > now - _LAG:
            raise FakeRequestError(
                400,
                "InvalidInput",
                f"{before_name} must be at least 2 minutes before the current time",
            )
    if after > now - _LAG:
        raise FakeRequestError(400, "InvalidInput", f"{after_name} must be 2 minutes in the past")
    if before < after:
        raise FakeRequestError(400, "InvalidInput", f"{before_name} must not precede {after_name}")
    _check_page_size(fake, page_size, size_name)
    wanted_statuses, wanted_channels = set(statuses), set(channels)
    matched = []
    for order in fake.store.orders.values():
        moment = order.created if created else order.modified
        if not after <= moment <= before:
            continue
        if wanted_statuses and order.status not in wanted_statuses:
            continue
        if wanted_channels and order.extra.get("fulfillment", "MFN") not in wanted_channels:
            continue
        matched.append(order)
    matched.sort(key=lambda o: (o.created if created else o.modified, o.order_id))
    return [o.order_id for o in matched], {before_name: iso(before)}


def _check_page_size(fake: FakeSellingPartner, page_size: str, name: str) -> None:
    try:
        size = int(page_size)
    except ValueError:
        size = 0
    most = fake.page_size_limit(100)
    if not 1 <= size <= most:
        raise FakeRequestError(400, "InvalidInput", f"{name} must be 1 to {most}")


def order_by_id(fake: FakeSellingPartner, order_id: str) -> FakeOrder:
    """Return the order ``order_id`` names, or raise Amazon's 404."""
    order = fake.store.orders.get(order_id)
    if order is None:
        raise FakeRequestError(404, "NotFound", f"Order {order_id} was not found")
    return order


def get_order(fake: FakeSellingPartner, order_id: str) -> dict[str, Any]:
    """Answer ``getOrder``."""
    return {"payload": render_order(fake, order_by_id(fake, order_id))}


def get_order_items(
    fake: FakeSellingPartner, order_id: str, params: Mapping[str, str]
) -> dict[str, Any]:
    """Answer ``getOrderItems``, ``items_page_size`` items per page."""
    order = order_by_id(fake, order_id)
    offset = 0
    token = params.get("NextToken")
    if token is not None:
        state = fake.item_tokens.pop(token, None)
        if state is None or state[0] != order_id:
            raise FakeRequestError(400, "InvalidInput", "Invalid NextToken")
        offset = state[1]
    end = offset + fake.items_page_size
    payload: dict[str, Any] = {
        "AmazonOrderId": order_id,
        "OrderItems": [
            _render_item(fake, order, i) for i in range(offset, min(end, len(order.lines)))
        ],
    }
    if end < len(order.lines):
        next_token = fake.token("items")
        fake.item_tokens[next_token] = (order_id, end)
        payload["NextToken"] = next_token
    return {"payload": payload}


def _package(fake: FakeSellingPartner, order: FakeOrder, request: Any) -> dict[str, Any]:
    """Return the checked ``packageDetail`` of a confirmation."""
    body = read_json(request)
    package = body.get("packageDetail") if isinstance(body, dict) else None
    if not isinstance(package, dict) or body.get("marketplaceId") not in fake.marketplace_ids:
        raise FakeRequestError(400, "InvalidInput", "marketplaceId and packageDetail are required")
    if order.extra.get("fulfillment") == "AFN":
        raise FakeRequestError(400, "InvalidInput", "Amazon-fulfilled orders cannot be confirmed")
    if order.status not in ("Unshipped", "PartiallyShipped", "Shipped"):
        raise FakeRequestError(400, "InvalidInput", f"Order is {order.status}; it cannot ship")
    reference = package.get("packageReferenceId")
    if not isinstance(reference, str) or not reference.isdigit() or int(reference) <= 0:
        raise FakeRequestError(400, "InvalidInput", "packageReferenceId must be a positive number")
    carrier = package.get("carrierCode")
    if carrier not in AMAZON_CARRIER_CODES:
        raise FakeRequestError(400, "InvalidInput", f"carrierCode {carrier!r} is not supported")
    if carrier == "Other" and not package.get("carrierName"):
        raise FakeRequestError(
            400, "InvalidInput", "carrierName is required with carrierCode Other"
        )
    tracking = package.get("trackingNumber")
    if not isinstance(tracking, str) or not tracking:
        raise FakeRequestError(400, "InvalidInput", "trackingNumber is required")
    items = package.get("orderItems")
    if not isinstance(items, list) or not items:
        raise FakeRequestError(400, "InvalidInput", "orderItems is required")
    package["shipDate"] = parse_iso(str(package.get("shipDate", "")), "shipDate")
    return package


def confirm_shipment(fake: FakeSellingPartner, order_id: str, request: Any) -> None:
    """Apply ``confirmShipment``; raises :class:`FakeRequestError` for what Amazon refuses."""
    order = order_by_id(fake, order_id)
    package = _package(fake, order, request)
    reference, tracking = package["packageReferenceId"], package["trackingNumber"]
    lines = {line.line_id: line for line in order.lines}
    previous = order.extra.setdefault("packages", {}).get(reference, {})
    planned = dict(shipped_quantities(order))
    for key, quantity in previous.items():
        planned[key] -= quantity  # confirming the same package again edits it
    package_lines: dict[str, int] = {}
    for entry in package["orderItems"]:
        line_id = entry.get("orderItemId") if isinstance(entry, dict) else None
        quantity = entry.get("quantity") if isinstance(entry, dict) else None
        line = lines.get(line_id) if isinstance(line_id, str) else None
        if line is None or not isinstance(quantity, int) or quantity <= 0:
            raise FakeRequestError(400, "InvalidInput", f"orderItemId {line_id!r} is not valid")
        if planned.get(line.line_id, 0) + quantity > line.quantity:
            raise FakeRequestError(400, "InvalidInput", f"quantity exceeds {line.line_id}'s")
        planned[line.line_id] = planned.get(line.line_id, 0) + quantity
        package_lines[line.line_id] = package_lines.get(line.line_id, 0) + quantity
    order.extra["shipped"] = planned
    order.extra["packages"][reference] = package_lines
    tracking_of = order.extra.setdefault("package_tracking", {})
    replaced = tracking_of.get(reference)
    order.shipments = [s for s in order.shipments if s.tracking_number != replaced]
    tracking_of[reference] = tracking
    order.extra.setdefault("carrier_names", {})[reference] = package.get("carrierName")
    order.shipments.append(
        FakeShipment(
            order_id,
            str(package["carrierCode"]),
            tracking,
            package["shipDate"],
            tuple(package_lines),
        )
    )
    complete = all(planned.get(line.line_id, 0) >= line.quantity for line in order.lines)
    order.status = "Shipped" if complete else "PartiallyShipped"
    order.modified = fake.clock.now()
    fake.store.changed(order, "shipped")
