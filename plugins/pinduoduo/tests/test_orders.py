"""Incremental order pulls: windows, backward paging, statuses, holds, masked addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from channelsync_pinduoduo import PinduoduoChannel
from channelsync_pinduoduo.fake import FakePdd

from channelsync.channels import PullCursor
from channelsync.clock import FakeClock
from channelsync.errors import NotFoundError
from channelsync.models import OrderStatus
from channelsync.testing.fakes import demo_catalogue

from .conftest import MakeChannel

INCREMENT = "pdd.order.number.list.increment.get"


def _cursor(clock: FakeClock, minutes: int) -> PullCursor:
    return PullCursor.starting_at(clock.now() - timedelta(minutes=minutes))


async def test_orders_are_imported_in_canonical_form(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    created = fake.generate_orders(2)
    clock.advance(600)
    async with channel:
        pull = await channel.pull_orders(_cursor(clock, 20))
    assert [o.order_id for o in pull.orders] == [o.order_id for o in created]
    order = pull.orders[0]
    source = created[0]
    assert order.status is OrderStatus.PAID
    assert order.raw_status == "order_status=1;confirm_status=1;group_status=1"
    assert order.raw_refund_status == "refund_status=1;after_sales_status=0"
    assert order.created_at == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
    assert order.created_at.utcoffset() == timedelta(0)
    assert order.total.amount == source.total
    assert isinstance(order.total.amount, Decimal)
    assert order.total.currency == "CNY"
    assert [(line.sku_id, line.quantity, line.unit_price.amount) for line in order.lines] == [
        (line.sku_id, line.quantity, line.price) for line in source.lines
    ]
    assert order.lines[0].merchant_code == source.lines[0].merchant_code
    assert order.can_ship
    address = order.shipping_address
    assert address is not None
    assert address.masked
    assert address.name == source.receiver_name[0] + "*"
    assert address.phone == f"{source.receiver_phone[:3]}****{source.receiver_phone[-4:]}"
    assert address.state == source.province
    assert "~" not in order.model_dump_json()


async def test_windows_are_split_at_thirty_minutes_and_end_behind_the_clock(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    fake.generate_orders(1)
    clock.advance(2 * 3600)
    cursor = _cursor(clock, 150)
    windows = []
    async with channel:
        while True:
            pull = await channel.pull_orders(cursor)
            cursor = pull.cursor
            if pull.window is not None:
                windows.append(pull.window)
            if pull.caught_up:
                break
    assert len(windows) > 5
    assert all(w.end - w.start <= timedelta(minutes=30) for w in windows)
    assert windows[-1].end == clock.now() - timedelta(minutes=5)
    now = int(clock.now().timestamp())
    for method, fields in fake.received:
        if method == INCREMENT:
            start, end = int(fields["start_updated_at"]), int(fields["end_updated_at"])
            assert end - start <= 1800
            assert end <= now - 180


@pytest.mark.parametrize(
    ("count", "pages"),
    [(0, ["1"]), (100, ["1"]), (200, ["1", "2", "1"]), (250, ["1", "3", "2", "1"])],
    ids=["empty", "one-full-page", "exact-multiple", "short-last-page"],
)
async def test_pages_are_read_last_first(
    make_channel: MakeChannel, clock: FakeClock, count: int, pages: list[str]
) -> None:
    shop = FakePdd(clock=clock)
    shop.seed_catalogue(demo_catalogue(20, quantity=1000))
    assert len(shop.generate_orders(count)) == count
    clock.advance(600)
    async with make_channel(target=shop) as channel:
        pull = await channel.pull_orders(_cursor(clock, 20))
    assert len(pull.orders) == count
    sent = [fields for method, fields in shop.received if method == INCREMENT]
    assert [fields["page"] for fields in sent] == pages
    assert {fields["page_size"] for fields in sent} == {"100"}


async def test_risk_controlled_orders_are_imported_on_hold(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    held = fake.generate_orders(1)[0]
    fake.hold_for_risk_control(held.order_id)
    clock.advance(600)
    async with channel:
        pull = await channel.pull_orders(_cursor(clock, 20))
    order = pull.orders[0]
    assert order.status is OrderStatus.PAID
    assert order.on_hold
    assert not order.can_ship
    assert order.hold_reason is not None
    assert "risk_control_status=1" in order.hold_reason


async def test_statuses_follow_cancellation_refunds_and_shipping(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    orders = fake.generate_orders(5)
    ids = [o.order_id for o in orders]
    fake.group_fails(ids[0])
    fake.buyer_requests_refund(ids[1])
    refund = fake.buyer_requests_refund(ids[2], return_goods=True)
    fake.complete_refund(refund.refund_id)
    fake.store.orders[ids[3]].status = "2"
    fake.buyer_confirms_receipt(ids[4])
    clock.advance(600)
    async with channel:
        pull = await channel.pull_orders(_cursor(clock, 20))
        detail = await channel.get_order(ids[1])
    statuses = {o.order_id: o.status for o in pull.orders}
    assert statuses == {
        ids[0]: OrderStatus.CANCELLED,
        ids[1]: OrderStatus.REFUND_REQUESTED,
        ids[2]: OrderStatus.REFUNDED,
        ids[3]: OrderStatus.SHIPPED,
        ids[4]: OrderStatus.COMPLETED,
    }
    assert detail.status is OrderStatus.REFUND_REQUESTED
    assert detail.raw_refund_status == "refund_status=2;after_sales_status=2"
    assert not detail.can_ship


async def test_order_detail_and_a_missing_order(channel: PinduoduoChannel, fake: FakePdd) -> None:
    created = fake.generate_orders(1)[0]
    async with channel:
        order = await channel.get_order(created.order_id)
        with pytest.raises(NotFoundError):
            await channel.get_order("240301-999999999999999")
    assert order.order_id == created.order_id
    assert order.paid_at == created.paid_at


async def test_an_order_changed_later_is_seen_again_in_its_new_window(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    order = fake.generate_orders(1)[0]
    clock.advance(600)
    async with channel:
        first = await channel.pull_orders(_cursor(clock, 20))
        fake.hold_for_risk_control(order.order_id)
        clock.advance(600)
        second = await channel.pull_orders(first.cursor)
    assert not first.orders[0].on_hold
    assert second.orders[0].on_hold
    assert second.orders[0].version != first.orders[0].version
