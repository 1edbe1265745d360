from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from channelsync.clock import FakeClock
from channelsync.config import DaemonConfig
from channelsync.daemon import Daemon
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.errors import TransientError
from channelsync.models import Listing
from channelsync.store import SqlStore, StoreLease, StoreLockedError, open_store
from channelsync.testing import MemoryChannel
from channelsync.testing.memory_channel import TimeWindow

CATALOGUE = """sku,title,price,currency,quantity
MUG,Mug,20.00,CNY,10
CUP,Cup,15.00,CNY,5
"""

FAST = DaemonConfig(
    pull_interval=0.05,
    flush_interval=0.05,
    reconcile_interval=60,
    stale_after=30,
    shutdown_grace=0.5,
    max_backoff=0.2,
)


class SlowShop(MemoryChannel):
    """A marketplace that never finishes answering a listing read."""

    async def iter_listings(self) -> AsyncIterator[Listing]:
        await asyncio.sleep(3600)
        async for listing in super().iter_listings():
            yield listing


class DownShop(MemoryChannel):
    """A marketplace whose order API is down."""

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[object]:  # type: ignore[override]
        raise TransientError("gateway timeout", channel=self.name, operation="orders")
        yield  # pragma: no cover - makes this an async generator


def shop(cls: type[MemoryChannel], name: str, clock: FakeClock) -> MemoryChannel:
    channel = cls(name, clock=clock)
    channel.add_listing(f"{name}-1", "MUG", sku_id="1", quantity=0)
    channel.add_listing(f"{name}-2", "CUP", sku_id="2", quantity=0)
    return channel


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(opened, SqlStore)
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    yield opened
    opened.close()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_slow_and_failing_channels_never_stall_the_others(
    store: SqlStore, clock: FakeClock
) -> None:
    tmall, jd = shop(MemoryChannel, "tmall", clock), shop(MemoryChannel, "jd", clock)
    slow, down = shop(SlowShop, "slow", clock), shop(DownShop, "down", clock)
    engine = SyncEngine(store, [tmall, jd, slow, down], clock=clock)
    daemon = Daemon(engine, FAST, clock=clock, observe_interval=0.05)
    running = asyncio.create_task(daemon.run())

    await eventually(
        lambda: jd.listing("MUG").quantity == 10 and tmall.listing("CUP").quantity == 5
    )
    clock.advance(60)
    tmall.place_order([("MUG", 3)])
    clock.advance(60)  # the order is older than the end of the next pull window
    # Imported from tmall, and jd is shown the 7 that are left.
    await eventually(lambda: jd.listing("MUG").quantity == 7)
    await eventually(lambda: daemon.status["down"].errors >= 2)

    daemon.stop()
    await asyncio.wait_for(running, timeout=3)

    assert daemon.status["tmall"].orders_imported == 1
    assert daemon.status["down"].errors_by_class.get("TransientError", 0) >= 2
    assert daemon.status["down"].last_error.startswith("pull: TransientError")  # type: ignore[union-attr]
    assert daemon.status["slow"].last_sync is None  # stuck in its first listing read
    assert daemon.status["jd"].outbox_depth == 0
    errors = daemon.metrics.errors.labels("down", "pull", "TransientError")._value.get()
    assert errors >= 2
    assert not slow.is_open  # abandoned after the grace period, and closed


async def test_a_restart_picks_up_where_the_last_run_stopped(
    store: SqlStore, clock: FakeClock
) -> None:
    tmall, jd = shop(MemoryChannel, "tmall", clock), shop(MemoryChannel, "jd", clock)
    first = Daemon(SyncEngine(store, [tmall, jd], clock=clock), FAST, clock=clock)
    running = asyncio.create_task(first.run())
    await eventually(lambda: jd.listing("MUG").quantity == 10)
    clock.advance(60)
    tmall.place_order([("MUG", 2)], order_id="T-1")
    clock.advance(60)
    await eventually(lambda: first.status["tmall"].orders_imported == 1)
    first.stop()
    await running

    clock.advance(60)
    tmall.place_order([("CUP", 1)], order_id="T-2")
    clock.advance(60)
    second = Daemon(SyncEngine(store, [tmall, jd], clock=clock), FAST, clock=clock)
    running = asyncio.create_task(second.run())
    await eventually(lambda: jd.listing("CUP").quantity == 4)
    second.stop()
    await running
    # T-1 was not imported again: the second run started from the stored cursor.
    assert second.status["tmall"].orders_imported == 1
    assert jd.listing("MUG").quantity == 8


async def test_one_daemon_per_store(store: SqlStore, clock: FakeClock) -> None:
    def daemon(host: str) -> Daemon:
        lease = StoreLease(store.engine, ttl=FAST.lock_ttl, clock=clock, host=host, pid=1)
        engine = SyncEngine(store, [shop(MemoryChannel, "tmall", clock)], clock=clock)
        return Daemon(engine, FAST, clock=clock, lease=lease)

    first = daemon("first-host")
    running = asyncio.create_task(first.run())
    await eventually(lambda: first.lease is not None and first.lease.held)
    with pytest.raises(StoreLockedError, match="first-host pid 1"):
        await daemon("second-host").run()
    first.stop()
    await running
    assert first.lease is not None
    assert not first.lease.held  # released on the way out
    again = daemon("second-host")
    running = asyncio.create_task(again.run())
    await eventually(lambda: again.lease is not None and again.lease.held)
    again.stop()
    await running


async def test_a_stop_names_the_channels_whose_work_it_abandons(
    store: SqlStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    tmall, slow = shop(MemoryChannel, "tmall", clock), shop(SlowShop, "slow", clock)
    daemon = Daemon(SyncEngine(store, [tmall, slow], clock=clock), FAST, clock=clock)
    running = asyncio.create_task(daemon.run())
    await eventually(lambda: daemon.status["tmall"].last_pull is not None)
    with caplog.at_level(logging.WARNING, logger="channelsync.daemon"):
        daemon.stop()
        await running
    (abandoned,) = [r.getMessage() for r in caplog.records if "abandoning" in r.getMessage()]
    assert "on 1 channel(s) (slow)" in abandoned


async def test_the_daemon_logs_readable_summaries_not_python_reprs(
    store: SqlStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    tmall = shop(MemoryChannel, "tmall", clock)
    daemon = Daemon(SyncEngine(store, [tmall], clock=clock), FAST, clock=clock)
    with caplog.at_level(logging.INFO, logger="channelsync"):
        running = asyncio.create_task(daemon.run())
        await eventually(lambda: daemon.status["tmall"].last_pull is not None)
        daemon.stop()
        await running
    messages = [r.getMessage() for r in caplog.records]
    assert any("bound listings by merchant code: 2 listings read, 2 bound" in m for m in messages)
    assert not [m for m in messages if "Report(" in m]
