"""Orders API v0: the incremental order pull, one order, and the items a shipment names.

Amazon deprecated the v0 read operations (migrate by 2027-03-27): the channel reads
with :mod:`channelsync_amazon.orders_v2026` unless ``orders_api = "v0"``; both modules
have the same :class:`OrdersWire` surface (``search``, ``get``, ``shippable_items``,
``marketplace_of``).

v0 lists orders with ``getOrders`` (``LastUpdatedAfter``/``LastUpdatedBefore``, UTC,
the "before" bound at least two minutes in the past, ``NextToken`` paging) and their
lines with ``getOrderItems`` per order, which has its own, faster usage plan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from channelsync.channels import DetailCache, Page, TimeWindow, paginate
from channelsync.errors import DataError, ModelError
from channelsync.http import ChannelHttpClient
from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync_amazon.wire import (
    as_list,
    as_object,
    format_time,
    marketplace_currency,
    opt_int,
    opt_text,
    parse_address,
    parse_money,
    parse_time,
    require_text,
    sum_money,
)

__all__ = [
    "MAX_RESULTS_PER_PAGE",
    "ORDER_STATUSES",
    "OrdersWire",
    "ShippableItem",
    "build_order",
    "orders_params",
]

logger = logging.getLogger("channelsync_amazon.orders")

MAX_RESULTS_PER_PAGE = 100

#: v0 ``OrderStatus`` -> canonical status.
ORDER_STATUSES: Mapping[str, OrderStatus] = {
    "PendingAvailability": OrderStatus.PENDING_PAYMENT,
    "Pending": OrderStatus.PENDING_PAYMENT,
    "Unshipped": OrderStatus.PAID,
    "PartiallyShipped": OrderStatus.PARTIALLY_SHIPPED,
    "Shipped": OrderStatus.SHIPPED,
    "InvoiceUnconfirmed": OrderStatus.SHIPPED,
    "Canceled": OrderStatus.CANCELLED,
    # Multi-channel orders Amazon could not fulfil: they will never ship.
    "Unfulfillable": OrderStatus.CANCELLED,
}

AFN_HOLD = "fulfilled by Amazon (AFN): Amazon ships this order"


@dataclass(frozen=True, slots=True)
class ShippableItem:
    """An order line as a shipment confirmation names it."""

    order_item_id: str
    seller_sku: str | None
    quantity_ordered: int
    quantity_shipped: int


def orders_params(
    window: TimeWindow | None,
    marketplace_ids: Sequence[str],
    fulfillment: str,
    next_token: str | None,
    *,
    page_size: int = MAX_RESULTS_PER_PAGE,
) -> dict[str, str]:
    """Return one ``getOrders`` query: the window's filters, or the ``NextToken`` page."""
    params = {"MarketplaceIds": ",".join(marketplace_ids)}
    if next_token is not None:
        # NextToken keeps the first request's filters; only the marketplaces are resent.
        params["NextToken"] = next_token
        return params
    if window is None:
        raise ValueError("the first page needs a window")
    params["LastUpdatedAfter"] = format_time(window.start)
    params["LastUpdatedBefore"] = format_time(window.end)
    params["FulfillmentChannels"] = fulfillment
    params["MaxResultsPerPage"] = str(page_size)
    return params


def _payload(body: object, what: str) -> Mapping[str, Any]:
    record = as_object(body, what=what)
    if "payload" not in record:
        raise DataError(f"{what}: no 'payload'")
    return as_object(record["payload"], what=f"{what} payload")


def _money(value: object, what: str) -> Money:
    return parse_money(value, what=what, amount_key="Amount", currency_key="CurrencyCode")


#: ``Address`` field -> v0 ``ShippingAddress`` key.
_ADDRESS_KEYS = {
    "name": "Name",
    "phone": "Phone",
    "country": "CountryCode",
    "state": "StateOrRegion",
    "city": "City",
    "district": "District",
    "street": "AddressLine1",
    "line2": "AddressLine2",
    "postal_code": "PostalCode",
}


def build_order(channel: str, record: Mapping[str, Any], items: Sequence[Any]) -> Order | None:
    """Turn a v0 ``Order`` and its ``OrderItem`` list into an :class:`Order`.

    Returns ``None`` when no line has a positive quantity (nothing channelsync can
    represent); raises :class:`DataError` when the answer breaks the model.
    """
    order_id = require_text(record, "AmazonOrderId", what="order")
    what = f"order {order_id}"
    raw_status = require_text(record, "OrderStatus", what=what)
    status = ORDER_STATUSES.get(raw_status)
    if status is None:
        raise DataError(f"{what}: unknown OrderStatus {raw_status!r}")
    total = None if "OrderTotal" not in record else _money(record["OrderTotal"], f"{what} total")
    currency = (
        total.currency
        if total is not None
        else marketplace_currency(str(record.get("MarketplaceId", "")))
    )
    lines: list[OrderLine] = []
    shipping: list[Money] = []
    discounts: list[Money] = []
    for entry in items:
        item = as_object(entry, what=f"{what} item")
        item_id = require_text(item, "OrderItemId", what=f"{what} item")
        quantity = opt_int(item, "QuantityOrdered", what=f"{what} item {item_id}") or 0
        if quantity <= 0:
            continue
        sku = opt_text(item, "SellerSKU", what=f"{what} item {item_id}")
        line_total = (
            None if "ItemPrice" not in item else _money(item["ItemPrice"], f"{what} item price")
        )
        currency = currency or (line_total.currency if line_total is not None else None)
        if currency is None:
            raise DataError(f"{what}: no currency in the order or its items")
        # ItemPrice is the line total (price x quantity); Pending orders carry none yet.
        try:
            unit = (
                Money.zero(currency)
                if line_total is None
                else Money(
                    amount=line_total.amount / Decimal(quantity), currency=line_total.currency
                )
            ).quantize()
        except ArithmeticError:
            # decimal.InvalidOperation: an amount too large to hold in cents.
            raise DataError(f"{what} item {item_id}: ItemPrice is out of range") from None
        for key, bucket in (("ShippingPrice", shipping), ("PromotionDiscount", discounts)):
            if key in item:
                bucket.append(_money(item[key], f"{what} item {key}"))
        try:
            line = OrderLine(
                line_id=item_id,
                item_id=sku or require_text(item, "ASIN", what=f"{what} item"),
                merchant_code=sku,
                title=opt_text(item, "Title", what=f"{what} item"),
                quantity=quantity,
                unit_price=unit,
            )
        except (ModelError, ValidationError) as exc:
            # An empty SellerSKU or a bad id: the answer is unusable, not our bug.
            raise DataError(f"{what} item {item_id}: {exc}") from None
        lines.append(line)
    if not lines:
        return None
    assert currency is not None  # every kept line set it
    afn = record.get("FulfillmentChannel") == "AFN"
    try:
        return Order(
            channel=channel,
            order_id=order_id,
            status=status,
            raw_status=raw_status,
            created_at=parse_time(record.get("PurchaseDate"), what=f"{what} PurchaseDate"),
            updated_at=parse_time(record.get("LastUpdateDate"), what=f"{what} LastUpdateDate"),
            lines=tuple(lines),
            total=total
            or sum_money([line.total for line in lines], currency)
            or Money.zero(currency),
            shipping_fee=sum_money(shipping, currency),
            discount=sum_money(discounts, currency),
            shipping_address=parse_address(
                record.get("ShippingAddress"), what=f"{what} address", keys=_ADDRESS_KEYS
            ),
            on_hold=afn,
            hold_reason=AFN_HOLD if afn else None,
        )
    except (ModelError, ValidationError) as exc:
        raise DataError(f"{what}: {exc}") from None


class OrdersWire:
    """The Orders API calls the channel needs, on v0."""

    def __init__(
        self,
        client: ChannelHttpClient,
        *,
        channel: str,
        marketplace_ids: Sequence[str],
        fulfillment: str,
        details: DetailCache[Order] | None = None,
        page_size: int = MAX_RESULTS_PER_PAGE,
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._channel = channel
        self._marketplace_ids = tuple(marketplace_ids)
        self._fulfillment = fulfillment
        self._details: DetailCache[Order] = details if details is not None else DetailCache()

    async def search(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order last updated inside ``window``, with its lines."""

        async def fetch(token: str) -> Page[Mapping[str, Any], str]:
            body = await self._client.request_json(
                "GET",
                "/orders/v0/orders",
                operation="getOrders",
                params=orders_params(
                    window,
                    self._marketplace_ids,
                    self._fulfillment,
                    token or None,
                    page_size=self._page_size,
                ),
            )
            payload = _payload(body, "getOrders answer")
            if "Orders" not in payload:
                raise DataError("getOrders answer: payload has no 'Orders'")
            orders = [as_object(o, what="order") for o in as_list(payload["Orders"], what="Orders")]
            return Page(orders, opt_text(payload, "NextToken", what="getOrders answer") or None)

        async for record in paginate(fetch, "", what="getOrders pages"):
            order_id = require_text(record, "AmazonOrderId", what="order")
            # The overlap window lists unchanged orders again; getOrderItems (0.5 calls
            # per second) is spent once per update of the order.
            updated = opt_text(record, "LastUpdateDate", what="order")
            order = self._details.get(order_id, updated)
            if order is None:
                order = build_order(self._channel, record, await self._items(order_id))
                if order is not None:
                    self._details.put(order_id, updated, order)
            if order is None:
                logger.warning(
                    "order %s has no line with a positive quantity; skipped",
                    order_id,
                    extra={"channel": self._channel, "operation": "getOrders"},
                )
                continue
            yield order

    async def get(self, order_id: str) -> Order:
        """Return one order with its lines (``NotFoundError`` when Amazon has none)."""
        body = await self._client.request_json(
            "GET", f"/orders/v0/orders/{order_id}", operation="getOrder"
        )
        record = _payload(body, "getOrder answer")
        order = build_order(self._channel, record, await self._items(order_id))
        if order is None:
            raise DataError(f"order {order_id} has no line with a positive quantity")
        return order

    async def marketplace_of(self, order_id: str) -> str:
        """Return the marketplace the order was placed in."""
        if len(self._marketplace_ids) == 1:
            return self._marketplace_ids[0]
        body = await self._client.request_json(
            "GET", f"/orders/v0/orders/{order_id}", operation="getOrder"
        )
        record = _payload(body, "getOrder answer")
        return require_text(record, "MarketplaceId", what=f"order {order_id}")

    async def shippable_items(self, order_id: str) -> list[ShippableItem]:
        """Return the order's items with ordered and shipped quantities."""
        found = []
        for entry in await self._items(order_id):
            item = as_object(entry, what=f"order {order_id} item")
            what = f"order {order_id} item"
            found.append(
                ShippableItem(
                    order_item_id=require_text(item, "OrderItemId", what=what),
                    seller_sku=opt_text(item, "SellerSKU", what=what),
                    quantity_ordered=opt_int(item, "QuantityOrdered", what=what) or 0,
                    quantity_shipped=opt_int(item, "QuantityShipped", what=what) or 0,
                )
            )
        return found

    async def _items(self, order_id: str) -> list[Any]:
        async def fetch(token: str) -> Page[Any, str]:
            body = await self._client.request_json(
                "GET",
                f"/orders/v0/orders/{order_id}/orderItems",
                operation="getOrderItems",
                params={"NextToken": token} if token else None,
            )
            payload = _payload(body, "getOrderItems answer")
            if "OrderItems" not in payload:
                raise DataError("getOrderItems answer: payload has no 'OrderItems'")
            items = list(as_list(payload["OrderItems"], what="OrderItems"))
            return Page(items, opt_text(payload, "NextToken", what="getOrderItems") or None)

        return [item async for item in paginate(fetch, "", what="getOrderItems pages")]
