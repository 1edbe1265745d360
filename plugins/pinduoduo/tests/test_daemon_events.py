"""The daemon listens: PMC events reach the store through the inbox, once, within moments.

A real ``Daemon`` runs one Pinduoduo channel against the fake marketplace, its PMC
service served on loopback. Polling is slowed to once an hour, so an order placed
after the first pull can only arrive through its event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from channelsync_pinduoduo import PinduoduoChannel
from channelsync_pinduoduo.fake import FakePdd, FakePmcServer

from channelsync.channels.events import ChannelEvent, EventKind
from channelsync.clock import FakeClock
from channelsync.config import DaemonConfig
from channelsync.daemon.runner import Daemon
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.inbox import receive_event
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store
from channelsync.testing.fakes import demo_catalogue

from .conftest import MakeChannel
from .pmc_helpers import FAST, eventually

#: Polling once an hour: anything seen sooner came through an event.
SLOW_POLLING = DaemonConfig(
    pull_interval=3600,
    flush_interval=0.05,
    reconcile_interval=3600,
    stale_after=7200,
    shutdown_grace=0.5,
    max_backoff=0.2,
)


@pytest.fixture
def pmc(fake: FakePdd) -> Iterator[FakePmcServer]:
    with fake.serve_events(heartbeat_interval=0.02) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    rows = ["sku,title,price,currency,quantity"]
    for item in demo_catalogue():
        for sku in item.skus:
            rows.append(f"{sku.merchant_code},{item.title},{sku.price},CNY,30")
    import_catalogue(opened, parse_catalogue("\n".join(rows) + "\n", "csv"), now=clock.now())
    yield opened
    opened.close()


def _channel(make_channel: MakeChannel, pmc: FakePmcServer) -> PinduoduoChannel:
    channel = make_channel(settings={"events": True, "events_url": pmc.url})
    channel.pmc_timers = FAST
    return channel


@asynccontextmanager
async def running(
    store: Store, channel: PinduoduoChannel, clock: FakeClock
) -> AsyncIterator[Daemon]:
    daemon = Daemon(SyncEngine(store, [channel], clock=clock), SLOW_POLLING, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: daemon.status["shop"].last_pull is not None, "the first pull")
        await eventually(lambda: daemon.status["shop"].events == "connected", "the listener")
        yield daemon
    finally:
        daemon.stop()
        await task


def _stored(store: Store) -> list[str]:
    with store.transaction() as session:
        return [o.order_id for o in session.orders(channel="shop")]


async def test_an_order_arrives_through_its_event_and_is_imported_once(
    store: Store, fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel, clock: FakeClock
) -> None:
    fake.push.duplicate_rate = 1.0  # every confirmed message is delivered once more
    async with running(store, _channel(make_channel, pmc), clock) as daemon:
        before = set(_stored(store))
        (order,) = fake.generate_orders(1)
        await eventually(lambda: order.order_id in _stored(store), "the order, by its event")
        await eventually(lambda: fake.push.counts["acked"] >= 2, "the duplicate's ack")
        status = daemon.status["shop"]
        assert status.events_received == 1
        assert status.events_duplicate >= 1
        assert status.events_processed == 1
        shown = daemon.health().channels["shop"]["events"]
        assert isinstance(shown, dict)
        assert (shown["state"], shown["received"]) == ("connected", 1)
    assert set(_stored(store)) - before == {order.order_id}
    # How soon the event brought the order is measured, for the pace-aware protection.
    with store.transaction() as session:
        figures = session.visibility()
    assert figures[("shop", "events")].samples == 1
    assert _stored(store).count(order.order_id) == 1
    assert _unprocessed(store) == []


async def test_reordered_and_duplicated_events_import_each_order_once(
    store: Store, fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel, clock: FakeClock
) -> None:
    fake.push.shuffle = True  # a batch arrives in any order
    fake.push.duplicate_rate = 1.0  # and every confirmed message comes once more
    async with running(store, _channel(make_channel, pmc), clock) as daemon:
        before = set(_stored(store))
        orders = fake.generate_orders(4)
        wanted = {order.order_id for order in orders}
        await eventually(lambda: wanted <= set(_stored(store)), "every order, by its event")
        await eventually(lambda: daemon.status["shop"].events_duplicate >= 4, "the duplicates")
        status = daemon.status["shop"]
        # Each message was written once; every further delivery was a no-op.
        assert status.events_received == fake.push.counts["published"]
        assert status.events_processed == status.events_received
    stored = _stored(store)
    assert set(stored) - before == wanted
    assert all(stored.count(order_id) == 1 for order_id in wanted)
    assert _unprocessed(store) == []
    # The same ledger as polling, once: each order reserves its units one time.
    with store.transaction() as session:
        ledger = session.ledger()
    for order in orders:
        reserved = sum(
            e.reserved_delta for e in ledger if e.channel == "shop" and e.order_id == order.order_id
        )
        assert reserved == sum(line.quantity for line in order.lines)


async def test_an_event_committed_but_never_answered_is_answered_at_the_next_start(
    store: Store, fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel, clock: FakeClock
) -> None:
    # The process died after writing the event and acknowledging it, before the read.
    channel = _channel(make_channel, pmc)
    engine = SyncEngine(store, [channel], clock=clock)
    await engine.run_cycle()
    (order,) = fake.generate_orders(1)
    fake.push.redeliver_after = 3600  # the marketplace believes it was acknowledged
    event = ChannelEvent(
        kind=EventKind.ORDER,
        message_id="900000000000000001",
        key=order.order_id,
        order_id=order.order_id,
        topic="pdd_trade_TradeConfirmed",
    )
    assert receive_event(engine.context, "shop", event)
    assert not receive_event(engine.context, "shop", event)  # a redelivery: no second row
    assert order.order_id not in _stored(store)

    async with running(store, _channel(make_channel, pmc), clock):
        await eventually(lambda: order.order_id in _stored(store), "the leftover answered")
    with store.transaction() as session:
        assert session.unprocessed_events("shop") == []


async def test_an_event_for_an_order_the_marketplace_does_not_know_is_logged_once(
    store: Store,
    fake: FakePdd,
    pmc: FakePmcServer,
    make_channel: MakeChannel,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = _channel(make_channel, pmc)
    engine = SyncEngine(store, [channel], clock=clock)
    event = ChannelEvent(
        kind=EventKind.ORDER,
        message_id="900000000000000002",
        key="240301-000000000000000",
        topic="pdd_trade_TradeConfirmed",
    )
    assert receive_event(engine.context, "shop", event)
    with caplog.at_level(logging.WARNING, logger="channelsync"):
        async with running(store, channel, clock):
            await eventually(lambda: not _unprocessed(store), "the unknown order's event answered")
    unknown = [r for r in caplog.records if "does not know" in r.getMessage()]
    assert len(unknown) == 1
    assert "shop" in unknown[0].getMessage()


def _unprocessed(store: Store) -> list[object]:
    with store.transaction() as session:
        return list(session.unprocessed_events("shop"))


async def test_a_slow_read_never_holds_up_receiving(
    store: Store,
    fake: FakePdd,
    pmc: FakePmcServer,
    make_channel: MakeChannel,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = _channel(make_channel, pmc)
    release = asyncio.Event()
    read = channel.get_order

    async def slow(order_id: str) -> Any:
        await release.wait()  # the marketplace's rate limit, say
        return await read(order_id)

    monkeypatch.setattr(channel, "get_order", slow)
    async with running(store, channel, clock) as daemon:
        orders = fake.generate_orders(3)
        # Every event is committed and acknowledged while the first read still waits.
        await eventually(lambda: daemon.status["shop"].events_received == 3, "three events")
        await eventually(lambda: fake.push.counts["acked"] >= 3, "three acks")
        assert daemon.status["shop"].events_processed == 0
        release.set()
        wanted = {order.order_id for order in orders}
        await eventually(lambda: wanted <= set(_stored(store)), "every order, by its event")
    assert _unprocessed(store) == []
