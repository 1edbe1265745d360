"""Refunds and returns through the engine, against the in-memory marketplace."""

from __future__ import annotations

from datetime import timedelta

from channelsync.clock import FakeClock
from channelsync.engine.ledger import EventKind
from channelsync.engine.sync import SyncEngine
from channelsync.models import OrderStatus, RefundStatus
from channelsync.store import StockPosition, Store
from channelsync.testing import MemoryChannel


def position(store: Store, code: str) -> StockPosition:
    with store.transaction() as session:
        sku = session.skus([code])[0]
        return session.positions([sku.id])[sku.id]


def events(store: Store, code: str, kind: str) -> list[int]:
    """The on-hand and reserved deltas of one kind of ledger event for a SKU."""
    with store.transaction() as session:
        sku = session.skus([code])[0]
        return [
            e.on_hand_delta or e.reserved_delta for e in session.ledger(sku.id) if e.kind == kind
        ]


async def cycle(sync: SyncEngine, clock: FakeClock) -> None:
    clock.advance(60)
    await sync.run_cycle()


async def shipped_order(
    sync: SyncEngine, clock: FakeClock, shop: MemoryChannel, quantity: int
) -> str:
    """A buyer orders MUG on ``shop``; the order is imported, then shipped."""
    await sync.run_cycle()
    order = shop.place_order([("MUG", quantity)])
    await cycle(sync, clock)
    shop.set_order_status(order.order_id, OrderStatus.SHIPPED)
    await cycle(sync, clock)
    return order.order_id


async def test_returned_goods_are_restocked_once_and_every_channel_follows(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    order_id = await shipped_order(sync, clock, tmall, 2)
    assert position(store, "MUG").on_hand == 8
    assert jd.listing("MUG").quantity == 8

    refund = tmall.request_refund(order_id, [("MUG", 1)], returns_goods=True)
    await cycle(sync, clock)
    assert position(store, "MUG").on_hand == 8  # requested is not refunded yet
    tmall.set_refund_status(refund.refund_id, RefundStatus.REFUNDED)
    clock.advance(60)
    summary = await sync.run_cycle()

    assert summary.channels["tmall"].refunds_applied == 1
    assert position(store, "MUG").on_hand == 9
    assert jd.listing("MUG").quantity == 9
    assert tmall.listing("MUG").quantity == 9
    assert events(store, "MUG", EventKind.RETURN_RESTOCKED) == [1]
    with store.transaction() as session:
        trail = session.audit_trail(channel="tmall", kind="refund")
    assert [(e.key, dict(e.sent)["restocked"]) for e in trail] == [(refund.refund_id, {"MUG": 1})]

    # A restart that reads the same refunds again restocks nothing twice.
    with store.transaction() as session:
        session.set_cursor("tmall", "refunds", clock.now() - timedelta(hours=2), None)
    again = SyncEngine(store, [tmall, jd], clock=clock)
    clock.advance(60)
    summary = await again.run_cycle()
    assert summary.channels["tmall"].refunds_applied == 0
    assert position(store, "MUG").on_hand == 9
    assert events(store, "MUG", EventKind.RETURN_RESTOCKED) == [1]


async def test_a_refund_never_returns_more_than_the_order_took(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    order_id = await shipped_order(sync, clock, tmall, 1)
    tmall.request_refund(order_id, [("MUG", 5)], returns_goods=True, status=RefundStatus.REFUNDED)
    await cycle(sync, clock)
    assert position(store, "MUG").on_hand == 10


async def test_a_refund_without_returned_goods_leaves_stock_alone(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    order_id = await shipped_order(sync, clock, tmall, 2)
    tmall.request_refund(order_id, [("MUG", 2)], status=RefundStatus.REFUNDED)
    await cycle(sync, clock)
    assert position(store, "MUG").on_hand == 8
    assert events(store, "MUG", EventKind.RETURN_RESTOCKED) == []


async def test_returned_goods_without_lines_are_reported_not_guessed(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    order_id = await shipped_order(sync, clock, tmall, 2)
    refund = tmall.request_refund(order_id, returns_goods=True, status=RefundStatus.REFUNDED)
    clock.advance(60)
    summary = await sync.run_cycle()
    assert position(store, "MUG").on_hand == 8
    [note] = summary.channels["tmall"].unrestocked
    assert refund.refund_id in note
    assert "restock them by hand" in note
    with store.transaction() as session:
        [entry] = session.audit_trail(channel="tmall", kind="refund")
    assert not entry.ok
    # Read again after a restart: still one audit entry.
    with store.transaction() as session:
        session.set_cursor("tmall", "refunds", clock.now() - timedelta(hours=2), None)
    await cycle(sync, clock)
    with store.transaction() as session:
        assert len(session.audit_trail(channel="tmall", kind="refund")) == 1


async def test_a_refund_before_shipping_releases_the_reservation_once(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    order = tmall.place_order([("MUG", 3)])
    await cycle(sync, clock)
    assert position(store, "MUG").reserved == 3
    assert jd.listing("MUG").quantity == 7

    tmall.request_refund(order.order_id, [("MUG", 2)], status=RefundStatus.REFUNDED)
    await cycle(sync, clock)
    assert position(store, "MUG").reserved == 1
    assert jd.listing("MUG").quantity == 9

    # The marketplace then closes the order: only what is still held is released.
    tmall.set_order_status(order.order_id, OrderStatus.REFUNDED)
    await cycle(sync, clock)
    assert position(store, "MUG") == StockPosition(
        position(store, "MUG").sku_id, on_hand=10, reserved=0, safety_stock=0
    )
    assert sorted(events(store, "MUG", EventKind.ORDER_CANCELLED)) == [-2, -1]
    assert jd.listing("MUG").quantity == 10


async def test_a_refund_after_the_order_released_itself_changes_nothing(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    await sync.run_cycle()
    order = tmall.place_order([("MUG", 3)])
    await cycle(sync, clock)
    tmall.set_order_status(order.order_id, OrderStatus.CANCELLED)
    await cycle(sync, clock)
    tmall.request_refund(order.order_id, [("MUG", 3)], status=RefundStatus.REFUNDED)
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].refunds_applied == 0
    assert position(store, "MUG").reserved == 0
    assert events(store, "MUG", EventKind.ORDER_CANCELLED) == [-3]


async def test_a_refund_for_an_order_not_imported_yet_waits_parked(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    order_id = await shipped_order(sync, clock, tmall, 1)
    late = tmall.place_order([("MUG", 2)])
    tmall.hidden_orders.add(late.order_id)  # the marketplace's search lags behind
    await cycle(sync, clock)
    tmall.set_order_status(late.order_id, OrderStatus.SHIPPED)
    refund = tmall.request_refund(
        late.order_id, [("MUG", 2)], returns_goods=True, status=RefundStatus.REFUNDED
    )
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].refunds_parked == 1
    with store.transaction() as session:
        [parked] = session.parked(channel="tmall")
    assert (parked.kind, parked.key) == ("refund", refund.refund_id)
    assert f"order {late.order_id} is not imported yet" in parked.reason
    assert position(store, "MUG").on_hand == 9

    # The order shows up; the parked refund is applied on the next pull and forgotten.
    tmall.hidden_orders.clear()
    tmall.set_order_status(late.order_id, OrderStatus.COMPLETED)
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].refunds_applied == 1
    with store.transaction() as session:
        assert session.parked(channel="tmall") == []
    # Shipped 1 + 2, then 2 came back.
    assert position(store, "MUG").on_hand == 9
    assert order_id != late.order_id
