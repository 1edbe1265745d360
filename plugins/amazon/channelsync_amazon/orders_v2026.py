"""Orders API v2026-01-01: the order pull, one order, and the items a shipment names.

The successor of the deprecated v0 reads (migrate by 2027-03-27), with the same
:class:`OrdersWire` surface as :mod:`channelsync_amazon.orders_v0`. ``searchOrders``
returns every order *with its items*, so a page of 100 orders costs one call where v0
spent one ``getOrders`` call plus one ``getOrderItems`` call per order (0.5 calls a
second); ``getOrder`` returns one order with its items in one call (an event's
targeted read). The answers have no ``payload`` envelope, camelCase fields, money as
``{"amount": "19.99", "currencyCode": "USD"}`` (a decimal string), the status in
``fulfillment.fulfillmentStatus`` and optional datasets only when ``includedData``
asks for them: the pull asks for ``FULFILLMENT`` (status, who ships), ``RECIPIENT``
(the delivery address a shipment needs) and ``PROCEEDS`` (order total, shipping,
discounts).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from channelsync.channels import Page, TimeWindow, paginate
from channelsync.errors import DataError, ModelError
from channelsync.http import ChannelHttpClient
from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync_amazon.orders_v0 import AFN_HOLD, MAX_RESULTS_PER_PAGE, ShippableItem
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
    "FULFILLMENT_STATUSES",
    "GET_ORDER",
    "INCLUDED_DATA",
    "SEARCH_ORDERS",
    "OrdersWire",
    "build_order",
    "search_params",
]

logger = logging.getLogger("channelsync_amazon.orders")

SEARCH_ORDERS = "searchOrders"
GET_ORDER = "getOrder"
_PATH = "/orders/2026-01-01/orders"

#: The datasets every read asks for: status and who ships, the address, the money.
INCLUDED_DATA = ("FULFILLMENT", "RECIPIENT", "PROCEEDS")

#: v2026 ``FulfillmentStatus`` -> canonical status.
FULFILLMENT_STATUSES: Mapping[str, OrderStatus] = {
    "PENDING_AVAILABILITY": OrderStatus.PENDING_PAYMENT,
    "PENDING": OrderStatus.PENDING_PAYMENT,
    "UNSHIPPED": OrderStatus.PAID,
    "PARTIALLY_SHIPPED": OrderStatus.PARTIALLY_SHIPPED,
    "SHIPPED": OrderStatus.SHIPPED,
    "CANCELLED": OrderStatus.CANCELLED,
    # Multi-channel orders Amazon could not fulfil: they will never ship.
    "UNFULFILLABLE": OrderStatus.CANCELLED,
}
_FULFILLED_BY = {"MFN": "MERCHANT", "AFN": "AMAZON"}


def search_params(
    window: TimeWindow | None,
    marketplace_ids: Sequence[str],
    fulfillment: str,
    token: str | None,
    *,
    page_size: int = MAX_RESULTS_PER_PAGE,
) -> dict[str, str]:
    """Return one ``searchOrders`` query: the window's filters, or the next page's token.

    Arrays go comma-separated (the model's default collection format); the next page
    carries ``paginationToken`` with the marketplaces and datasets, as Amazon keeps the
    first request's filters.
    """
    params = {"marketplaceIds": ",".join(marketplace_ids), "includedData": ",".join(INCLUDED_DATA)}
    if token is not None:
        params["paginationToken"] = token
        return params
    if window is None:
        raise ValueError("the first page needs a window")
    params["lastUpdatedAfter"] = format_time(window.start)
    params["lastUpdatedBefore"] = format_time(window.end)
    params["fulfilledBy"] = _FULFILLED_BY[fulfillment]
    params["maxResultsPerPage"] = str(page_size)
    return params


def _money(value: object, what: str) -> Money:
    return parse_money(value, what=what, amount_key="amount", currency_key="currencyCode")


#: ``Address`` field -> v2026 ``CustomerAddress`` key.
_ADDRESS_KEYS = {
    "name": "name",
    "phone": "phone",
    "country": "countryCode",
    "state": "stateOrRegion",
    "city": "city",
    "district": "districtOrCounty",
    "street": "addressLine1",
    "line2": "addressLine2",
    "postal_code": "postalCode",
}


def _breakdown(proceeds: Mapping[str, Any], kind: str, what: str) -> Money | None:
    """Sum the order proceeds' breakdowns of one type (``SHIPPING``, ``DISCOUNT``)."""
    found: Money | None = None
    for entry in as_list(proceeds.get("breakdowns") or [], what=f"{what} breakdowns"):
        part = as_object(entry, what=f"{what} breakdown")
        if part.get("type") != kind:
            continue
        amount = _money(part.get("subtotal"), f"{what} {kind}")
        found = amount if found is None else found + amount
    return found


def _status(record: Mapping[str, Any], what: str) -> tuple[str, OrderStatus, bool]:
    fulfillment = as_object(record.get("fulfillment"), what=f"{what} fulfillment")
    raw = require_text(fulfillment, "fulfillmentStatus", what=f"{what} fulfillment")
    status = FULFILLMENT_STATUSES.get(raw)
    if status is None:
        raise DataError(f"{what}: unknown fulfillmentStatus {raw!r}")
    return raw, status, fulfillment.get("fulfilledBy") == "AMAZON"


def _line(item: Mapping[str, Any], currency: str, what: str) -> OrderLine | None:
    item_id = require_text(item, "orderItemId", what=f"{what} item")
    what = f"{what} item {item_id}"
    quantity = opt_int(item, "quantityOrdered", what=what) or 0
    if quantity <= 0:
        return None
    product = as_object(item.get("product") or {}, what=f"{what} product")
    sku = opt_text(product, "sellerSku", what=f"{what} product")
    price = product.get("price")
    unit_price = None if price is None else as_object(price, what=f"{what} price").get("unitPrice")
    # Pending orders carry no prices yet.
    unit = Money.zero(currency) if unit_price is None else _money(unit_price, f"{what} unitPrice")
    try:
        return OrderLine(
            line_id=item_id,
            item_id=sku or require_text(product, "asin", what=f"{what} product"),
            merchant_code=sku,
            title=opt_text(product, "title", what=f"{what} product"),
            quantity=quantity,
            unit_price=unit.quantize(),
        )
    except (ModelError, ValidationError, ArithmeticError) as exc:
        # An empty sellerSku, a bad id, an amount out of range: the answer is unusable.
        raise DataError(f"{what}: {exc}") from None


def build_order(channel: str, record: Mapping[str, Any]) -> Order | None:
    """Turn a v2026 ``Order`` (with the :data:`INCLUDED_DATA` datasets) into an :class:`Order`.

    Returns ``None`` when no line has a positive quantity (nothing channelsync can
    represent); raises :class:`DataError` when the answer breaks the model.
    """
    order_id = require_text(record, "orderId", what="order")
    what = f"order {order_id}"
    raw_status, status, afn = _status(record, what)
    proceeds = as_object(record.get("proceeds") or {}, what=f"{what} proceeds")
    total = (
        None if "grandTotal" not in proceeds else _money(proceeds["grandTotal"], f"{what} total")
    )
    sales_channel = as_object(record.get("salesChannel") or {}, what=f"{what} salesChannel")
    currency = (
        total.currency
        if total is not None
        else marketplace_currency(str(sales_channel.get("marketplaceId", "")))
    )
    items = as_list(record.get("orderItems"), what=f"{what} orderItems")
    if currency is None:
        currency = _first_item_currency(items, what)
    lines = []
    for entry in items:
        line = _line(as_object(entry, what=f"{what} item"), currency, what)
        if line is not None:
            lines.append(line)
    if not lines:
        return None
    recipient = as_object(record.get("recipient") or {}, what=f"{what} recipient")
    discount = _breakdown(proceeds, "DISCOUNT", what)
    try:
        return Order(
            channel=channel,
            order_id=order_id,
            status=status,
            raw_status=raw_status,
            created_at=parse_time(record.get("createdTime"), what=f"{what} createdTime"),
            updated_at=parse_time(record.get("lastUpdatedTime"), what=f"{what} lastUpdatedTime"),
            lines=tuple(lines),
            total=total
            or sum_money([line.total for line in lines], currency)
            or Money.zero(currency),
            shipping_fee=_breakdown(proceeds, "SHIPPING", what),
            # The model does not say the sign of a DISCOUNT subtotal; an Order keeps it positive.
            discount=None
            if discount is None
            else Money(amount=abs(discount.amount), currency=discount.currency),
            shipping_address=parse_address(
                recipient.get("deliveryAddress"), what=f"{what} address", keys=_ADDRESS_KEYS
            ),
            on_hold=afn,
            hold_reason=AFN_HOLD if afn else None,
        )
    except (ModelError, ValidationError) as exc:
        raise DataError(f"{what}: {exc}") from None


def _first_item_currency(items: Sequence[Any], what: str) -> str:
    for entry in items:
        product = as_object(as_object(entry, what=f"{what} item").get("product") or {}, what=what)
        price = product.get("price")
        if isinstance(price, Mapping) and isinstance(price.get("unitPrice"), Mapping):
            return _money(price["unitPrice"], f"{what} unitPrice").currency
    raise DataError(f"{what}: no currency in the order or its items")


class OrdersWire:
    """The Orders API calls the channel needs, on v2026-01-01."""

    def __init__(
        self,
        client: ChannelHttpClient,
        *,
        channel: str,
        marketplace_ids: Sequence[str],
        fulfillment: str,
        page_size: int = MAX_RESULTS_PER_PAGE,
    ) -> None:
        self._client = client
        self._channel = channel
        self._marketplace_ids = tuple(marketplace_ids)
        self._fulfillment = fulfillment
        self._page_size = page_size

    async def search(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order last updated inside ``window``, with its lines."""

        async def fetch(token: str) -> Page[Mapping[str, Any], str]:
            body = await self._client.request_json(
                "GET",
                _PATH,
                operation=SEARCH_ORDERS,
                params=search_params(
                    window,
                    self._marketplace_ids,
                    self._fulfillment,
                    token or None,
                    page_size=self._page_size,
                ),
            )
            answer = as_object(body, what="searchOrders answer")
            if "orders" not in answer:
                raise DataError("searchOrders answer: no 'orders'")
            orders = [as_object(o, what="order") for o in as_list(answer["orders"], what="orders")]
            pagination = as_object(answer.get("pagination") or {}, what="searchOrders pagination")
            return Page(orders, opt_text(pagination, "nextToken", what="pagination") or None)

        async for record in paginate(fetch, "", what="searchOrders pages"):
            order = build_order(self._channel, record)
            if order is None:
                logger.warning(
                    "order %s has no line with a positive quantity; skipped",
                    record.get("orderId"),
                    extra={"channel": self._channel, "operation": SEARCH_ORDERS},
                )
                continue
            yield order

    async def _record(self, order_id: str) -> Mapping[str, Any]:
        body = await self._client.request_json(
            "GET",
            f"{_PATH}/{order_id}",
            operation=GET_ORDER,
            params={"includedData": ",".join(INCLUDED_DATA)},
        )
        answer = as_object(body, what="getOrder answer")
        if "order" not in answer:
            raise DataError("getOrder answer: no 'order'")
        return as_object(answer["order"], what=f"order {order_id}")

    async def get(self, order_id: str) -> Order:
        """Return one order with its lines, in one call (``NotFoundError`` when unknown)."""
        order = build_order(self._channel, await self._record(order_id))
        if order is None:
            raise DataError(f"order {order_id} has no line with a positive quantity")
        return order

    async def marketplace_of(self, order_id: str) -> str:
        """Return the marketplace the order was placed in."""
        if len(self._marketplace_ids) == 1:
            return self._marketplace_ids[0]
        record = await self._record(order_id)
        channel = as_object(record.get("salesChannel"), what=f"order {order_id} salesChannel")
        return require_text(channel, "marketplaceId", what=f"order {order_id} salesChannel")

    async def shippable_items(self, order_id: str) -> list[ShippableItem]:
        """Return the order's items with ordered and shipped quantities."""
        record = await self._record(order_id)
        what = f"order {order_id} item"
        found = []
        for entry in as_list(record.get("orderItems"), what=f"order {order_id} orderItems"):
            item = as_object(entry, what=what)
            product = as_object(item.get("product") or {}, what=f"{what} product")
            done = as_object(item.get("fulfillment") or {}, what=f"{what} fulfillment")
            found.append(
                ShippableItem(
                    order_item_id=require_text(item, "orderItemId", what=what),
                    seller_sku=opt_text(product, "sellerSku", what=f"{what} product"),
                    quantity_ordered=opt_int(item, "quantityOrdered", what=what) or 0,
                    quantity_shipped=opt_int(done, "quantityFulfilled", what=what) or 0,
                )
            )
        return found
