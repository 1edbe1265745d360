from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from channelsync.channels import Operation
from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, EngineConfig, PriceRule
from channelsync.engine import orders as orders_module
from channelsync.engine.binding import bind_manually, binding_report
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.shipments import request_shipment
from channelsync.engine.sync import SyncEngine
from channelsync.errors import DataError, RateLimitedError, TransientError
from channelsync.models import Money, Order, OrderStatus
from channelsync.plugins import LowStockAlert, build_plugin_manager, hookimpl
from channelsync.store import OutboxState, Store
from channelsync.testing import MemoryChannel


class Recorder:
    def __init__(self) -> None:
        self.imported: list[tuple[str, str, OrderStatus | None]] = []
        self.alerts: list[LowStockAlert] = []

    @hookimpl
    def channelsync_order_imported(self, order: Order, previous_status: OrderStatus | None) -> None:
        self.imported.append((order.order_id, order.status.value, previous_status))

    @hookimpl
    def channelsync_low_stock(self, alert: LowStockAlert) -> None:
        self.alerts.append(alert)


def engine(
    store: Store,
    clock: FakeClock,
    *channels: MemoryChannel,
    recorder: Recorder | None = None,
    settings: dict[str, ChannelSyncSettings] | None = None,
    config: EngineConfig | None = None,
) -> SyncEngine:
    host = None
    if recorder is not None:
        host = build_plugin_manager(autoload=False, extra_plugins=[recorder])
    return SyncEngine(store, channels, settings=settings, config=config, host=host, clock=clock)


async def test_first_cycle_binds_and_pushes_stock_and_prices(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(
        store,
        clock,
        tmall,
        jd,
        settings={
            "jd": ChannelSyncSettings(price=PriceRule(markup=Decimal(10), ending=Decimal("0.90")))
        },
    )
    summary = await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 10
    assert jd.listing("MUG").quantity == 10
    # One unit, two channels: the scarce state shows it on one channel only.
    assert tmall.listing("CUP").quantity + jd.listing("CUP").quantity == 1
    assert tmall.listing("MUG").price == Money.of("20.00", "CNY")
    assert jd.listing("MUG").price == Money.of("22.90", "CNY")
    assert summary.channels["tmall"].sent == 4
    assert tmall.listing("OTHER").quantity == 4  # unbound listings are left alone
    report = binding_report(store, "tmall")
    assert [u["merchant_code"] for u in report.unbound] == ["OTHER"]
    assert report.unlisted == []
    # Nothing changed: the next cycle sends nothing.
    calls = len(tmall.calls)
    again = await sync.run_cycle()
    assert again.channels["tmall"].sent == 0
    assert [c for c in tmall.calls[calls:] if c[0] != Operation.PULL_ORDERS.value] == []


async def test_a_paid_order_reserves_and_every_channel_follows_in_the_same_cycle(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    recorder = Recorder()
    sync = engine(store, clock, tmall, jd, recorder=recorder)
    await sync.run_cycle()
    clock.advance(60)
    order = tmall.place_order([("MUG", 3)])
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].orders_imported == 1
    assert jd.listing("MUG").quantity == 7
    assert tmall.listing("MUG").quantity == 7
    # The same order read again (overlap window) changes nothing.
    clock.advance(60)
    await sync.run_cycle()
    with store.transaction() as s:
        mug = s.skus(["MUG"])[0]
        assert s.positions([mug.id])[mug.id].reserved == 3
    clock.advance(60)
    tmall.set_order_status(order.order_id, OrderStatus.SHIPPED)
    clock.advance(60)
    await sync.run_cycle()
    with store.transaction() as s:
        position = s.positions([mug.id])[mug.id]
    assert (position.on_hand, position.reserved) == (7, 0)
    assert jd.listing("MUG").quantity == 7
    assert recorder.imported == [
        (order.order_id, "paid", None),
        (order.order_id, "shipped", OrderStatus.PAID),
    ]


async def test_a_cancelled_order_releases_its_reservation(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd)
    await sync.run_cycle()
    clock.advance(60)
    order = jd.place_order([("MUG", 4)])
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 6
    clock.advance(60)
    jd.set_order_status(order.order_id, OrderStatus.CANCELLED)
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 10
    assert jd.listing("MUG").quantity == 10


async def test_without_protection_a_double_sale_of_the_last_unit_is_reported(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd, config=EngineConfig(scarce_threshold=0))
    await sync.run_cycle()
    assert tmall.listing("CUP").quantity == jd.listing("CUP").quantity == 1
    clock.advance(60)
    tmall.place_order([("CUP", 1)])
    jd.place_order([("CUP", 1)])
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.oversold == {"CUP": 1}
    assert tmall.listing("CUP").quantity == jd.listing("CUP").quantity == 0


async def test_with_protection_the_last_unit_cannot_be_sold_twice(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd)
    await sync.run_cycle()
    holder = tmall if tmall.listing("CUP").quantity == 1 else jd
    other = jd if holder is tmall else tmall
    assert other.listing("CUP").quantity == 0
    clock.advance(60)
    holder.place_order([("CUP", 1)])
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.oversold == {}


async def test_stock_held_by_the_marketplace_is_never_pushed(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(
        store, clock, tmall, jd, settings={"jd": ChannelSyncSettings(managed_stock=False)}
    )
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == 0
    assert [c for c in jd.calls if c[0] == Operation.SET_STOCK.value] == []
    # The scarce unit goes to the channel whose stock we manage.
    assert tmall.listing("CUP").quantity == 1


async def test_per_item_failures_are_retried_or_parked_alone(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    tmall.reject("MUG", "item frozen by the marketplace", code="isv.item-frozen")
    tmall.reject("CUP", "busy", retryable=True, times=1)
    sync = engine(store, clock, tmall)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].parked == 2  # MUG's stock and price
    assert summary.channels["tmall"].retried == 1
    with store.transaction() as s:
        parked = s.outbox(state=OutboxState.PARKED)
        assert {p.reason for p in parked} == {"(isv.item-frozen) item frozen by the marketplace"}
        trail = s.audit_trail(channel="tmall")
        assert any(not e.ok for e in trail)
    assert tmall.listing("CUP").quantity == 0
    clock.advance(3600)
    await sync.run_cycle()
    assert tmall.listing("CUP").quantity == 1
    tmall._rejections.clear()
    with store.transaction() as s:
        assert s.requeue_parked(clock.now()) == 2
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 10


async def test_under_throttling_zero_outs_go_first(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall)
    await sync.run_cycle()
    clock.advance(60)
    tmall.place_order([("MUG", 2)])  # lowers MUG
    tmall.place_order([("CUP", 1)])  # zeroes CUP
    tmall.fail_calls(Operation.SET_STOCK, RateLimitedError("slow down", retry_after=1))
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].retried >= 1
    with store.transaction() as s:
        pending = s.outbox(channel="tmall", state=OutboxState.PENDING)
    assert [p.payload["merchant_code"] for p in pending if p.kind == "stock"][:2] == ["CUP", "MUG"]
    clock.advance(3600)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 8


async def test_a_poison_order_is_parked_and_never_blocks_the_rest(
    store: Store, clock: FakeClock, tmall: MemoryChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = engine(store, clock, tmall)
    await sync.run_cycle()
    clock.advance(60)
    bad = tmall.place_order([("MUG", 1)])
    good = tmall.place_order([("MUG", 2)])
    real = orders_module.OrderPage.apply

    def apply(page: Any, order: Order, report: Any) -> bool:
        if order.order_id == bad.order_id:
            raise DataError("line 1 has no price")
        return real(page, order, report)

    monkeypatch.setattr(orders_module.OrderPage, "apply", apply)
    clock.advance(60)
    summary = await sync.run_cycle()
    assert (summary.channels["tmall"].orders_imported, summary.channels["tmall"].orders_parked) == (
        1,
        1,
    )
    with store.transaction() as s:
        assert [p.key for p in s.parked()] == [bad.order_id]
        assert s.order("tmall", good.order_id) is not None
    assert tmall.listing("MUG").quantity == 8


async def test_a_lost_answer_to_a_stock_update_converges(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    tmall.fail_calls(Operation.SET_STOCK, TransientError("connection reset"), after_apply=True)
    sync = engine(store, clock, tmall)
    await sync.run_cycle()
    clock.advance(3600)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 10
    with store.transaction() as s:
        assert s.outbox(channel="tmall", state=OutboxState.PENDING) == []


async def test_a_shipment_is_pushed_once_even_when_its_answer_is_lost(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall)
    clock.advance(60)
    order = tmall.place_order([("MUG", 1)])
    clock.advance(60)
    await sync.run_cycle()
    tmall.fail_calls(Operation.PUSH_SHIPMENT, TransientError("timeout"), after_apply=True)
    assert request_shipment(
        sync.context, "tmall", order.order_id, carrier="顺丰", tracking_number="SF123"
    )
    assert not request_shipment(
        sync.context, "tmall", order.order_id, carrier="sf", tracking_number="SF123"
    )
    await sync.run_cycle()
    assert len(tmall.shipments) == 1
    clock.advance(3600)
    await sync.run_cycle()
    assert len(tmall.shipments) == 1
    assert ("orders.get", 1) in tmall.calls
    with store.transaction() as s:
        shipment = s.shipments()[0]
    assert shipment.state == "sent"


async def test_a_manual_binding_ties_a_listing_with_another_code(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall)
    await sync.run_cycle()
    bind_manually(sync.context, "tmall", "tmall-3", "MUG", listing_sku_id="3")
    await sync.run_cycle()
    assert tmall.listing("OTHER").quantity == 10
    await sync.bind()  # a later automatic pass keeps the manual binding
    with store.transaction() as s:
        binding = s.binding_for_listing("tmall", "tmall-3", "3")
    assert binding is not None
    assert (binding.merchant_code, binding.manual) == ("MUG", True)


async def test_the_low_stock_alert_fires_once_per_crossing(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    recorder = Recorder()
    sync = engine(
        store, clock, tmall, recorder=recorder, config=EngineConfig(low_stock_threshold=9)
    )
    await sync.run_cycle()
    assert [a.merchant_code for a in recorder.alerts] == ["CUP"]
    clock.advance(60)
    tmall.place_order([("MUG", 2)])
    clock.advance(60)
    await sync.run_cycle()
    clock.advance(60)
    tmall.place_order([("MUG", 1)])
    clock.advance(60)
    await sync.run_cycle()
    assert [(a.merchant_code, a.available) for a in recorder.alerts] == [("CUP", 1), ("MUG", 8)]
    adjust_stock(store, "MUG", 5, key="restock-1", now=clock.now())
    await sync.run_cycle()
    clock.advance(60)
    tmall.place_order([("MUG", 6)])
    clock.advance(60)
    await sync.run_cycle()
    assert [a.merchant_code for a in recorder.alerts] == ["CUP", "MUG", "MUG"]


def test_plan_shows_without_sending(store: Store, clock: FakeClock, tmall: MemoryChannel) -> None:
    sync = engine(store, clock, tmall)
    with store.transaction() as s:
        for sku in s.skus():
            s.upsert_binding(
                channel="tmall",
                item_id=f"i-{sku.merchant_code}",
                listing_sku_id=None,
                sku_id=sku.id,
                merchant_code=sku.merchant_code,
                manual=True,
                title=None,
                channel_quantity=None,
                now=clock.now(),
            )
    preview = sync.plan()
    assert sorted((p["kind"], p["merchant_code"]) for p in preview["tmall"]) == [
        ("price", "CUP"),
        ("price", "MUG"),
        ("stock", "CUP"),
        ("stock", "MUG"),
    ]
    with store.transaction() as s:
        assert s.outbox() == []
        assert len(s.changed_skus()) == 2
    assert tmall.calls == []
