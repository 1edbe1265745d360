"""Orders API v2026-01-01: the query, the order model, and what a read costs on the fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from channelsync_amazon import AmazonChannel
from channelsync_amazon.fake import FakeSellingPartner
from channelsync_amazon.fake.orders_v2026 import search_orders
from channelsync_amazon.fake.wire import FakeRequestError
from channelsync_amazon.orders_v2026 import build_order, search_params

from channelsync.channels import PullCursor, TimeWindow
from channelsync.clock import FakeClock
from channelsync.errors import DataError
from channelsync.models import Money, OrderStatus

START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)


def _order(**extra: Any) -> dict[str, Any]:
    """A v2026 ``Order`` with the FULFILLMENT, RECIPIENT and PROCEEDS datasets."""
    return {
        "orderId": "902-1845936-5435065",
        "createdTime": "2024-03-01T04:00:00Z",
        "lastUpdatedTime": "2024-03-01T05:00:00.000Z",
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER"},
        "fulfillment": {"fulfillmentStatus": "UNSHIPPED", "fulfilledBy": "MERCHANT"},
        "orderItems": [
            {
                "orderItemId": "OI-1",
                "quantityOrdered": 3,
                "product": {
                    "asin": "B000000001",
                    "sellerSku": "MUG",
                    "title": "Mug",
                    "price": {"unitPrice": {"amount": "9.99", "currencyCode": "USD"}},
                },
            }
        ],
        "proceeds": {
            "grandTotal": {"amount": "31.47", "currencyCode": "USD"},
            "breakdowns": [
                {"type": "ITEM", "subtotal": {"amount": "29.97", "currencyCode": "USD"}},
                {"type": "SHIPPING", "subtotal": {"amount": "2.50", "currencyCode": "USD"}},
                {"type": "DISCOUNT", "subtotal": {"amount": "-1.00", "currencyCode": "USD"}},
            ],
        },
        "recipient": {
            "deliveryAddress": {
                "name": "Jane Doe",
                "addressLine1": "1 Main St",
                "city": "SEATTLE",
                "stateOrRegion": "WA",
                "postalCode": "98101",
                "countryCode": "US",
                "phone": "+1 206 555 0100",
            }
        },
        **extra,
    }


def test_the_search_query_sends_arrays_comma_separated_and_asks_for_the_datasets() -> None:
    window = TimeWindow(start=START, end=START + timedelta(hours=1))
    first = search_params(window, ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"], "MFN", None)
    assert first == {
        "marketplaceIds": "ATVPDKIKX0DER,A2EUQ1WTGCTBG2",
        "includedData": "FULFILLMENT,RECIPIENT,PROCEEDS",
        "lastUpdatedAfter": "2024-03-01T04:00:00Z",
        "lastUpdatedBefore": "2024-03-01T05:00:00Z",
        "fulfilledBy": "MERCHANT",
        "maxResultsPerPage": "100",
    }
    assert search_params(None, ["A"], "AFN", "tok") == {
        "marketplaceIds": "A",
        "includedData": "FULFILLMENT,RECIPIENT,PROCEEDS",
        "paginationToken": "tok",
    }
    assert search_params(window, ["A"], "AFN", None)["fulfilledBy"] == "AMAZON"


def test_an_order_is_read_with_its_money_address_and_status() -> None:
    order = build_order("az", _order())
    assert order is not None
    assert (order.status, order.raw_status) == (OrderStatus.PAID, "UNSHIPPED")
    assert order.total == Money.of("31.47", "USD")
    assert order.shipping_fee == Money.of("2.50", "USD")
    assert order.discount == Money.of("1.00", "USD")
    [line] = order.lines
    assert (line.line_id, line.merchant_code, line.quantity) == ("OI-1", "MUG", 3)
    assert line.unit_price == Money.of("9.99", "USD")
    assert order.shipping_address is not None
    assert order.shipping_address.street == "1 Main St"
    assert order.shipping_address.country == "US"
    assert order.created_at == START
    assert order.updated_at == START + timedelta(hours=1)
    assert not order.on_hold


@pytest.mark.parametrize("amount", ["-1.00", "1.00"])
def test_a_discount_is_kept_positive_whatever_the_sign_of_its_subtotal(amount: str) -> None:
    record = _order()
    record["proceeds"]["breakdowns"][2]["subtotal"]["amount"] = amount
    order = build_order("az", record)
    assert order is not None
    assert order.discount == Money.of("1.00", "USD")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PENDING_AVAILABILITY", OrderStatus.PENDING_PAYMENT),
        ("PENDING", OrderStatus.PENDING_PAYMENT),
        ("PARTIALLY_SHIPPED", OrderStatus.PARTIALLY_SHIPPED),
        ("SHIPPED", OrderStatus.SHIPPED),
        ("CANCELLED", OrderStatus.CANCELLED),
        ("UNFULFILLABLE", OrderStatus.CANCELLED),
    ],
)
def test_every_fulfillment_status_has_a_meaning(status: str, expected: OrderStatus) -> None:
    order = build_order("az", _order(fulfillment={"fulfillmentStatus": status}))
    assert order is not None
    assert order.status is expected


def test_a_pending_order_without_prices_is_read_in_the_marketplace_currency() -> None:
    record = _order(fulfillment={"fulfillmentStatus": "PENDING"})
    del record["proceeds"]
    del record["orderItems"][0]["product"]["price"]
    order = build_order("az", record)
    assert order is not None
    assert order.lines[0].unit_price == Money.zero("USD")
    assert order.total == Money.zero("USD")


def test_an_amazon_fulfilled_order_is_on_hold() -> None:
    order = build_order(
        "az", _order(fulfillment={"fulfillmentStatus": "SHIPPED", "fulfilledBy": "AMAZON"})
    )
    assert order is not None
    assert order.on_hold
    assert not order.can_ship


def test_an_order_without_positive_lines_is_skipped() -> None:
    record = _order()
    record["orderItems"][0]["quantityOrdered"] = 0
    assert build_order("az", record) is None


@pytest.mark.parametrize(
    "change",
    [
        {"fulfillment": {"fulfillmentStatus": "LOST"}},
        {"fulfillment": None},
        {"createdTime": "yesterday"},
        {"proceeds": {"grandTotal": {"amount": 31.47, "currencyCode": "USD"}}},
        {"proceeds": {"grandTotal": {"amount": "lots", "currencyCode": "USD"}}},
        {"orderItems": "none"},
    ],
)
def test_an_answer_that_breaks_the_model_is_a_data_error(change: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="902-1845936-5435065"):
        build_order("az", _order(**change))


def test_a_floating_point_price_is_refused() -> None:
    record = _order()
    record["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = 9.99
    with pytest.raises(DataError, match="decimal string"):
        build_order("az", record)


# -- on the fake ------------------------------------------------------------------------


async def test_one_order_costs_one_call(
    channel: AmazonChannel, fake: FakeSellingPartner, wire: Any
) -> None:
    made = fake.generate_orders(1)[0]
    order = await channel.get_order(made.order_id)
    assert {line.line_id for line in order.lines} == {line.line_id for line in made.lines}
    assert order.shipping_address is not None
    assert order.shipping_address.city == made.city
    assert wire.checked["getOrder"] == 1
    assert wire.checked["getOrderItems"] == 0


async def test_a_thousand_new_orders_cost_ten_search_calls(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock, wire: Any
) -> None:
    for index in range(200):
        fake.add_listing(f"BULK-{index}", "Bulk", Decimal("1.00"), 100)
    assert len(fake.generate_orders(1000)) == 1000
    clock.advance(600)
    pull = await channel.pull_orders(PullCursor.starting_at(START - timedelta(minutes=1)))
    assert len(pull.orders) == 1000
    assert wire.checked["searchOrders"] == 10
    assert wire.checked["getOrderItems"] == wire.checked["getOrders"] == 0


async def test_v0_stays_available_until_amazon_retires_it(
    make: Callable[..., AmazonChannel], fake: FakeSellingPartner, clock: FakeClock, wire: Any
) -> None:
    made = fake.generate_orders(2)
    clock.advance(600)
    async with make(orders_api="v0") as channel:
        pull = await channel.pull_orders(PullCursor.starting_at(START - timedelta(minutes=1)))
    assert {o.order_id for o in pull.orders} == {o.order_id for o in made}
    assert wire.checked["getOrders"] == 1
    assert wire.checked["getOrderItems"] == 2
    assert wire.checked["searchOrders"] == 0


def test_the_before_bound_must_be_two_minutes_old(
    fake: FakeSellingPartner, clock: FakeClock
) -> None:
    clock.advance(600)
    now = clock.now()
    fresh = (now - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(FakeRequestError, match="lastUpdatedBefore must be at least 2 minutes"):
        search_orders(
            fake,
            {
                "marketplaceIds": "ATVPDKIKX0DER",
                "lastUpdatedAfter": "2024-03-01T00:00:00Z",
                "lastUpdatedBefore": fresh,
            },
        )
