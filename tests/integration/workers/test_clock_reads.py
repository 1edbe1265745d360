"""A clock tick's reads of many workspaces: one statement on PostgreSQL, the same answers.

Four workspaces of one store (``default`` and three beside it, one whose schema needs
quoting), each with its own mix of paused channels, outbox entries (due, not yet due,
sent, parked for credentials, parked for another reason) and inbox events (answered
or not). The one read of them all must give what each workspace's own
``clock_view`` gives, on PostgreSQL and on SQLite (where it is that read).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from procrastinate import JobContext, jobs
from sqlalchemy import Engine, event

from channelsync.channels import EventsCapability
from channelsync.channels.events import EventListener
from channelsync.clock import FakeClock
from channelsync.config import DaemonConfig
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.pausing import pause_channel
from channelsync.engine.sync import SyncEngine
from channelsync.store import SqlStore, open_store
from channelsync.store.inbox import InboxEvent
from channelsync.store.outbox import OutboxState
from channelsync.testing import MemoryChannel
from channelsync.workers.app import SERVICES_KEY, JobServices, Served, _clock, build_app
from channelsync.workers.clock import cadences, clock_group, due, group_tick
from channelsync.workers.clock_reads import ClockRead, _starts_with, read_clock_views
from channelsync.workers.deferring import Deferrer, queue_of, task_name
from channelsync.workers.extra import conninfo
from channelsync.workers.runtime import ClockView, WorkerRuntime
from channelsync.workers.schema import install_queue_schema

from .queue_world import SETTINGS, TUNING

# "7-eleven": its schema cs_7-eleven is no plain identifier (a digit after the
# prefix, a hyphen); "shop_9": an underscore, as LIKE patterns and prefixes see them.
WORKSPACES = ("default", "acme", "shop_9", "7-eleven")
CONFIGURED = ("tmall", "jd", "push", "b2b")  # "gone" has rows but is not configured


class PushShop(MemoryChannel, EventsCapability):
    """A shop whose marketplace pushes events (its listener is never opened here)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.settings = self.settings.model_copy(update={"events": True})

    def listen(self) -> EventListener:  # pragma: no cover - no listener runs here
        raise NotImplementedError

    async def enable_events(self) -> str:  # pragma: no cover
        raise NotImplementedError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def base_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store holding workspaces: a SQLite file (one beside it each), or a database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stores(base_url: str) -> Iterator[dict[str, SqlStore]]:
    opened: dict[str, SqlStore] = {}
    try:
        for name in WORKSPACES:
            store = open_store(base_url, workspace=name, create=True)
            assert isinstance(store, SqlStore)
            opened[name] = store
        yield opened
    finally:
        for store in opened.values():
            store.close()


def runtime(store: SqlStore, clock: FakeClock, settings: DaemonConfig = SETTINGS) -> WorkerRuntime:
    channels: list[MemoryChannel] = [
        MemoryChannel(name, clock=clock) for name in CONFIGURED if name != "push"
    ]
    channels.append(PushShop("push", clock=clock))
    return WorkerRuntime(SyncEngine(store, channels, clock=clock), settings)


def outbox(store: SqlStore, clock: FakeClock, channel: str, how: str) -> None:
    """Queue an entry of ``channel`` and leave it ``how``: due, later, sent, or parked."""
    now = clock.now()
    with store.transaction() as session:
        version = session.enqueue(
            channel=channel,
            kind="stock",
            key=f"{channel}:{how}",
            payload={"quantity": 1},
            urgency=1,
            now=now,
        )
        (item,) = [i for i in session.outbox(channel=channel) if i.key == f"{channel}:{how}"]
        if how == "later":
            session.defer(item.id, version, until=now + timedelta(hours=1), reason="x", now=now)
        elif how == "sent":
            session.settle(item.id, version, OutboxState.SENT, now=now)
        elif how == "credentials":
            reason = f"{WAITING_FOR_CREDENTIALS}: the token expired"
            session.settle(item.id, version, OutboxState.PARKED, now=now, reason=reason)
        elif how == "rejected":
            reason = "rejected: waiting for credentials of another shop"
            session.settle(item.id, version, OutboxState.PARKED, now=now, reason=reason)


def inbox(store: SqlStore, clock: FakeClock, channel: str, *, answered: bool) -> None:
    now = clock.now()
    message = f"{channel}-{'answered' if answered else 'open'}"
    with store.transaction() as session:
        session.record_event(
            InboxEvent(
                channel=channel,
                message_id=message,
                kind="order",
                key="o1",
                topic="t",
                received_at=now,
            )
        )
        if answered:
            session.mark_event_processed(channel, message, "answered", now)


def pause(store: SqlStore, clock: FakeClock, *channels: str) -> None:
    with store.transaction() as session:
        for channel in channels:
            pause_channel(session, channel, by="ops", reason="maintenance", now=clock.now())


@pytest.fixture
def runtimes(stores: dict[str, SqlStore], clock: FakeClock) -> list[WorkerRuntime]:
    """The four workspaces, each with its own mix."""
    default, acme, shop, eleven = (stores[name] for name in WORKSPACES)
    pause(default, clock, "tmall")
    for channel, how in (("tmall", "due"), ("jd", "later"), ("push", "sent")):
        outbox(default, clock, channel, how)
    inbox(default, clock, "push", answered=False)

    for channel, how in (("jd", "credentials"), ("b2b", "rejected"), ("gone", "due")):
        outbox(acme, clock, channel, how)
    inbox(acme, clock, "push", answered=True)
    inbox(acme, clock, "tmall", answered=False)  # tmall does not listen

    pause(shop, clock, "jd", "push", "gone")
    for channel, how in (("push", "due"), ("b2b", "due"), ("b2b", "credentials")):
        outbox(shop, clock, channel, how)
    inbox(shop, clock, "push", answered=False)
    inbox(shop, clock, "push", answered=True)
    inbox(shop, clock, "gone", answered=False)

    outbox(eleven, clock, "tmall", "later")
    clock.advance(1)  # the due entries' time has passed, the later one's not
    return [runtime(stores[name], clock) for name in WORKSPACES]


def one_by_one(reads: list[ClockRead]) -> dict[str, ClockView]:
    return {
        read.runtime.workspace: read.runtime.clock_view(flushes=read.flushes, answers=read.answers)
        for read in reads
    }


def test_one_read_of_every_workspace_answers_as_each_workspace_does(
    runtimes: list[WorkerRuntime],
) -> None:
    for flushes, answers in itertools.product((True, False), repeat=2):
        reads = [ClockRead(r, flushes=flushes, answers=answers) for r in runtimes]
        assert read_clock_views(reads) == one_by_one(reads), (flushes, answers)
    views = read_clock_views([ClockRead(r, flushes=True, answers=True) for r in runtimes])
    assert views == {
        "default": ClockView(paused={"tmall"}, flushes={"tmall"}, answers={"push"}),
        "acme": ClockView(flushes={"jd"}),
        "shop_9": ClockView(paused={"jd", "push"}, flushes={"push", "b2b"}, answers={"push"}),
        "7-eleven": ClockView(),
    }


def test_each_workspace_is_read_for_what_its_tick_needs(runtimes: list[WorkerRuntime]) -> None:
    flags = itertools.cycle([(True, False), (False, True), (True, True), (False, False)])
    reads = [ClockRead(r, *next(flags)) for r in runtimes]
    assert read_clock_views(reads) == one_by_one(reads)
    assert read_clock_views(reads[2:]) == one_by_one(reads[2:])
    assert read_clock_views([]) == {}


def test_a_workspace_read_twice_is_refused(runtimes: list[WorkerRuntime]) -> None:
    with pytest.raises(ValueError, match="each workspace once"):
        read_clock_views([ClockRead(runtimes[0]), ClockRead(runtimes[0])])


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine sends to its database while the test runs."""
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@pytest.mark.postgres
def test_on_postgres_a_tick_reads_its_workspaces_in_one_statement(
    postgres_database: str, clock: FakeClock, statements: list[str]
) -> None:
    stores = [open_store(postgres_database, workspace=name, create=True) for name in WORKSPACES]
    try:
        runtimes = []
        for store in stores:
            assert isinstance(store, SqlStore)
            runtimes.append(runtime(store, clock))
        for some in (runtimes[:1], runtimes):
            reads = [ClockRead(r, flushes=True, answers=True) for r in some]
            statements.clear()
            read_clock_views(reads)
            # The transaction's settings, then the one read of every workspace.
            assert len(statements) == 2
            assert statements[1].count("UNION ALL") == 3 * len(some) - 1
            # Each workspace's own reads: three per workspace, and one per listening channel.
            statements.clear()
            one_by_one(reads)
            assert len(statements) == 3 * len(some)
    finally:
        for store in stores:
            store.close()


@pytest.mark.postgres
def test_a_tick_queues_the_steps_the_workspaces_own_reads_would(
    postgres_database: str, runtimes: list[WorkerRuntime], clock: FakeClock
) -> None:
    asyncio.run(install_queue_schema(conninfo(postgres_database)))
    # Every step of every channel falls due at each tick of a second.
    settings = DaemonConfig(flush_interval=1, pull_interval=1, stale_after=60)
    runtimes = [WorkerRuntime(r.engine, settings, reconcile=r.reconcile_step) for r in runtimes]
    timestamp = 1_800_000_000
    tick = group_tick(settings for _ in runtimes)
    expected = set()
    for served in runtimes:
        kept = cadences(
            served.channels,
            settings,
            reconcile=served.reconcile_step is not None,
            workspace=served.workspace,
        )
        view = served.clock_view(flushes=True, answers=True)
        wanted = {"flush": view.flushes, "answer_events": view.answers}
        for step, name in due(kept, timestamp, tick):
            if name not in view.paused and name in wanted.get(step, {name}):
                expected.add((served.workspace, task_name(step), name))

    async def tick_once() -> tuple[dict[str, int], set[tuple[str, str, str]]]:
        names = {served.workspace: settings for served in runtimes}
        app = build_app(
            conninfo(postgres_database), tuning=TUNING, periodic=False, workspaces=names
        )
        async with app.open_async():
            services = JobServices(
                {r.workspace: Served(r, Deferrer(app, r.workspace)) for r in runtimes}, TUNING
            )
            job = jobs.Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t")
            context = JobContext(
                app=app,
                job=job,
                start_timestamp=0.0,
                abort_reason=lambda: None,
                additional_context={SERVICES_KEY: services},
            )
            counts = await _clock(context, timestamp=timestamp, group=clock_group(names))
            queued = set()
            for served in runtimes:
                for found in await app.job_manager.list_jobs_async(
                    queue=queue_of(served.workspace), status="todo"
                ):
                    queued.add(
                        (served.workspace, found.task_name, str(found.task_kwargs["channel"]))
                    )
            return counts, queued

    counts, queued = asyncio.run(tick_once())
    assert queued == expected
    assert counts == {"due": len(expected), "queued": len(expected)}
    assert ("default", task_name("flush"), "tmall") not in queued  # paused
    assert ("shop_9", task_name("flush"), "b2b") in queued
    assert ("default", task_name("answer_events"), "push") in queued
    assert ("acme", task_name("flush"), "jd") in queued  # its credentials may be back
    assert ("acme", task_name("flush"), "b2b") not in queued  # parked for good


def test_the_parked_reasons_prefix_is_escaped_as_sqlalchemy_escapes_it() -> None:
    assert _starts_with("waiting for credentials") == "waiting for credentials%"
    assert _starts_with("a_b%c/") == "a/_b/%c//%"
