"""Workers hearing marketplace events: one listener per channel across the cluster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from channelsync.channels import EventKind, EventsCapability, ListenerState
from channelsync.channels.events import ChannelEvent, EventListener, ListenerStatus
from channelsync.cli import cli
from channelsync.daemon.listening import LISTENING_CURSOR
from channelsync.engine.inbox import receive_event
from channelsync.testing import MemoryChannel
from channelsync.workers.deferring import ANSWER_EVENTS, task_name
from channelsync.workers.listening import LOCK_SPACE, lock_key
from channelsync.workers.running import run_worker
from channelsync.workers.runtime import WorkerRuntime

from .queue_world import TUNING, World, eventually, memory_shop, registered_workers

pytestmark = pytest.mark.postgres


class PushService:
    """The marketplace's push service: the events it sends and who is listening."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[ChannelEvent] = asyncio.Queue()
        self.listening = 0
        self.opened: list[_Listener] = []
        self.acked: list[str] = []


class _Listener(EventListener):
    def __init__(self, service: PushService) -> None:
        self.service = service
        self.closed = asyncio.Event()
        service.listening += 1
        service.opened.append(self)

    async def __aiter__(self) -> AsyncIterator[ChannelEvent]:
        while not self.closed.is_set():
            yield await self.service.events.get()

    async def ack(self, event: ChannelEvent) -> bool:
        self.service.acked.append(event.message_id)
        return True

    async def fail(self, event: ChannelEvent, reason: str) -> bool:
        return True

    @property
    def status(self) -> ListenerStatus:
        return ListenerStatus(state=ListenerState.CONNECTED)

    async def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.service.listening -= 1


class PushShop(MemoryChannel, EventsCapability):
    """A shop whose marketplace pushes events; its clients share the push service."""

    def __init__(self, name: str = "memory", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.settings = self.settings.model_copy(update={"events": True})
        self.push = PushService()

    def listen(self) -> EventListener:
        return _Listener(self.push)

    async def enable_events(self) -> str:
        return "nothing to enable"


@pytest.fixture
def pushing(world: World) -> PushShop:
    shop = memory_shop("tmall", world.clock, PushShop)
    assert isinstance(shop, PushShop)
    world.shops["tmall"] = shop
    return shop


def order_event(order_id: str, message_id: str) -> ChannelEvent:
    return ChannelEvent(
        kind=EventKind.ORDER, message_id=message_id, key=order_id, topic="trade", order_id=order_id
    )


def imported(world: World, channel: str) -> list[str]:
    with world.store.transaction() as session:
        return sorted(order.order_id for order in session.orders(channel=channel))


async def test_one_worker_listens_and_any_worker_answers_within_seconds(
    world: World, pushing: PushShop
) -> None:
    """The pull interval is a minute: only the event can bring the order this soon."""
    jd = world.shops["jd"]
    stops = [asyncio.Event(), asyncio.Event()]
    runtimes = [world.runtime(), world.runtime()]

    def start(i: int) -> asyncio.Task[None]:
        worker = run_worker(world.app(), runtimes[i], tuning=TUNING, stop=stops[i], name=f"w{i}")
        return asyncio.create_task(worker)

    # The first worker holds the channel's lock before the second one starts.
    workers = [start(0)]
    try:
        await eventually(lambda: pushing.push.listening == 1)
        workers.append(start(1))
        await eventually(lambda: registered_workers(world) == 2)
        await eventually(lambda: jd.listing("MUG").quantity == 10)  # the first round
        await asyncio.sleep(3 * TUNING.heartbeat_every)  # the second worker looked again
        assert pushing.push.listening == 1  # one listener across the cluster
        # Every worker plans with the channel heard, not only the one that hears it.
        await eventually(lambda: _heard_in_store(world))
        with world.store.transaction() as session:
            assert session.cursors(LISTENING_CURSOR)["tmall"][1] == "w0"  # who listens
        for runtime in runtimes:
            runtime._look_around()
            assert _heard(runtime)

        order = pushing.place_order([("MUG", 3)], order_id="T-1")
        await pushing.push.events.put(order_event(order.order_id, "m-1"))
        await eventually(lambda: imported(world, "tmall") == ["T-1"])
        await eventually(lambda: jd.listing("MUG").quantity == 7)
        assert pushing.push.acked == ["m-1"]
        with world.store.transaction() as session:
            assert session.unprocessed_events("tmall") == []

        # The listening worker stops: the other takes the channel's lock and listens.
        stops[0].set()
        await asyncio.wait_for(workers[0], timeout=10)
        # Its listener closed (the other worker may already have taken the lock).
        assert pushing.push.opened[0].closed.is_set()
        assert pushing.push.listening <= 1
        await eventually(lambda: pushing.push.listening == 1)
        order = pushing.place_order([("MUG", 2)], order_id="T-2")
        await pushing.push.events.put(order_event(order.order_id, "m-2"))
        await eventually(lambda: jd.listing("MUG").quantity == 5)
        # A redelivery is recognised by its message id: no second read, nothing twice.
        await pushing.push.events.put(order_event(order.order_id, "m-2"))
        await eventually(lambda: pushing.push.acked.count("m-2") == 2)

        # The locks' connection is cut (a network drop): the listener stops with it,
        # the worker connects again, takes the lock again and listens again.
        assert _cut_listening_connections(world) == 1
        await eventually(lambda: pushing.push.listening == 0, timeout=5)
        await eventually(lambda: pushing.push.listening == 1, timeout=10)
        order = pushing.place_order([("MUG", 1)], order_id="T-3")
        await pushing.push.events.put(order_event(order.order_id, "m-3"))
        await eventually(lambda: jd.listing("MUG").quantity == 4)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait(workers, timeout=10)
    for worker in workers:
        worker.result()
    assert imported(world, "tmall") == ["T-1", "T-2", "T-3"]
    assert pushing.push.listening == 0
    assert not _heard_in_store(world)  # a listener that stops says so


def test_a_listener_that_stopped_reporting_is_no_longer_believed(
    world: World, pushing: PushShop
) -> None:
    """A worker killed while listening cannot clear its report: it runs out instead."""
    runtime = world.runtime()
    now = world.clock.now()
    for until, heard in ((now + timedelta(seconds=5), True), (now - timedelta(seconds=1), False)):
        with world.store.transaction() as session:
            session.set_cursor("tmall", LISTENING_CURSOR, until, None)
        runtime._look_around()
        assert _heard(runtime) is heard


def _cut_listening_connections(world: World) -> int:
    """Terminate the connections holding this test's ``tmall`` listening lock; how many.

    A lock of two 32-bit keys shows them in ``pg_locks`` as ``classid`` and ``objid``
    (``objsubid`` 2), as unsigned numbers.
    """
    with psycopg.connect(world.conninfo, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
            "AND classid::bigint = hashtext(%s)::bigint & 4294967295 "
            "AND objid::bigint = hashtext(%s)::bigint & 4294967295",
            (LOCK_SPACE, lock_key(world.store, "tmall")),
        ).fetchall()
    return len(rows)


def _heard(runtime: WorkerRuntime) -> bool:
    """Whether this worker plans with ``tmall``'s events delay (its listener is heard)."""
    return runtime.engine.context.visibility.events_healthy.get("tmall", False)


def _heard_in_store(world: World) -> bool:
    with world.store.transaction() as session:
        return "tmall" in session.cursors(LISTENING_CURSOR)


async def test_events_left_unanswered_are_answered_when_a_worker_starts(
    world: World, pushing: PushShop
) -> None:
    order = pushing.place_order([("CUP", 1)], order_id="T-9")
    runtime = world.runtime()
    # Received and acknowledged by a worker that stopped before its read.
    assert receive_event(runtime.engine.context, "tmall", order_event(order.order_id, "m-9"))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(world.app(), runtime, tuning=TUNING, stop=stop))
    try:
        await eventually(lambda: imported(world, "tmall") == ["T-9"])
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
    with world.store.transaction() as session:
        assert session.unprocessed_events("tmall") == []


def test_the_answer_step_is_a_task_of_its_own() -> None:
    assert task_name(ANSWER_EVENTS) == "channelsync.answer_events"


def test_status_names_the_worker_that_listens(world: World, tmp_path: Path) -> None:
    """The listener's report names its worker; ``status`` shows it while it is current."""
    config = tmp_path / "channelsync.toml"
    config.write_text(
        f'[store]\nurl = "{world.url}"\n\n'
        '[[channels]]\nname = "tmall"\ntype = "tmall"\napp_key = "12345678"\nevents = true\n',
        encoding="utf-8",
    )
    now = datetime.now(UTC)
    shown = []
    for until in (now + timedelta(minutes=5), now - timedelta(seconds=1)):
        with world.store.transaction() as session:
            session.set_cursor("tmall", LISTENING_CURSOR, until, "host-a:4242")
        result = CliRunner().invoke(cli, ["status", "--config", str(config), "--json"])
        assert result.exit_code == 0, result.output
        shown.append(json.loads(result.output)["channels"]["tmall"]["events"]["listener"])
        text = CliRunner().invoke(cli, ["status", "--config", str(config)]).output
        assert ("events heard by worker host-a:4242" in text) is (until > now)

    assert shown == [
        {"worker": "host-a:4242", "until": (now + timedelta(minutes=5)).isoformat()},
        None,
    ]
