"""Fresh reads in the engine: orders seen before the completeness lag passes, imported once.

A shop whose marketplace misses young orders (as those the completeness lag exists
for): a fresh read imports what it finds at once, a later lagged read imports what
it missed and skips what it had, and a newer version read later supersedes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import ClassVar

from channelsync.channels import ChannelLimits, OrderWindow, TimeWindow
from channelsync.clock import FakeClock
from channelsync.config import EngineConfig
from channelsync.engine.orders import CURSOR_KIND
from channelsync.engine.sync import SyncEngine
from channelsync.errors import InvalidRequestError
from channelsync.models import Order, OrderStatus
from channelsync.store import Store
from channelsync.testing import MemoryChannel

LAG = timedelta(minutes=2)
#: Orders younger than this are not in the marketplace's search yet.
INDEXING = timedelta(seconds=30)


class LaggedShop(MemoryChannel):
    """A memory shop with a completeness lag, whose search misses orders younger than 30 s."""

    limits: ClassVar[ChannelLimits] = MemoryChannel.limits.model_copy(
        update={
            "order_window": OrderWindow(
                max_span=timedelta(days=1),
                lag=LAG,
                overlap=timedelta(minutes=5),
                fresh_lag=timedelta(0),
            )
        }
    )
    reads: list[TimeWindow]
    floor: timedelta | None = None
    """Refuse any read ending closer to the clock than this (a marketplace's own floor)."""

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        self.reads = [*getattr(self, "reads", []), window]
        if self.floor is not None and window.end > self.clock.now() - self.floor:
            raise InvalidRequestError("end time too close to now", channel=self.name)
        young = self.clock.now() - INDEXING
        async for order in super().fetch_orders(window):
            if order.updated_at <= young:
                yield order


def shop(clock: FakeClock) -> LaggedShop:
    channel = LaggedShop("tmall", clock=clock)
    channel.add_listing("tmall-1", "MUG", sku_id="1", quantity=0)
    return channel


def other(clock: FakeClock) -> MemoryChannel:
    channel = MemoryChannel("jd", clock=clock)
    channel.add_listing("jd-1", "MUG", sku_id="1", quantity=0)
    return channel


def reserved(store: Store) -> int:
    with store.transaction() as session:
        sku = next(s for s in session.skus() if s.merchant_code == "MUG")
        return session.positions([sku.id])[sku.id].reserved


async def test_an_order_inside_the_lag_is_seen_early_and_imported_once(
    store: Store, clock: FakeClock
) -> None:
    tmall, jd = shop(clock), other(clock)
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == 10
    early = tmall.place_order([("MUG", 2)])
    clock.advance(40)  # past the search's 30 s, well inside the 2-minute lag
    young = tmall.place_order([("MUG", 1)])
    clock.advance(5)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].orders_imported == 1  # the young one was missed
    assert reserved(store) == 2
    assert jd.listing("MUG").quantity == 8  # lowered before the lag passed
    with store.transaction() as session:
        since, _ = session.cursor("tmall", CURSOR_KIND) or (None, None)
    assert since == clock.now() - LAG  # the cursor moved by the lagged rule only
    assert early.created_at > since - timedelta(minutes=5)
    # Later reads repeat the span: the early order is skipped, the missed one imported.
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].orders_imported == 1
    assert reserved(store) == 3
    clock.advance(120)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].orders_imported == 0
    assert reserved(store) == 3
    with store.transaction() as session:
        stored = session.orders(channel="tmall")
    assert sorted(o.order_id for o in stored) == sorted([early.order_id, young.order_id])


async def test_a_newer_version_read_later_supersedes_the_early_one(
    store: Store, clock: FakeClock
) -> None:
    tmall, jd = shop(clock), other(clock)
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    order = tmall.place_order([("MUG", 2)])
    clock.advance(40)
    await sync.run_cycle()
    assert reserved(store) == 2
    clock.advance(10)
    tmall.set_order_status(order.order_id, OrderStatus.CANCELLED)
    clock.advance(200)  # the cancellation is past the lag: read by the lagged window too
    await sync.run_cycle()
    assert reserved(store) == 0
    assert jd.listing("MUG").quantity == 10
    with store.transaction() as session:
        (stored,) = session.orders(channel="tmall")
    assert stored.status == OrderStatus.CANCELLED.value


async def test_no_fresh_read_when_the_setting_is_off(store: Store, clock: FakeClock) -> None:
    tmall, jd = shop(clock), other(clock)
    sync = SyncEngine(store, [tmall, jd], clock=clock, config=EngineConfig(fresh_reads=False))
    await sync.run_cycle()
    tmall.place_order([("MUG", 2)])
    clock.advance(40)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].orders_imported == 0
    assert all(read.end <= clock.now() - LAG for read in tmall.reads)


async def test_a_refused_fresh_read_costs_only_the_fresh_span(
    store: Store, clock: FakeClock
) -> None:
    tmall, jd = shop(clock), other(clock)
    tmall.floor = timedelta(minutes=1)  # stricter than the declared fresh floor
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()  # the fresh read is refused; the lagged window is read anyway
    assert tmall.reads[-1].end == clock.now() - LAG
    tmall.place_order([("MUG", 2)])
    clock.advance(3 * 60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].errors == []
    assert summary.channels["tmall"].orders_imported == 1
    # No fresh read is tried again for an hour: one refusal, not one per pull.
    assert all(read.end <= clock.now() - LAG for read in tmall.reads[-2:])
