"""Lease epochs: a job whose lease another job took may commit nothing."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from channelsync.channels import ChannelLimits, Operation
from channelsync.testing import MemoryChannel
from channelsync.workers.deferring import FLUSH, PULL_ORDERS
from channelsync.workers.fencing import Fence, FenceOnCommit, LeaseLostError, fenced, take_lease
from channelsync.workers.runtime import WorkerRuntime

from .queue_world import World, eventually, memory_shop

pytestmark = pytest.mark.postgres


class GatedSends(MemoryChannel):
    """A marketplace whose stock updates wait until the test opens the gate."""

    gate: asyncio.Event
    sending: list[int]
    """One entry per update begun (a list: every client of the shop shares it)."""

    async def send_stock_batch(self, batch: Any) -> Any:
        self.sending.append(len(batch))
        await self.gate.wait()
        return await super().send_stock_batch(batch)


class GatedOneAtATime(GatedSends):
    """Gated stock updates, one per call."""

    limits: ClassVar[ChannelLimits] = MemoryChannel.limits.model_copy(
        update={"batch_sizes": {**MemoryChannel.limits.batch_sizes, Operation.SET_STOCK: 1}}
    )


def due(runtime: WorkerRuntime, channel: str) -> list[str]:
    with runtime.engine.store.transaction() as session:
        found = session.due(channel, "stock", runtime.engine.context.clock.now(), 100)
    return sorted(str(item.payload["merchant_code"]) for item in found)


def sent_quantities(runtime: WorkerRuntime, channel: str) -> list[int | None]:
    with runtime.engine.store.transaction() as session:
        return sorted(
            (b.sent_quantity for b in session.bindings(channel=channel)),
            key=lambda q: -1 if q is None else q,
        )


async def gated(world: World, cls: type[GatedSends]) -> tuple[GatedSends, WorkerRuntime]:
    """Return a gated tmall shop and a runtime that bound it and planned two first sends."""
    shop = memory_shop("tmall", world.clock, cls)
    assert isinstance(shop, GatedSends)
    shop.gate, shop.sending = asyncio.Event(), []
    world.shops = {"tmall": shop}
    runtime = world.runtime()
    await runtime.run(PULL_ORDERS, "tmall")
    return shop, runtime


async def superseded_flush(runtime: WorkerRuntime, shop: GatedSends) -> Fence:
    """Run a fenced flush until its first call, take its lease over, then let it answer.

    The worker seemed dead: the sweep gave its flush to another worker, which took the
    lease. Then the first comes back, and its answer arrives. Checks that the stale
    flush ends refused; returns the newer job's fence.
    """
    with fenced(runtime.lease(FLUSH, "tmall", "w1 job 1")):
        stale = asyncio.create_task(runtime.run(FLUSH, "tmall"))
    await eventually(lambda: len(shop.sending) == 1)
    newer = runtime.lease(FLUSH, "tmall", "w2 job 2")
    shop.gate.set()
    with pytest.raises(LeaseLostError, match="moved on to epoch 2"):
        await stale
    return newer


def test_each_job_takes_the_next_epoch_of_its_channels_step_group(world: World) -> None:
    engine = world.store.engine
    now = world.clock.now()
    assert take_lease(engine, "tmall", "flush", "w1 job 1", now).epoch == 1
    assert take_lease(engine, "tmall", "flush", "w2 job 2", now).epoch == 2
    # Another group, another channel: leases of their own.
    assert take_lease(engine, "tmall", "pull", "w1 job 3", now).epoch == 1
    assert take_lease(engine, "jd", "flush", "w1 job 4", now).epoch == 1


async def test_a_flush_whose_lease_moved_on_settles_nothing(world: World) -> None:
    shop, runtime = await gated(world, GatedSends)
    assert due(runtime, "tmall") == ["CUP", "MUG"]
    hook = FenceOnCommit(runtime.engine.store.engine)  # type: ignore[attr-defined]
    hook.install()
    try:
        newer = await superseded_flush(runtime, shop)
        assert hook.refused == 1
        # Nothing of the stale flush was recorded: the entries are still to send.
        assert due(runtime, "tmall") == ["CUP", "MUG"]
        assert sent_quantities(runtime, "tmall") == [None, None]
        # Transactions outside a fenced job are not concerned.
        assert due(runtime, "tmall") == ["CUP", "MUG"]
        with fenced(newer):
            report = await runtime.run(FLUSH, "tmall")
        assert report.summary["sent"] == 4  # two quantities and two prices
        assert due(runtime, "tmall") == []
        assert sent_quantities(runtime, "tmall") == [5, 10]
    finally:
        hook.remove()
        await runtime.close()


async def test_a_flush_whose_lease_moved_on_makes_no_further_call(world: World) -> None:
    # One update per call: the flush's two stock calls would be settled together, but
    # each is preceded by a checked commit, so the stale one stops after its first.
    shop, runtime = await gated(world, GatedOneAtATime)
    hook = FenceOnCommit(runtime.engine.store.engine)  # type: ignore[attr-defined]
    hook.install()
    try:
        await superseded_flush(runtime, shop)
        assert shop.sending == [1]  # no second call
        assert hook.refused == 1
        assert due(runtime, "tmall") == ["CUP", "MUG"]  # the first answer not recorded
    finally:
        hook.remove()
        await runtime.close()


async def test_the_current_holders_commits_go_through(world: World) -> None:
    runtime = world.runtime()
    hook = FenceOnCommit(runtime.engine.store.engine)  # type: ignore[attr-defined]
    hook.install()
    try:
        with fenced(runtime.lease(PULL_ORDERS, "tmall", "w1 job 1")):
            await runtime.run(PULL_ORDERS, "tmall")
        assert hook.refused == 0
        assert due(runtime, "tmall") == ["CUP", "MUG"]
    finally:
        hook.remove()
        await runtime.close()
