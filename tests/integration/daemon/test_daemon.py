from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from channelsync.clock import FakeClock
from channelsync.config import DaemonConfig
from channelsync.daemon import ChannelStatus, Daemon, DaemonMetrics, health
from channelsync.daemon.listening import EventPump
from channelsync.daemon.logs import ChannelFilter
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.pausing import pause_channel, resume_channel
from channelsync.engine.sync import SyncEngine
from channelsync.errors import TransientError
from channelsync.models import Listing
from channelsync.store import InboxEvent, SqlStore, StoreLease, StoreLockedError, open_store
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


def _set_paused(store: SqlStore, name: str, clock: FakeClock, *, paused: bool) -> None:
    """Pause or resume ``name`` as another process (the CLI) would: in the store only."""
    with store.transaction() as session:
        if paused:
            assert pause_channel(session, name, by="ops", reason="stocktake", now=clock.now())
        else:
            assert resume_channel(session, name, by="ops", now=clock.now())


async def cycles(channel: MemoryChannel, clock: FakeClock, count: int = 3) -> None:
    """Let ``count`` pulls of a working channel happen (each new minute is read)."""
    for _ in range(count):
        made = len(channel.calls)
        clock.advance(60)
        await eventually(lambda made=made: len(channel.calls) > made)


async def test_a_paused_channel_makes_no_call_until_resumed_by_another_process(
    store: SqlStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    tmall, jd = shop(MemoryChannel, "tmall", clock), shop(MemoryChannel, "jd", clock)
    paused_at = clock.now()
    _set_paused(store, "jd", clock, paused=True)
    daemon = Daemon(
        SyncEngine(store, [tmall, jd], clock=clock), FAST, clock=clock, observe_interval=0.05
    )
    caplog.handler.addFilter(ChannelFilter())  # names the channel, as the daemon's logs do
    with caplog.at_level(logging.INFO, logger="channelsync.daemon"):
        running = asyncio.create_task(daemon.run())
        await eventually(lambda: tmall.listing("MUG").quantity == 10)
        await cycles(tmall, clock)

        assert jd.calls == []
        assert not jd.is_open  # not even opened (no sign-in) while paused
        assert jd.listing("MUG").quantity == 0
        assert set(daemon.paused) == {"jd"}
        status = daemon.status["jd"]
        assert (status.paused, status.paused_by, status.paused_reason) == (True, "ops", "stocktake")
        assert status.paused_since == paused_at
        # Idle on purpose is not stale: healthy, and shown as paused.
        later = clock.now() + timedelta(seconds=FAST.stale_after + 1)
        report = health([status], later, FAST.stale_after)
        assert report.ok
        assert report.channels["jd"]["paused"] == {
            "since": paused_at.isoformat(),
            "by": "ops",
            "reason": "stocktake",
        }
        assert daemon.health().channels["tmall"]["paused"] is None
        assert daemon.metrics.paused.labels("jd")._value.get() == 1

        _set_paused(store, "jd", clock, paused=False)  # the observe loop reads it
        await eventually(lambda: jd.listing("MUG").quantity == 10)
        daemon.stop()
        await asyncio.wait_for(running, timeout=3)

    assert daemon.paused == {}
    assert not daemon.status["jd"].paused
    assert daemon.status["jd"].paused_reason is None
    assert daemon.metrics.paused.labels("jd")._value.get() == 0
    logged = [(r.getMessage(), getattr(r, "channel", None)) for r in caplog.records]
    assert [entry for entry in logged if entry[0].startswith(("paused by", "resumed"))] == [
        ("paused by ops: stocktake", "jd"),
        ("resumed", "jd"),
    ]


async def test_pausing_a_running_channel_stops_its_calls_and_resume_catches_up(
    store: SqlStore, clock: FakeClock
) -> None:
    tmall, jd = shop(MemoryChannel, "tmall", clock), shop(MemoryChannel, "jd", clock)
    # A long observe interval: only refresh_paused applies the changes here.
    daemon = Daemon(
        SyncEngine(store, [tmall, jd], clock=clock), FAST, clock=clock, observe_interval=60
    )
    running = asyncio.create_task(daemon.run())
    await eventually(lambda: tmall.listing("MUG").quantity == 10 == jd.listing("MUG").quantity)

    _set_paused(store, "tmall", clock, paused=True)
    assert set(daemon.refresh_paused()) == {"tmall"}
    assert daemon.status["tmall"].paused
    # Let the step in flight end, then watch tmall while jd keeps working.
    await cycles(jd, clock)
    made = len(tmall.calls)
    clock.advance(60)
    tmall.place_order([("MUG", 3)], order_id="T-1")
    jd.place_order([("CUP", 1)], order_id="J-1")
    clock.advance(60)  # both orders are older than the end of the next pull window
    await eventually(lambda: daemon.status["jd"].orders_imported == 1)
    await cycles(jd, clock)
    assert len(tmall.calls) == made  # not one call since the step in flight ended
    assert tmall.listing("CUP").quantity == 5  # jd's sale waits in tmall's outbox
    assert daemon.engine.backlog("tmall")[0] >= 1
    assert daemon.status["tmall"].orders_imported == 0
    assert jd.listing("MUG").quantity == 10  # tmall's order is unseen while it is paused

    _set_paused(store, "tmall", clock, paused=False)
    assert daemon.refresh_paused() == {}
    await eventually(lambda: tmall.listing("CUP").quantity == 4 and jd.listing("MUG").quantity == 7)
    daemon.stop()
    await asyncio.wait_for(running, timeout=3)
    assert daemon.status["tmall"].orders_imported == 1
    assert daemon.status["tmall"].resumed_at is not None


async def test_a_paused_channel_keeps_its_events_but_reads_them_after_the_resume(
    store: SqlStore, clock: FakeClock
) -> None:
    engine = SyncEngine(store, [shop(MemoryChannel, "tmall", clock)], clock=clock)
    resumed, stopping = asyncio.Event(), asyncio.Event()
    pump = EventPump(
        engine,
        "tmall",
        status=ChannelStatus("tmall"),
        metrics=DaemonMetrics(),
        wake_all=lambda: None,
        stopping=stopping,
        until_resumed=resumed.wait,
    )
    answered: list[str] = []

    async def answer(event: InboxEvent) -> None:
        answered.append(event.message_id)

    pump._answer = answer  # type: ignore[method-assign]
    event = InboxEvent("tmall", "m-1", "order", "T-1", "trade", received_at=clock.now())
    pump._queue.put_nowait(event)
    answering = asyncio.create_task(pump._answer_all())
    await asyncio.sleep(0.1)
    assert answered == []  # held while paused
    resumed.set()
    await eventually(lambda: answered == ["m-1"])
    answering.cancel()
