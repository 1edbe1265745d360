"""The re-inflation guard: a raise never hands out a unit a buyer took before we saw the order."""

from __future__ import annotations

from channelsync.channels import Operation
from channelsync.clock import FakeClock
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.sync import SyncEngine
from channelsync.models import Order
from channelsync.store import Store
from channelsync.testing import MemoryChannel


def pushes(channel: MemoryChannel) -> int:
    return sum(1 for op, _ in channel.calls if op == Operation.SET_STOCK.value)


def order_in_flight(channel: MemoryChannel, code: str, quantity: int) -> Order:
    """A buyer orders: the shop's stock drops now, the order is not readable yet."""
    order = channel.place_order([(code, quantity)])
    del channel.orders[order.order_id]
    return order


def order_arrives(channel: MemoryChannel, order: Order, clock: FakeClock) -> None:
    channel.orders[order.order_id] = order.model_copy(update={"updated_at": clock.now()})


async def test_a_raise_waits_for_the_order_that_explains_a_drop(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 10
    clock.advance(60)
    order = order_in_flight(tmall, "MUG", 2)
    adjust_stock(store, "MUG", 5, key="delivery-1", now=clock.now())
    clock.advance(60)
    await sync.run_cycle()
    # jd rises to 15; tmall, whose 2 sold units we have not seen, is not raised.
    assert jd.listing("MUG").quantity == 15
    assert tmall.listing("MUG").quantity == 8
    with store.transaction() as s:
        (held,) = [
            i
            for i in s.outbox(channel="tmall")
            if i.kind == "stock" and i.payload["merchant_code"] == "MUG"
        ]
        assert held.reason is not None
        assert held.reason.startswith("held:")
        assert held.attempts == 0
    clock.advance(60)
    order_arrives(tmall, order, clock)
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].orders_imported == 1
    # 10 + 5 - 2: both channels show what exists, and no unit was handed out twice.
    assert tmall.listing("MUG").quantity == 13
    assert jd.listing("MUG").quantity == 13


async def test_an_explained_drop_lets_the_raise_through_at_once(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    tmall.place_order([("MUG", 2)])  # readable: the cycle imports it first
    adjust_stock(store, "MUG", 5, key="delivery-1", now=clock.now())
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 13
    assert jd.listing("MUG").quantity == 13


async def test_a_second_look_confirms_a_hand_edit_and_corrects_it(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    tmall.listing("MUG").quantity = 3  # typed into the back office by hand
    adjust_stock(store, "MUG", 1, key="found-one", now=clock.now())
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 3  # first look: it could be an order in flight
    clock.advance(60)
    await sync.run_cycle()
    # Every order placed before the first look has been read; none explains it.
    assert tmall.listing("MUG").quantity == 11
    with store.transaction() as s:
        trail = [e for e in s.audit_trail(channel="tmall") if e.kind == "reconcile"]
        assert len(trail) == 1
        assert trail[0].answer == "drop of 7 unit(s) confirmed as a hand edit"
        (binding,) = [b for b in s.bindings(channel="tmall") if b.merchant_code == "MUG"]
        assert binding.held_since is None


async def test_a_decrease_is_never_held(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    order_in_flight(tmall, "MUG", 2)
    adjust_stock(store, "MUG", -4, key="damaged", now=clock.now())
    before = pushes(tmall)
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 6
    assert jd.listing("MUG").quantity == 6
    assert pushes(tmall) == before + 1
    # No raise was queued, so the listings were not read for the guard.
    assert [c for c in tmall.calls if c[0] == Operation.LIST_LISTINGS.value] == [
        (Operation.LIST_LISTINGS.value, 1)
    ]
