from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from channelsync_tmall import TmallChannel
from channelsync_tmall.fake import FakeTop

from channelsync.channels import ChannelLimits, OrderWindow, PullCursor, TimeWindow
from channelsync.clock import FakeClock
from channelsync.errors import ConflictError, InvalidRequestError, NotFoundError
from channelsync.models import (
    Carrier,
    Money,
    OrderStatus,
    RefundStatus,
    Shipment,
    ShipmentLine,
)
from channelsync.testing.fakes import PageKind, PageServed

from .conftest import START, MakeChannel


async def test_pull_maps_trades_in_full(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    clock.advance(60)
    (made,) = fake.generate_orders(1)
    clock.advance(600)
    async with channel:
        pull = await channel.pull_orders(PullCursor.starting_at(START))
    (order,) = pull.orders
    assert order.order_id == made.order_id
    assert order.status is OrderStatus.PAID
    assert order.raw_status == "WAIT_SELLER_SEND_GOODS"
    assert order.created_at == START + timedelta(seconds=60)  # 12:01 Beijing time -> 04:01 UTC
    assert order.total == Money.of(made.total, "CNY")
    assert order.lines[0].line_id == made.lines[0].line_id
    assert order.lines[0].merchant_code == made.lines[0].merchant_code
    assert order.shipping_address is not None
    assert order.shipping_address.masked
    assert "*" in (order.shipping_address.name or "")
    assert fake.calls["taobao.trade.fullinfo.get"] == 1
    assert pull.caught_up


async def test_long_windows_are_split_to_the_declared_span(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    for _ in range(3):
        fake.generate_orders(1)
        clock.advance(20 * 3600)
    window = TimeWindow(start=START - timedelta(hours=1), end=clock.now())
    async with channel:
        orders = [order async for order in channel.fetch_orders(window)]
    assert len(orders) == 3
    span = channel.limits.order_window.span
    assert span == timedelta(minutes=30)
    assert fake.calls["taobao.trades.sold.increment.get"] == (window.end - window.start) / span


async def test_the_fake_refuses_a_window_over_one_day(make_channel: MakeChannel) -> None:
    class Wide(TmallChannel):
        limits: ClassVar[ChannelLimits] = ChannelLimits(
            order_window=OrderWindow(max_span=timedelta(days=3), default_span=timedelta(days=2))
        )

    window = TimeWindow(start=START, end=START + timedelta(days=2))
    async with make_channel(Wide) as channel:
        with pytest.raises(InvalidRequestError, match="one day"):
            _ = [order async for order in channel.fetch_orders(window)]


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (50, 1), (100, 3), (101, 4)])
async def test_trade_paging_reads_the_last_page_first(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock, count: int, pages: int
) -> None:
    for seed in fake.store.items.values():
        for sku in seed.skus:
            sku.quantity = 1000
    fake.generate_orders(count)
    clock.advance(300)
    window = TimeWindow(start=START, end=START + timedelta(minutes=5))
    async with channel:
        orders = [order async for order in channel.fetch_orders(window)]
    assert len({o.order_id for o in orders}) == count
    assert fake.calls["taobao.trades.sold.increment.get"] == pages


async def test_statuses_map_and_raw_status_is_kept(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    for sku_owner in fake.store.items.values():
        for sku in sku_owner.skus:
            sku.quantity = 100
    a, b, c, d = fake.generate_orders(4)
    fake.close_by_taobao(a.order_id)
    fake.forbid_shipping(b.order_id)
    fake.request_refund(c.order_id)
    fake.confirm_receipt(d.order_id)
    async with channel:
        cancelled = await channel.get_order(a.order_id)
        held = await channel.get_order(b.order_id)
        refund = await channel.get_order(c.order_id)
        done = await channel.get_order(d.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.raw_status == "TRADE_CLOSED_BY_TAOBAO"
    assert held.on_hold
    assert not held.can_ship
    assert refund.status is OrderStatus.REFUND_REQUESTED
    assert refund.raw_refund_status == "WAIT_SELLER_AGREE"
    assert done.status is OrderStatus.COMPLETED


async def test_unknown_trade_is_not_found(channel: TmallChannel) -> None:
    async with channel:
        with pytest.raises(NotFoundError):
            await channel.get_order("1")


async def test_refunds_pull(channel: TmallChannel, fake: FakeTop, clock: FakeClock) -> None:
    (order,) = fake.generate_orders(1)
    clock.advance(60)
    refund = fake.request_refund(order.order_id, reason="尺码不合适")
    clock.advance(60)
    fake.settle_refund(refund.refund_id)
    clock.advance(600)
    async with channel:
        pull = await channel.pull_refunds(PullCursor.starting_at(START))
    (got,) = pull.refunds
    assert got.refund_id == refund.refund_id
    assert got.order_id == order.order_id
    assert got.status is RefundStatus.REFUNDED
    assert got.raw_status == "SUCCESS"
    assert got.amount == Money.of(refund.amount, "CNY")
    assert got.reason == "尺码不合适"
    assert got.updated_at == datetime(2024, 3, 1, 4, 2, tzinfo=UTC)


# Past one page, the last page is read first and page 1 again at the end.
@pytest.mark.parametrize(("count", "calls"), [(0, 1), (100, 1), (101, 3)])
async def test_refund_paging(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock, count: int, calls: int
) -> None:
    for item in fake.store.items.values():
        for sku in item.skus:
            sku.quantity = 1000
    for order in fake.generate_orders(count):
        fake.request_refund(order.order_id)
    clock.advance(300)
    window = TimeWindow(start=START, end=START + timedelta(minutes=5))
    async with channel:
        refunds = [r async for r in channel.fetch_refunds(window)]
    assert len(refunds) == count
    assert fake.calls["taobao.refunds.receive.get"] == calls


async def test_refunds_settled_while_their_pages_are_read_cost_no_other_refund(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    # Found by the contract (PagesStayConsistentWhileRefundsChange): refunds were paged
    # first to last, so refunds settled during the read shifted others past the reader.
    for item in fake.store.items.values():
        for sku in item.skus:
            sku.quantity = 1000
    opened = [fake.request_refund(o.order_id).refund_id for o in fake.generate_orders(150)]
    clock.advance(400)
    settled: list[str] = []

    def settle_the_first_page(page: PageServed) -> None:
        if page.kind is PageKind.REFUNDS and not settled:
            for refund_id in page.keys:
                fake.settle_refund(refund_id)
                settled.append(refund_id)

    fake.on_page(settle_the_first_page)
    window = TimeWindow(start=START, end=START + timedelta(minutes=5))
    async with channel:
        pulled = {r.refund_id async for r in channel.fetch_refunds(window)}
    assert len(settled) == 100
    assert set(opened) - set(settled) <= pulled


def _shipment(order_id: str, *lines: str, tracking: str = "SF1234567890") -> Shipment:
    return Shipment(
        channel="tmall-main",
        order_id=order_id,
        carrier=Carrier.SF,
        tracking_number=tracking,
        shipped_at=START,
        lines=tuple(ShipmentLine(line_id=line, quantity=1) for line in lines),
    )


async def test_ship_whole_trade_and_again_is_already_shipped(
    channel: TmallChannel, fake: FakeTop
) -> None:
    (order,) = fake.generate_orders(1)
    async with channel:
        first = await channel.push_shipment(_shipment(order.order_id))
        again = await channel.push_shipment(_shipment(order.order_id))
        shipped = await channel.get_order(order.order_id)
    assert not first.already_shipped
    assert again.already_shipped
    assert shipped.status is OrderStatus.SHIPPED
    assert fake.store.orders[order.order_id].shipments[0].carrier_code == "SF"


async def test_split_shipment_by_sub_order(channel: TmallChannel, fake: FakeTop) -> None:
    order = next(o for o in fake.generate_orders(10) if len(o.lines) == 2)
    first, second = (line.line_id for line in order.lines)
    async with channel:
        await channel.push_shipment(_shipment(order.order_id, first))
        part = await channel.get_order(order.order_id)
        repeat = await channel.push_shipment(_shipment(order.order_id, first))
        await channel.push_shipment(_shipment(order.order_id, second))
        whole = await channel.get_order(order.order_id)
    assert part.status is OrderStatus.PARTIALLY_SHIPPED
    assert repeat.already_shipped
    assert whole.status is OrderStatus.SHIPPED


async def test_shipping_refusals(channel: TmallChannel, fake: FakeTop) -> None:
    a, b = fake.generate_orders(2)
    fake.close_by_taobao(b.order_id)
    async with channel:
        with pytest.raises(InvalidRequestError, match="out_sid"):
            await channel.push_shipment(_shipment(a.order_id, tracking="BAD"))
        with pytest.raises(ConflictError):
            await channel.push_shipment(_shipment(b.order_id))
        with pytest.raises(NotFoundError):
            await channel.push_shipment(_shipment("3725362658812599999"))
        with pytest.raises(InvalidRequestError, match="carrier"):
            await channel.push_shipment(
                Shipment(
                    channel="tmall-main",
                    order_id=a.order_id,
                    carrier=Carrier.DHL,
                    tracking_number="1234567890",
                    shipped_at=START,
                )
            )
        with pytest.raises(InvalidRequestError, match="line_id"):
            await channel.push_shipment(
                Shipment(
                    channel="tmall-main",
                    order_id=a.order_id,
                    carrier=Carrier.SF,
                    tracking_number="SF1234567890",
                    shipped_at=START,
                    lines=(ShipmentLine(sku_id="1", quantity=1),),
                )
            )


async def test_declared_carrier_codes_are_on_the_carrier_list(channel: TmallChannel) -> None:
    async with channel:
        companies = await channel.carrier_companies()
    codes = {company.code for company in companies}
    assert set(channel.limits.carrier_codes.values()) <= codes
    assert all(company.tracking_pattern for company in companies)


async def test_an_unchanged_trade_read_again_costs_no_second_detail_call(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    clock.advance(60)
    (made,) = fake.generate_orders(1)
    clock.advance(600)
    async with channel:
        first = await channel.pull_orders(PullCursor.starting_at(START))
        again = await channel.pull_orders(PullCursor.starting_at(START))  # the overlap
        assert first.orders == again.orders
        assert fake.calls["taobao.trade.fullinfo.get"] == 1

        fake.close_by_taobao(made.order_id)  # modified again: read in full again
        clock.advance(600)
        (closed,) = (await channel.pull_orders(PullCursor.starting_at(START))).orders
    assert closed.status is OrderStatus.CANCELLED
    assert fake.calls["taobao.trade.fullinfo.get"] == 2


async def test_trades_are_counted_by_creation_time_in_one_call(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    window = TimeWindow(start=START, end=START + timedelta(hours=1))
    inside, at_start, at_end, changed_inside = fake.generate_orders(4)
    inside.created = inside.modified = START + timedelta(minutes=10)
    at_start.created = at_start.modified = START  # the start is included
    at_end.created = at_end.modified = window.end  # the end is not
    # Created the day before, changed inside the window: creation time decides.
    changed_inside.created = START - timedelta(days=1)
    changed_inside.modified = START + timedelta(minutes=5)
    async with channel:
        assert await channel.count_orders(window) == 2
        empty = TimeWindow(start=START - timedelta(days=3), end=START - timedelta(days=2))
        assert await channel.count_orders(empty) == 0
    assert fake.calls["taobao.trades.sold.get"] == 2


async def test_a_buyer_is_known_again_by_tops_pseudonym_and_never_by_name(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    first, again, other = fake.generate_orders(3)
    first.buyer_name = again.buyer_name = "张三"
    other.buyer_name = "李四"
    async with channel:
        orders = {o.order_id: await channel.get_order(o.order_id) for o in (first, again, other)}
    ids = {order_id: order.buyer_id for order_id, order in orders.items()}
    assert ids[first.order_id] is not None
    assert ids[first.order_id] == ids[again.order_id] != ids[other.order_id]
    assert all("张三" not in (buyer or "") for buyer in ids.values())
