"""A worker clock tick's reads at N workspaces: one read per workspace vs one statement.

Makes N workspaces (PostgreSQL schemas beside a base schema of the run's own) with
--channels channels each (the last one listening for events), a few outbox entries,
a pause and an unanswered event here and there, then times the reads of one tick
that has every workspace's flush due, and the events' answers of a third of them:

* per workspace: ``WorkerRuntime.clock_view`` of each, off the event loop, four at a
  time (as the clock read them before);
* one statement: ``read_clock_views`` of them all (``channelsync.workers.clock_reads``).

The two are run in turn --ticks times each (after one tick of each not counted) and
checked to give the same answers; printed: the process's CPU seconds and the wall
seconds of one tick's reads (median, and the lowest), the CPU seconds of the server's
processes serving them (when the server runs on this host), and the statements sent.

    python benchmarks/clock_reads.py                    # 200 workspaces
    python benchmarks/clock_reads.py --workspaces 20 --ticks 20

The server is --store-url (default CHANNELSYNC_TEST_DATABASE_URL, else
postgresql://127.0.0.1:5432/test). Every schema the run makes is dropped at the end,
whether it ends well or not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from _stores import ServerCpu
from sqlalchemy import Engine, event

from channelsync.channels import EventsCapability
from channelsync.channels.events import EventListener
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.pausing import pause_channel
from channelsync.engine.sync import SyncEngine
from channelsync.store import SqlStore, open_store
from channelsync.store.inbox import InboxEvent
from channelsync.store.outbox import OutboxState
from channelsync.testing import MemoryChannel
from channelsync.workers.clock_reads import ClockRead, read_clock_views
from channelsync.workers.runtime import ClockView, WorkerRuntime

DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
# As the clock read the workspaces before: this many at once, each in a thread.
_WIDTH = 4


class Listening(MemoryChannel, EventsCapability):
    """A shop that listens for its marketplace's events (no listener is opened here)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.settings = self.settings.model_copy(update={"events": True})

    def listen(self) -> EventListener:
        raise NotImplementedError

    async def enable_events(self) -> str:
        raise NotImplementedError


def application(run: str) -> str:
    """Return the application name of the run's store connections."""
    return f"cs_bench_clock_{run}"


@contextlib.contextmanager
def run_schemas(server: str, run: str) -> Iterator[str]:
    """Make the run's base schema; yield its store URL; drop every schema of the run.

    The URL names its connections ``application``, so the server's processes serving
    them can be found (:class:`ServerCpu`).
    """
    import psycopg  # noqa: PLC0415 - the workers extra brings it

    plain = server.replace("postgresql+psycopg://", "postgresql://", 1)
    base = f"cs_bench_clock_{run}"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{base}"')
    separator = "&" if "?" in plain else "?"
    try:
        path = quote(f"-csearch_path={base}")
        yield f"{plain}{separator}options={path}&application_name={application(run)}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            # The workspaces' schemas are beside the base, named after the run.
            made = [
                str(row[0])
                for row in connection.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                    (f"cs\\_c{run}\\_%",),
                )
            ]
            for name in [*made, base]:
                connection.execute(f'DROP SCHEMA "{name}" CASCADE')
        print(f"dropped {len(made) + 1} schema(s)", file=sys.stderr)


def make_workspace(url: str, name: str, place: int, channels: int) -> WorkerRuntime:
    """Open (creating) workspace ``name`` with some work of each kind; return its runtime."""
    store = open_store(url, workspace=name, create=True)
    assert isinstance(store, SqlStore)
    shops: list[MemoryChannel] = [MemoryChannel(f"shop{n}") for n in range(channels - 1)]
    shops.append(Listening("push"))
    now = datetime.now(UTC)
    with store.transaction() as session:
        for n, shop in enumerate(shops):
            version = session.enqueue(
                channel=shop.name,
                kind="stock",
                key=f"{shop.name}:1",
                payload={"quantity": 1},
                urgency=1,
                now=now - timedelta(minutes=1),
            )
            (item,) = session.outbox(channel=shop.name)
            # One due in three, the others waiting, sent or parked.
            kind = (place + n) % 4
            if kind == 1:
                later = now + timedelta(hours=1)
                session.defer(item.id, version, until=later, reason="backoff", now=now)
            elif kind == 2:
                session.settle(item.id, version, OutboxState.SENT, now=now)
            elif kind == 3:
                reason = f"{WAITING_FOR_CREDENTIALS}: expired" if place % 2 else "rejected"
                session.settle(item.id, version, OutboxState.PARKED, now=now, reason=reason)
        if place % 10 == 0:
            pause_channel(session, shops[0].name, by="bench", reason="maintenance", now=now)
        for n in range(3):
            message = f"m{n}"
            session.record_event(
                InboxEvent("push", message, "order", f"o{n}", "order", now - timedelta(seconds=n))
            )
            if n or place % 3:
                session.mark_event_processed("push", message, "answered", now)
    return WorkerRuntime(SyncEngine(store, shops))


async def per_workspace(reads: Sequence[ClockRead]) -> dict[str, ClockView]:
    """One tick's reads as before: each workspace's clock_view in a thread, four at once."""
    room = asyncio.Semaphore(_WIDTH)

    async def one(read: ClockRead) -> ClockView:
        async with room:
            return await asyncio.to_thread(
                read.runtime.clock_view, flushes=read.flushes, answers=read.answers
            )

    views = await asyncio.gather(*(one(read) for read in reads))
    return {read.runtime.workspace: view for read, view in zip(reads, views, strict=True)}


async def one_statement(reads: Sequence[ClockRead]) -> dict[str, ClockView]:
    """One tick's reads in one statement, off the event loop."""
    return await asyncio.to_thread(read_clock_views, reads)


Figures = dict[str, list[tuple[float, float, float | None, int]]]


async def timed(
    read: Callable[[Sequence[ClockRead]], Awaitable[dict[str, ClockView]]],
    reads: Sequence[ClockRead],
    sent: list[str],
    server: ServerCpu,
) -> tuple[tuple[float, float, float | None, int], dict[str, ClockView]]:
    """Return one tick's reads' CPU, wall and server CPU seconds and statements; the views."""
    sent.clear()
    before = server.snapshot()
    cpu, wall = time.process_time(), time.perf_counter()
    views = await read(reads)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return (cpu, wall, server.spent(before, server.snapshot()), len(sent)), views


async def measure(
    runtimes: Sequence[WorkerRuntime], ticks: int, sent: list[str], server: ServerCpu
) -> Figures | None:
    """Time both ways in turn on one event loop, as a worker's; ``None``: they disagree.

    Every workspace's flush is due at each tick; the events' answers of a third of
    them, a different third each tick (their interval is the pull's, spread).
    """
    figures: Figures = {"per workspace": [], "one statement": []}
    ways = {"per workspace": per_workspace, "one statement": one_statement}
    for tick in range(ticks + 1):
        reads = [
            ClockRead(runtime, flushes=True, answers=(place + tick) % 3 == 0)
            for place, runtime in enumerate(runtimes)
        ]
        answers = []
        for label, read in ways.items():
            figure, views = await timed(read, reads, sent, server)
            answers.append(views)
            if tick:  # the first of each warms the pool and the statement's cache
                figures[label].append(figure)
        if answers[0] != answers[1]:
            return None
    return figures


def table(figures: Figures) -> str:
    """Return the figures as a table: medians and lowest, in seconds."""
    lines = [
        f"{'':16}{'cpu median':>11}{'min':>7}{'wall median':>12}{'min':>7}"
        f"{'server cpu median':>18}{'stmts':>6}"
    ]
    for label, rows in figures.items():
        cpus, walls = [row[0] for row in rows], [row[1] for row in rows]
        servers = [row[2] for row in rows if row[2] is not None]
        server = f"{statistics.median(servers):.3f}s" if servers else "n/a"
        lines.append(
            f"{label:16}{statistics.median(cpus):>10.3f}s{min(cpus):>6.3f}s"
            f"{statistics.median(walls):>11.3f}s{min(walls):>6.3f}s{server:>18}{rows[0][3]:>6}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200, help="workspaces (default 200)")
    parser.add_argument("--channels", type=int, default=4, help="channels per workspace")
    parser.add_argument("--ticks", type=int, default=10, help="ticks timed per way of reading")
    parser.add_argument(
        "--store-url",
        default=os.environ.get("CHANNELSYNC_TEST_DATABASE_URL", DEFAULT_URL),
        help="PostgreSQL server (schemas of the run's own are made there, then dropped)",
    )
    args = parser.parse_args()
    if args.workspaces < 1 or args.channels < 1 or args.ticks < 1:
        parser.error("--workspaces, --channels and --ticks must be at least 1")
    run = uuid.uuid4().hex[:8]
    runtimes: list[WorkerRuntime] = []
    sent: list[str] = []

    def count(*parts: Any) -> None:
        sent.append(parts[2])

    with run_schemas(args.store_url, run) as url:
        try:
            began = time.perf_counter()
            for place in range(args.workspaces):
                name = "default" if place == 0 else f"c{run}_{place:03d}"
                runtimes.append(make_workspace(url, name, place, args.channels))
            print(
                f"setup: {args.workspaces} workspaces x {args.channels} channels "
                f"in {time.perf_counter() - began:.1f}s",
                file=sys.stderr,
            )
            event.listen(Engine, "before_cursor_execute", count)
            server = ServerCpu(args.store_url, application(run))
            try:
                figures = asyncio.run(measure(runtimes, args.ticks, sent, server))
            finally:
                server.close()
                event.remove(Engine, "before_cursor_execute", count)
            if figures is None:
                print("the two ways of reading answer differently", file=sys.stderr)
                return 1
        finally:
            for runtime in runtimes:
                runtime.engine.store.close()
    print(f"one tick's reads at {args.workspaces} workspaces x {args.channels} channels")
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
