"""Workers running on PostgreSQL: several at once, each effect once, the locks, the clock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from channelsync.config import DaemonConfig
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.testing import MemoryChannel
from channelsync.testing.memory_channel import TimeWindow
from channelsync.workers.app import build_app
from channelsync.workers.deferring import (
    FLUSH,
    PULL_ORDERS,
    PULL_REFUNDS,
)
from channelsync.workers.running import run_worker

from .queue_world import TUNING, World, client, eventually, memory_shop, running, settled

pytestmark = pytest.mark.postgres


def order_state(world: World, channel: str, order_id: str) -> tuple[int, int, int]:
    """Return (orders stored, reservation held, reserve events) for one order."""
    with world.store.transaction() as session:
        stored = [o for o in session.orders(channel=channel) if o.order_id == order_id]
        (sku,) = session.skus(["MUG"])
        held = session.reservation(channel, order_id, sku.id)
        reserves = [
            e
            for e in session.ledger(sku.id)
            if e.kind == "order_reserved" and e.order_id == order_id
        ]
    return len(stored), held, len(reserves)


async def test_two_workers_import_an_order_once_and_every_channel_is_sent_the_rest(
    world: World,
) -> None:
    tmall, jd = world.shops["tmall"], world.shops["jd"]
    order = tmall.place_order([("MUG", 3)], order_id="T-1")
    world.clock.advance(120)  # the order is older than the end of the first pull window
    async with world.queue() as (app, deferrer), running(world) as runtimes:
        await eventually(lambda: jd.listing("MUG").quantity == 7)
        # Pulls again and again, on whichever worker, each window overlapping the last
        # (the order is read again): the order stays imported once.
        for _ in range(4):
            world.clock.advance(30)
            await deferrer.defer(PULL_ORDERS, "tmall")
            await settled(world, app)
        await eventually(lambda: tmall.listing("CUP").quantity == 5)
    assert order_state(world, "tmall", order.order_id) == (1, 3, 1)
    assert (tmall.listing("MUG").quantity, jd.listing("MUG").quantity) == (7, 7)
    assert jd.listing("CUP").quantity == 5
    assert sum(r.started for r in runtimes) >= 8  # the first round, the four pulls, flushes
    assert not any(channel.is_open for r in runtimes for channel in r.channels.values())


class SlowShop(MemoryChannel):
    """A marketplace whose order and refund reads take a while, recording when they run.

    Its lists are shared by every client of the shop (a shallow copy shares them).
    """

    reads: list[tuple[str, float, float]]
    reading: list[str]
    sends: list[bool]
    """Per stock send: whether a read of this shop was in flight at that moment."""
    released: asyncio.Event
    """Cleared, a read goes on until a stock send sets it (at most 10 s)."""

    async def _slowly(self, what: str) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.reading.append(what)
        try:
            await asyncio.sleep(0.3)
            # Then on until a stock send, when the test holds reads: on a busy machine
            # (the suite's other processes) a send can come later than any fixed time.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), 10)
        finally:
            self.reading.remove(what)
        self.reads.append((what, start, loop.time()))

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Any]:  # type: ignore[override]
        await self._slowly("orders")
        async for order in super().fetch_orders(window):
            yield order

    async def fetch_refunds(self, window: TimeWindow) -> AsyncIterator[Any]:  # type: ignore[override]
        await self._slowly("refunds")
        async for refund in super().fetch_refunds(window):
            yield refund

    async def send_stock_batch(self, batch: Any) -> Any:
        self.sends.append(bool(self.reading))
        self.released.set()
        return await super().send_stock_batch(batch)


async def test_a_channels_pulls_never_overlap_and_its_flush_does_not_wait_for_them(
    world: World,
) -> None:
    slow = memory_shop("tmall", world.clock, SlowShop)
    assert isinstance(slow, SlowShop)
    slow.reads, slow.reading, slow.sends = [], [], []
    slow.released = asyncio.Event()
    slow.released.set()
    world.shops["tmall"] = slow
    async with world.queue() as (app, deferrer), running(world, count=2, concurrency=3):
        await settled(world, app)
        slow.reads.clear()
        slow.sends.clear()
        slow.released.clear()  # the next read lasts until the stock is sent
        world.clock.advance(300)  # time passed: each pull has a window to read
        assert await deferrer.defer(PULL_ORDERS, "tmall")
        await eventually(lambda: bool(slow.reading))
        # While it reads, a second pull and the refunds (the same lock) queue behind it...
        assert await deferrer.defer(PULL_ORDERS, "tmall")
        assert await deferrer.defer(PULL_REFUNDS, "tmall")
        world.clock.advance(300)  # more time passed: the queued ones have windows too
        # ... and a stock change is sent at once (the flush has a lock of its own).
        import_catalogue(
            world.store,
            parse_catalogue("sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,20\n", "csv"),
            now=world.clock.now(),
        )
        SyncEngine(
            world.store, [client(s) for s in world.shops.values()], clock=world.clock
        ).replan()
        assert await deferrer.defer(FLUSH, "tmall")
        await eventually(lambda: slow.listing("MUG").quantity == 20)
        await settled(world, app)
    reads = sorted((start, end) for _, start, end in slow.reads)
    kinds = [what for what, _, _ in slow.reads]
    assert kinds.count("orders") >= 2
    assert kinds.count("refunds") >= 1
    for (_, end), (start, _) in itertools.pairwise(reads):
        assert start >= end, f"two pulls of one channel overlapped: {reads}"
    assert slow.sends[0] is True  # sent while the pull was reading


async def test_the_clock_flushes_work_that_came_without_a_job(world: World) -> None:
    # A tick of a second: the clock queues every channel's flush each second.
    settings = DaemonConfig(pull_interval=60, flush_interval=1, shutdown_grace=2)
    jd = world.shops["jd"]
    async with world.queue() as (app, _):
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                build_app(world.conninfo, settings, tuning=TUNING),
                world.runtime(settings),
                tuning=TUNING,
                stop=stop,
            )
        )
        try:
            await eventually(lambda: jd.listing("MUG").quantity == 10)
            await settled(world, app)
            # Work written by another process (a catalogue import, then planning): no job.
            catalogue = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,20\n"
            import_catalogue(world.store, parse_catalogue(catalogue, "csv"), now=world.clock.now())
            shops = [client(s) for s in world.shops.values()]
            SyncEngine(world.store, shops, clock=world.clock).replan()
            await eventually(lambda: jd.listing("MUG").quantity == 20, timeout=5)
        finally:
            stop.set()
            await asyncio.wait_for(worker, timeout=10)
