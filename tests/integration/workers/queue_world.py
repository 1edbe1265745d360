"""A store on the PostgreSQL test server with the queue installed, shops, and workers on it.

Several workers in one process each get their own store engine, procrastinate app and
channel clients; the clients of one shop share its marketplace state (listings, orders,
calls), as two processes' clients share a real marketplace.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import App

from channelsync.clock import FakeClock
from channelsync.config import DaemonConfig
from channelsync.engine.sync import SyncEngine
from channelsync.store import SqlStore, Store, open_store
from channelsync.testing import MemoryChannel
from channelsync.workers.app import WorkerTuning, build_app
from channelsync.workers.deferring import QUEUE, Deferrer
from channelsync.workers.extra import conninfo
from channelsync.workers.running import run_worker
from channelsync.workers.runtime import WorkerRuntime

CATALOGUE = """sku,title,price,currency,quantity
MUG,Mug,20.00,CNY,10
CUP,Cup,15.00,CNY,5
"""

SETTINGS = DaemonConfig(
    pull_interval=60, flush_interval=5, reconcile_interval=3600, shutdown_grace=2
)
# Quick enough for tests: jobs are found within a tenth of a second without a notification.
TUNING = WorkerTuning(heartbeat_every=1, stalled_after=30, sweep_every=15, poll_every=0.1)


def client(shop: MemoryChannel) -> MemoryChannel:
    """Return another client of ``shop``'s marketplace, opened and closed on its own."""
    other = copy.copy(shop)
    other._opened = False
    return other


def memory_shop(
    name: str, clock: FakeClock, cls: type[MemoryChannel] = MemoryChannel
) -> MemoryChannel:
    shop = cls(name, clock=clock)
    shop.add_listing(f"{name}-1", "MUG", sku_id="1", quantity=0)
    shop.add_listing(f"{name}-2", "CUP", sku_id="2", quantity=0)
    return shop


@dataclass
class World:
    """A PostgreSQL store with the catalogue and the queue installed, and two shops."""

    url: str
    clock: FakeClock
    shops: dict[str, MemoryChannel]
    store: SqlStore
    stores: list[Store] = field(default_factory=list)

    @property
    def conninfo(self) -> str:
        return conninfo(self.url)

    def runtime(self, settings: DaemonConfig = SETTINGS) -> WorkerRuntime:
        """A worker process's runtime: its own store engine and its own channel clients."""
        store = open_store(self.url)
        self.stores.append(store)
        engine = SyncEngine(store, [client(s) for s in self.shops.values()], clock=self.clock)
        return WorkerRuntime(engine, settings)

    def app(self, *, periodic: bool = False) -> App:
        return build_app(self.conninfo, SETTINGS, tuning=TUNING, periodic=periodic)

    @asynccontextmanager
    async def queue(self) -> AsyncIterator[tuple[App, Deferrer]]:
        """An open app to look at and feed the queue, as a test's own client."""
        app = self.app()
        async with app.open_async():
            yield app, Deferrer(app)

    async def jobs(self, app: App, status: str | None = None) -> list[Any]:
        return list(await app.job_manager.list_jobs_async(queue=QUEUE, status=status))


@asynccontextmanager
async def running(
    world: World, count: int = 2, concurrency: int = 2
) -> AsyncIterator[list[WorkerRuntime]]:
    """Run ``count`` workers in this process until the block ends; yield their runtimes."""
    stop = asyncio.Event()
    runtimes = [world.runtime() for _ in range(count)]
    tasks = [
        asyncio.create_task(
            run_worker(
                world.app(),
                runtime,
                concurrency=concurrency,
                tuning=TUNING,
                stop=stop,
                name=f"w{i}",
            )
        )
        for i, runtime in enumerate(runtimes)
    ]
    try:
        # Each worker registers once it has queued its first round: wait for all of them.
        await eventually(lambda: registered_workers(world) == count)
        yield runtimes
    finally:
        stop.set()
        done, _ = await asyncio.wait(tasks, timeout=10)
        assert len(done) == len(tasks), "a worker did not stop"
        for task in done:
            task.result()


def registered_workers(world: World) -> int:
    with psycopg.connect(world.conninfo) as connection:
        row = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    assert row is not None
    return int(row[0])


async def eventually(condition: Callable[[], bool], timeout: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def settled(world: World, app: App, timeout: float = 8.0) -> None:
    """Wait until no job of the queue is waiting or running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await world.jobs(app, "todo") or await world.jobs(app, "doing"):
        assert loop.time() < deadline, "the queue did not drain in time"
        await asyncio.sleep(0.05)


def write_config(tmp_path: Path, url: str, channels: tuple[str, ...] = ("tmall", "jd")) -> Path:
    entries = "".join(f'\n[[channels]]\nname = "{name}"\ntype = "memory"\n' for name in channels)
    path = tmp_path / "channelsync.toml"
    path.write_text(f'[store]\nurl = "{url}"\n{entries}', encoding="utf-8")
    return path
