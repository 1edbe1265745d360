from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from channelsync_jd import JdChannel
from channelsync_jd.fake import FakeJos
from channelsync_jd.mapping import ORDER_STATES, order_from_info

from channelsync.channels import ChannelLimits, Operation, PullCursor, TimeWindow
from channelsync.clock import CHINA_STANDARD_TIME, FakeClock, parse_local_time
from channelsync.errors import DataError, InvalidRequestError, NotFoundError
from channelsync.models import Money, OrderStatus, Shipment
from channelsync.testing.fakes import OrderChange, PageKind, PageServed

SEARCH = "jingdong.pop.order.search"


def _paged(size: int) -> type[JdChannel]:
    limits = JdChannel.limits.model_copy(
        update={"batch_sizes": {**JdChannel.limits.batch_sizes, Operation.PULL_ORDERS: size}}
    )
    assert isinstance(limits, ChannelLimits)
    return type(f"OrderPaged{size}", (JdChannel,), {"limits": limits})


async def test_pull_maps_orders_to_the_core_model(
    channel: JdChannel, fake: FakeJos, clock: FakeClock
) -> None:
    created_at = clock.now()
    orders = fake.generate_orders(3)
    clock.advance(120)
    pull = await channel.pull_orders(PullCursor.starting_at(created_at - timedelta(hours=1)))
    assert {order.order_id for order in pull.orders} == {o.order_id for o in orders}
    order = next(o for o in pull.orders if o.order_id == orders[0].order_id)
    source = orders[0]
    assert order.status is OrderStatus.PAID
    assert order.raw_status == "WAIT_SELLER_STOCK_OUT"
    assert order.created_at == created_at
    assert order.created_at.tzinfo is not None
    assert order.total == Money.of(source.total, "CNY")
    assert [line.quantity for line in order.lines] == [line.quantity for line in source.lines]
    assert order.lines[0].merchant_code == source.lines[0].merchant_code
    assert order.lines[0].unit_price == Money.of(source.lines[0].price, "CNY")
    assert order.shipping_address is not None
    assert order.shipping_address.masked
    assert order.shipping_address.state == source.province
    assert order.can_ship
    method, params = fake.received[-1]
    assert method == SEARCH
    assert params["dateType"] == "0"
    assert params["page_size"] == "100"
    assert params["order_state"].split(",") == list(ORDER_STATES)
    # GMT+8 wall-clock times on the wire.
    assert parse_local_time(params["end_date"]) == pull.window.end.replace(microsecond=0)


async def test_search_sends_beijing_wall_clock_times(channel: JdChannel, fake: FakeJos) -> None:
    window = TimeWindow(
        start=datetime(2024, 2, 29, 16, 0, tzinfo=UTC), end=datetime(2024, 3, 1, 3, 30, tzinfo=UTC)
    )
    assert [order async for order in channel.fetch_orders(window)] == []
    params = fake.received[-1][1]
    assert params["start_date"] == "2024-03-01 00:00:00"
    assert params["end_date"] == "2024-03-01 11:30:00"


# Past one page, the last page is read first and page 1 again at the end.
@pytest.mark.parametrize(("page_size", "count", "calls"), [(2, 4, 3), (2, 5, 4), (3, 0, 1)])
async def test_order_paging_edges(
    fake: FakeJos,
    clock: FakeClock,
    make: Callable[..., JdChannel],
    page_size: int,
    count: int,
    calls: int,
) -> None:
    start = clock.now()
    made = fake.generate_orders(count)
    assert len(made) == count
    clock.advance(60)
    window = TimeWindow(start=start - timedelta(minutes=1), end=clock.now())
    async with make(_paged(page_size)) as channel:
        found = [order async for order in channel.fetch_orders(window)]
    assert sorted(o.order_id for o in found) == sorted(o.order_id for o in made)
    assert fake.calls[SEARCH] == calls


async def test_orders_shipped_while_their_pages_are_read_cost_no_other_order(
    fake: FakeJos, clock: FakeClock, make: Callable[..., JdChannel]
) -> None:
    # Found by the contract (PagesStayConsistentWhileOrdersChange): pages were read first
    # to last, so orders shipped during the read shifted others past the reader.
    start = clock.now()
    made = [order.order_id for order in fake.generate_orders(7)]
    clock.advance(120)
    shipped: list[str] = []

    def ship_the_first_page(page: PageServed) -> None:
        if page.kind is PageKind.ORDERS and not shipped:
            for order_id in page.keys:
                fake.change_order(order_id, OrderChange.SHIPPED)
                shipped.append(order_id)

    fake.on_page(ship_the_first_page)
    window = TimeWindow(start=start - timedelta(minutes=1), end=start + timedelta(minutes=1))
    async with make(_paged(3)) as channel:
        found = {order.order_id async for order in channel.fetch_orders(window)}
    assert len(shipped) == 3
    assert set(made) - set(shipped) <= found


async def test_a_window_longer_than_a_month_is_split(
    channel: JdChannel, fake: FakeJos, clock: FakeClock
) -> None:
    early = fake.generate_orders(1)[0]
    early.created = early.modified = clock.now() - timedelta(days=50)
    late = fake.generate_orders(1)[0]
    window = TimeWindow(start=clock.now() - timedelta(days=60), end=clock.now() + timedelta(1))
    found = [order.order_id async for order in channel.fetch_orders(window)]
    assert sorted(found) == sorted([early.order_id, late.order_id])
    spans = [
        parse_local_time(p["end_date"]) - parse_local_time(p["start_date"])
        for m, p in fake.received
        if m == SEARCH
    ]
    assert len(spans) == 3
    assert all(span <= timedelta(days=28) for span in spans)


async def test_pull_advances_window_by_window(
    channel: JdChannel, fake: FakeJos, clock: FakeClock
) -> None:
    cursor = PullCursor.starting_at(clock.now() - timedelta(days=3))
    fake.generate_orders(2)
    clock.advance(600)
    windows = 0
    seen: set[str] = set()
    while True:
        pull = await channel.pull_orders(cursor)
        windows += 1
        seen |= {order.order_id for order in pull.orders}
        cursor = pull.cursor
        if pull.caught_up:
            break
    assert windows == 4  # three days in one-day windows, then the last minutes
    assert len(seen) == 2


async def test_buyer_cancel_and_lock_are_mapped(
    channel: JdChannel, fake: FakeJos, clock: FakeClock
) -> None:
    first, second = fake.generate_orders(2)
    clock.advance(30)
    fake.cancel_order(first.order_id)
    fake.lock_order(second.order_id)
    cancelled = await channel.get_order(first.order_id)
    locked = await channel.get_order(second.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.updated_at > cancelled.created_at
    assert locked.on_hold
    assert not locked.can_ship
    assert locked.hold_reason is not None


async def test_get_order_not_found(channel: JdChannel) -> None:
    with pytest.raises(NotFoundError, match="not exist"):
        await channel.get_order("2900000099999")
    with pytest.raises(NotFoundError):
        await channel.get_order("JD-12")


async def test_the_fake_enforces_the_order_search_rules(channel: JdChannel) -> None:
    now = "2024-03-01 12:00:00"
    base = {"optional_fields": "orderId", "page": "1", "page_size": "100", "end_date": now}
    cases = [
        {**base, "order_state": "1,2", "start_date": "2024-02-20 00:00:00"},
        {**base, "order_state": "TRADE_CANCELED", "start_date": "2024-01-20 00:00:00"},
        {**base, "order_state": "TRADE_CANCELED", "page_size": "101", "start_date": now},
        {**base, "order_state": "TRADE_CANCELED", "optional_fields": "", "start_date": now},
    ]
    for params in cases:
        root = await channel.call(SEARCH, params)
        assert root["searchorderinfo_result"]["apiResult"]["success"] is False


@pytest.mark.parametrize(
    ("state", "status", "held"),
    [
        ("WAIT_SELLER_STOCK_OUT", OrderStatus.PAID, False),
        ("WAIT_GOODS_RECEIVE_CONFIRM", OrderStatus.SHIPPED, False),
        ("WAIT_SELLER_DELIVERY", OrderStatus.PAID, False),
        ("PAUSE", OrderStatus.PAID, True),
        ("FINISHED_L", OrderStatus.COMPLETED, False),
        ("TRADE_CANCELED", OrderStatus.CANCELLED, False),
        ("LOCKED", OrderStatus.PAID, True),
        ("POP_ORDER_PAUSE", OrderStatus.PAID, True),
    ],
)
def test_every_state_maps(state: str, status: OrderStatus, held: bool) -> None:
    order = order_from_info(_info(orderState=state), channel="jd")
    assert order.status is status
    assert order.on_hold is held


def _info(**overrides: object) -> dict[str, object]:
    info: dict[str, object] = {
        "orderId": 2900000000001,
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": "2024-03-01 08:00:00",
        "modified": "2024-03-01 09:30:00.0",
        "orderPayment": "109.80",
        "freightPrice": Decimal("10"),
        "sellerDiscount": "0.00",
        "itemInfoList": [
            {"skuId": 1001, "wareId": 100, "jdPrice": "49.90", "itemTotal": "2"},
        ],
    }
    info.update(overrides)
    return info


def test_times_money_and_ids_at_the_edge() -> None:
    order = order_from_info(_info(), channel="jd")
    assert order.order_id == "2900000000001"
    assert order.created_at == datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    assert order.updated_at.astimezone(CHINA_STANDARD_TIME).hour == 9
    assert order.total == Money.of("109.80", "CNY")
    assert order.shipping_fee == Money.of("10", "CNY")
    assert order.lines[0].total == Money.of("99.80", "CNY")


def test_a_held_order_with_a_waybill_has_shipped() -> None:
    order = order_from_info(_info(orderState="LOCKED", waybill="SF123"), channel="jd")
    assert order.status is OrderStatus.SHIPPED
    assert order.on_hold


@pytest.mark.parametrize(
    "overrides",
    [
        {"orderState": "3"},
        {"itemInfoList": []},
        {"orderPayment": "12,30"},
        {"orderPayment": None},
        {"orderStartTime": "yesterday"},
        {"orderId": None},
        {"itemInfoList": [{"skuId": 1, "wareId": 2, "jdPrice": "1", "itemTotal": "x"}]},
    ],
)
def test_bad_records_are_data_errors(overrides: dict[str, object]) -> None:
    with pytest.raises(DataError):
        order_from_info(_info(**overrides), channel="jd")


async def test_non_numeric_ids_are_refused_before_calling(channel: JdChannel) -> None:
    shipment = Shipment(
        channel="jd",
        order_id="ABC",
        carrier="sf",
        tracking_number="SF1",
        shipped_at=datetime(2024, 3, 1, tzinfo=UTC),
    )
    with pytest.raises(InvalidRequestError):
        await channel.push_shipment(shipment)


async def test_orders_are_counted_by_creation_time_in_one_call(
    channel: JdChannel, fake: FakeJos, clock: FakeClock
) -> None:
    start = clock.now().replace(microsecond=0)
    window = TimeWindow(start=start, end=start + timedelta(hours=1))
    inside, at_start, at_end, changed_inside = fake.generate_orders(4)
    inside.created = inside.modified = start + timedelta(minutes=10)
    at_start.created = at_start.modified = start  # the start is included
    at_end.created = at_end.modified = window.end  # the end is not
    # Created before the window, changed inside it: not counted (creation time decides).
    changed_inside.created = start - timedelta(days=1)
    changed_inside.modified = start + timedelta(minutes=5)
    fake.received.clear()
    assert await channel.count_orders(window) == 2
    (call,) = [params for method, params in fake.received if method == SEARCH]
    assert call["dateType"] == "1"
    assert call["page_size"] == "1"
    assert set(call["order_state"].split(",")) == set(ORDER_STATES)
