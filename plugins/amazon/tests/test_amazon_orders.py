"""Orders through the fake (v2026-01-01, and v0 where told): windows, lag, paging, items,
statuses, money and time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from channelsync_amazon import AmazonChannel
from channelsync_amazon.fake import FakeSellingPartner
from channelsync_amazon.orders_v0 import build_order, orders_params

from channelsync.channels import PullCursor, TimeWindow
from channelsync.clock import FakeClock
from channelsync.errors import DataError
from channelsync.models import Money, OrderStatus

START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)


def test_order_polling_vector_from_the_reference() -> None:
    window = TimeWindow(start=START, end=START + timedelta(hours=1))
    first = orders_params(window, ["ATVPDKIKX0DER"], "MFN", None)
    assert first["LastUpdatedAfter"] == "2024-03-01T04:00:00Z"
    assert first["MaxResultsPerPage"] == "100"
    query = urlencode(
        {k: first[k] for k in ("MarketplaceIds", "LastUpdatedAfter", "MaxResultsPerPage")}
    )
    assert query == (
        "MarketplaceIds=ATVPDKIKX0DER&LastUpdatedAfter=2024-03-01T04%3A00%3A00Z"
        "&MaxResultsPerPage=100"
    )
    assert orders_params(None, ["A", "B"], "MFN", "tok") == {
        "MarketplaceIds": "A,B",
        "NextToken": "tok",
    }


def test_times_in_other_zones_are_sent_as_utc() -> None:
    beijing = START.astimezone(__import__("datetime").timezone(timedelta(hours=8)))
    window = TimeWindow(start=beijing, end=beijing + timedelta(minutes=5))
    assert orders_params(window, ["A"], "MFN", None)["LastUpdatedAfter"] == "2024-03-01T04:00:00Z"


async def test_pull_reads_new_orders_with_their_lines(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock, wire
) -> None:
    made = fake.generate_orders(3)
    clock.advance(600)
    pull = await channel.pull_orders(PullCursor.starting_at(START - timedelta(hours=1)))
    assert {o.order_id for o in pull.orders} == {o.order_id for o in made}
    assert pull.caught_up
    assert pull.window is not None
    assert pull.window.end <= clock.now() - timedelta(minutes=2)
    order = next(o for o in pull.orders if o.order_id == made[0].order_id)
    assert order.status is OrderStatus.PAID
    assert order.raw_status == "UNSHIPPED"
    assert order.created_at.tzinfo is not None
    assert order.created_at == START
    lines = {line.merchant_code: line for line in order.lines}
    for line in made[0].lines:
        assert lines[line.merchant_code].unit_price == Money.of(line.price, "USD")
        assert lines[line.merchant_code].quantity == line.quantity
    assert order.total == sum((line.total for line in order.lines), Money.zero("USD"))
    # The items come with each order: one search call, no call per order.
    assert wire.checked["searchOrders"] == 1
    assert wire.checked["getOrderItems"] == 0


async def test_windows_longer_than_the_maximum_are_split(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock, wire
) -> None:
    clock.advance(20 * 86400)
    cursor = PullCursor.starting_at(START)
    windows = []
    while True:
        pull = await channel.pull_orders(cursor)
        assert pull.window is not None
        windows.append(pull.window)
        cursor = pull.cursor
        if pull.caught_up:
            break
    assert len(windows) == 3
    assert all(w.end - w.start <= timedelta(days=7) for w in windows)
    assert wire.checked["searchOrders"] == 3


async def test_next_token_paging_and_an_exact_page(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock, wire
) -> None:
    for index in range(60):
        fake.add_listing(f"BULK-{index}", "Bulk", Decimal("1.00"), 100)
    made = fake.generate_orders(100)
    assert len(made) == 100
    clock.advance(600)
    pull = await channel.pull_orders(PullCursor.starting_at(START - timedelta(minutes=1)))
    assert len(pull.orders) == 100
    assert wire.checked["searchOrders"] == 1  # exactly one full page: no nextToken
    fake.generate_orders(1)
    clock.advance(600)
    pull = await channel.pull_orders(PullCursor.starting_at(START - timedelta(minutes=1)))
    assert len(pull.orders) == 101
    assert wire.checked["searchOrders"] == 3  # 100 + the last page of 1


async def test_empty_window(channel: AmazonChannel, clock: FakeClock, wire) -> None:
    clock.advance(600)
    pull = await channel.pull_orders(PullCursor.starting_at(START))
    assert pull.orders == ()
    assert wire.checked["getOrderItems"] == 0


async def test_v0_order_items_are_paged(
    make: Callable[..., AmazonChannel], fake: FakeSellingPartner, clock: FakeClock, wire
) -> None:
    fake.items_page_size = 1
    order = next(o for o in fake.generate_orders(10) if len(o.lines) > 1)
    async with make(orders_api="v0") as channel:
        fetched = await channel.get_order(order.order_id)
    assert len(fetched.lines) == len(order.lines)
    assert wire.checked["getOrderItems"] == len(order.lines)


async def test_pending_orders_have_no_prices_yet(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    order = fake.generate_orders(1)[0]
    fake.set_order_status(order.order_id, "Pending")
    fetched = await channel.get_order(order.order_id)
    assert fetched.status is OrderStatus.PENDING_PAYMENT
    assert all(line.unit_price == Money.zero("USD") for line in fetched.lines)


async def test_a_buyer_cancellation_is_seen_on_the_next_pull(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock
) -> None:
    order = fake.generate_orders(1)[0]
    clock.advance(600)
    fake.cancel_order(order.order_id)
    clock.advance(600)
    pull = await channel.pull_orders(PullCursor.starting_at(START))
    assert [o.status for o in pull.orders] == [OrderStatus.CANCELLED]
    assert pull.orders[0].updated_at > pull.orders[0].created_at


async def test_afn_orders_are_on_hold(make, fake: FakeSellingPartner, clock: FakeClock) -> None:
    fake.store.items.clear()
    fake.add_listing("FBA-1", "Amazon ships it", Decimal("20.00"), 5, afn=True)
    order = fake.generate_orders(1)[0]
    clock.advance(600)
    async with make(fulfillment="AFN") as channel:
        fetched = await channel.get_order(order.order_id)
        pull = await channel.pull_orders(PullCursor.starting_at(START))
    assert fetched.on_hold
    assert not fetched.can_ship
    assert [o.order_id for o in pull.orders] == [order.order_id]


async def test_mfn_channel_does_not_pull_afn_orders(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock
) -> None:
    fake.store.items.clear()
    fake.add_listing("FBA-1", "Amazon ships it", Decimal("20.00"), 5, afn=True)
    fake.generate_orders(1)
    clock.advance(600)
    pull = await channel.pull_orders(PullCursor.starting_at(START))
    assert pull.orders == ()


def _record(**extra: object) -> dict[str, object]:
    return {
        "AmazonOrderId": "902-1845936-5435065",
        "PurchaseDate": "2024-03-01T04:00:00Z",
        "LastUpdateDate": "2024-03-01T05:00:00.000Z",
        "OrderStatus": "Shipped",
        "MarketplaceId": "A1VC38T7YXB528",
        **extra,
    }


def _item(**extra: object) -> dict[str, object]:
    return {"ASIN": "B0", "OrderItemId": "1", "SellerSKU": "S", "QuantityOrdered": 3, **extra}


@pytest.mark.parametrize(
    ("price", "currency", "unit"),
    [("30.00", "USD", "10.00"), ("1000", "JPY", "333"), ("10.00", "EUR", "3.33")],
)
def test_money_formats(price: str, currency: str, unit: str) -> None:
    order = build_order(
        "c",
        _record(OrderTotal={"CurrencyCode": currency, "Amount": price}),
        [_item(ItemPrice={"CurrencyCode": currency, "Amount": price})],
    )
    assert order is not None
    assert order.lines[0].unit_price == Money.of(unit, currency)
    assert order.total == Money.of(price, currency)


def test_currency_falls_back_to_the_marketplace() -> None:
    order = build_order("c", _record(OrderStatus="Pending"), [_item()])
    assert order is not None
    assert order.total == Money.zero("JPY")


def test_zone_offsets_are_read_as_utc() -> None:
    order = build_order("c", _record(PurchaseDate="2024-03-01T12:00:00+08:00"), [_item()])
    assert order is not None
    assert order.created_at == START
    assert order.updated_at == START + timedelta(hours=1)


@pytest.mark.parametrize(
    "record",
    [
        _record(PurchaseDate="yesterday"),
        _record(LastUpdateDate="2024-02-01T00:00:00Z"),
        _record(OrderTotal={"CurrencyCode": "USD", "Amount": "lots"}),
        _record(OrderStatus="Lost"),
    ],
)
def test_bad_orders_are_data_errors(record: dict[str, object]) -> None:
    with pytest.raises(DataError):
        build_order("c", record, [_item()])


def test_an_order_without_positive_lines_is_skipped() -> None:
    assert build_order("c", _record(), [_item(QuantityOrdered=0)]) is None


async def test_v0_an_unchanged_order_read_again_costs_no_second_items_call(
    make: Callable[..., AmazonChannel], fake: FakeSellingPartner, clock: FakeClock
) -> None:
    order = fake.generate_orders(1)[0]
    clock.advance(600)
    window = TimeWindow(start=START - timedelta(minutes=5), end=clock.now() - timedelta(minutes=3))
    async with make(orders_api="v0") as channel:
        first = [o async for o in channel.fetch_orders(window)]
        again = [o async for o in channel.fetch_orders(window)]  # the next pull's overlap
        assert first == again
        assert fake.calls["getOrderItems"] == 1

        fake.cancel_order(order.order_id)  # a new LastUpdateDate: read in full again
        clock.advance(600)
        window = TimeWindow(start=window.start, end=clock.now() - timedelta(minutes=3))
        (cancelled,) = [o async for o in channel.fetch_orders(window)]
    assert cancelled.status is OrderStatus.CANCELLED
    assert fake.calls["getOrderItems"] == 2
