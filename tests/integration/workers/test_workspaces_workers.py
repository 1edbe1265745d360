"""Workers and workspaces: two merchants' channels of one name never wait for each other.

The database is one of its own per test (base schema ``public``, as deployed): the
``default`` workspace ("north") and workspace ``acme`` ("south") each call their Tmall
shop ``tmall``; one queue, in the base schema, serves both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner
from procrastinate import App

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.config import DaemonConfig
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ConfigurationError
from channelsync.plugins import build_plugin_manager
from channelsync.store import SqlStore, open_store
from channelsync.testing import MemoryChannel
from channelsync.testing.memory_channel import TimeWindow
from channelsync.workers.app import (
    CLOCK_TASK,
    PRIVACY_TASK,
    STALLED_TASK,
    JobServices,
    Served,
    build_app,
)
from channelsync.workers.clock import clock_group
from channelsync.workers.deferring import (
    FLUSH,
    PULL_ORDERS,
    QUEUE,
    Deferrer,
    channel_lock,
    group_queue,
    queue_of,
    queueing_lock,
)
from channelsync.workers.extra import conninfo
from channelsync.workers.on_commit import FlushOnCommit
from channelsync.workers.running import run_worker
from channelsync.workers.runtime import WorkerRuntime
from channelsync.workers.schema import install_queue_schema

from .queue_world import CATALOGUE, SETTINGS, TUNING, eventually, memory_shop

pytestmark = pytest.mark.postgres

SOUTH = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,20\nCUP,Cup,15.00,CNY,7\n"


class GatedShop(MemoryChannel):
    """A marketplace whose order reads wait until the test opens the gate."""

    gate: asyncio.Event
    reading: int

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Any]:  # type: ignore[override]
        self.reading += 1
        try:
            await self.gate.wait()
        finally:
            self.reading -= 1
        async for order in super().fetch_orders(window):
            yield order


@pytest.fixture
def database(postgres_database: str) -> str:
    """A database of its own on the test server, with the job queue."""
    asyncio.run(install_queue_schema(conninfo(postgres_database)))
    return postgres_database


@dataclass
class Merchant:
    """One workspace's store and its Tmall shop."""

    store: SqlStore
    shop: MemoryChannel

    def runtime(self, clock: FakeClock, settings: DaemonConfig = SETTINGS) -> WorkerRuntime:
        return WorkerRuntime(SyncEngine(self.store, [self.shop], clock=clock), settings)

    def orders(self) -> list[str]:
        with self.store.transaction() as session:
            return [order.order_id for order in session.orders(channel="tmall")]

    def reserved(self, order_id: str) -> int:
        with self.store.transaction() as session:
            (mug,) = session.skus(["MUG"])
            return session.reservation("tmall", order_id, mug.id)


def merchant(url: str, workspace: str, catalogue: str, shop: MemoryChannel) -> Merchant:
    store = open_store(url, workspace=workspace, create=True)
    assert isinstance(store, SqlStore)
    import_catalogue(store, parse_catalogue(catalogue, "csv"), now=shop.clock.now())
    return Merchant(store, shop)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def merchants(database: str, clock: FakeClock) -> Iterator[tuple[Merchant, Merchant]]:
    gated = memory_shop("tmall", clock, GatedShop)
    assert isinstance(gated, GatedShop)
    gated.gate, gated.reading = asyncio.Event(), 0
    north = merchant(database, "default", CATALOGUE, memory_shop("tmall", clock))
    south = merchant(database, "acme", SOUTH, gated)
    try:
        yield north, south
    finally:
        north.store.close()
        south.store.close()


async def jobs(app: App, queue: str, status: str) -> list[Any]:
    return list(await app.job_manager.list_jobs_async(queue=queue, status=status))


async def test_same_named_channels_of_two_workspaces_run_side_by_side_with_their_own_orders(
    database: str, merchants: tuple[Merchant, Merchant], clock: FakeClock
) -> None:
    north, south = merchants
    gated = south.shop
    assert isinstance(gated, GatedShop)
    north.shop.place_order([("MUG", 2)], order_id="N-1")
    south.shop.place_order([("MUG", 3)], order_id="S-1")
    clock.advance(120)  # both orders are older than the end of the first pull window
    stop = asyncio.Event()
    app = build_app(conninfo(database), tuning=TUNING, periodic=False)
    worker = asyncio.create_task(
        run_worker(
            app,
            [north.runtime(clock), south.runtime(clock)],
            concurrency=4,
            tuning=TUNING,
            stop=stop,
        )
    )
    looker = build_app(conninfo(database), tuning=TUNING, periodic=False)
    try:
        async with looker.open_async():
            # South's pull of "tmall" hangs on its marketplace, holding its lock...
            await eventually(lambda: gated.reading == 1)
            (running,) = await jobs(looker, queue_of("acme"), "doing")
            assert running.lock == "channel:acme/tmall:pull"
            assert running.task_kwargs == {"channel": "tmall", "workspace": "acme"}
            # ... while north's "tmall" pulls, imports its order and is sent its stock.
            await eventually(lambda: north.orders() == ["N-1"])
            await eventually(lambda: north.shop.listing("MUG").quantity == 8)
            assert south.orders() == []
            assert gated.reading == 1
            # The same name, the other workspace: another lock, another queue.
            assert channel_lock(PULL_ORDERS, "tmall") == "channel:tmall:pull"
            assert queueing_lock(PULL_ORDERS, "tmall", "acme") == "pull_orders:acme/tmall"
            # None of north's jobs waits on south's lock: each ends (its refunds pull may
            # still be running when its stock is sent).
            for _ in range(80):
                if not await jobs(looker, QUEUE, "doing"):
                    break
                await asyncio.sleep(0.1)
            assert await jobs(looker, QUEUE, "doing") == []
            gated.gate.set()
            await eventually(lambda: south.orders() == ["S-1"])
            await eventually(lambda: south.shop.listing("MUG").quantity == 17)
            # The cup's first quantity may go in a flush of its own (its plan and the
            # order's commit in either order): every one is sent before the worker stops.
            await eventually(lambda: north.shop.listing("CUP").quantity == 5)
            await eventually(lambda: south.shop.listing("CUP").quantity == 7)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
    assert (north.orders(), south.orders()) == (["N-1"], ["S-1"])
    assert (north.reserved("N-1"), north.reserved("S-1")) == (2, 0)
    assert (south.reserved("S-1"), south.reserved("N-1")) == (3, 0)
    assert north.shop.listing("CUP").quantity == 5
    assert south.shop.listing("CUP").quantity == 7


async def test_a_worker_takes_only_the_jobs_of_the_workspaces_it_serves(
    database: str, merchants: tuple[Merchant, Merchant], clock: FakeClock
) -> None:
    north, south = merchants
    app = build_app(conninfo(database), tuning=TUNING, periodic=False)
    async with app.open_async():
        assert await Deferrer(app, "acme").defer(FLUSH, "tmall")
        # A worker of north alone, until it has nothing left to run.
        await asyncio.wait_for(
            run_worker(
                build_app(conninfo(database), tuning=TUNING, periodic=False),
                north.runtime(clock),
                once=True,
                tuning=TUNING,
            ),
            timeout=10,
        )
        waiting = await jobs(app, queue_of("acme"), "todo")
    assert [(job.lock, job.queueing_lock) for job in waiting] == [
        ("channel:acme/tmall:flush", "flush:acme/tmall")
    ]
    assert north.shop.listing("MUG").quantity == 10  # north's first round ran
    assert south.shop.listing("MUG").quantity == 0  # south's flush waits for its workers


async def test_each_workspaces_clock_queues_its_own_steps(
    database: str, merchants: tuple[Merchant, Merchant], clock: FakeClock
) -> None:
    north, south = merchants
    south.shop.gate.set()  # type: ignore[attr-defined]
    # A tick of a second: each workspace's clock queues its channels' flushes each second.
    settings = DaemonConfig(pull_interval=60, flush_interval=1, shutdown_grace=2)
    app = build_app(
        conninfo(database),
        tuning=TUNING,
        workspaces={"default": settings, "acme": settings},
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            app,
            [north.runtime(clock, settings), south.runtime(clock, settings)],
            tuning=TUNING,
            stop=stop,
        )
    )
    try:
        await eventually(lambda: south.shop.listing("MUG").quantity == 20)
        # Work written by another process (an import, then planning): no job; the clock's.
        import_catalogue(
            south.store,
            parse_catalogue("sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,30\n", "csv"),
            now=clock.now(),
        )
        SyncEngine(south.store, [south.shop], clock=clock).replan()
        await eventually(lambda: south.shop.listing("MUG").quantity == 30, timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
    assert north.shop.listing("MUG").quantity == 10


async def test_a_workspaces_flush_is_queued_in_the_transaction_of_its_work(
    database: str, merchants: tuple[Merchant, Merchant], clock: FakeClock
) -> None:
    north, south = merchants
    app = build_app(conninfo(database), tuning=TUNING, periodic=False)
    async with app.open_async():
        hook = FlushOnCommit(south.store.engine, Deferrer(app, "acme"), ["tmall"])
        hook.install()
        try:
            for merchant in (south, north):  # north's store is not watched
                with merchant.store.transaction() as session:
                    session.enqueue(
                        channel="tmall",
                        kind="stock",
                        key="tmall:x",
                        payload={"quantity": 1},
                        urgency=1,
                        now=clock.now(),
                    )
        finally:
            hook.remove()
        (job,) = await jobs(app, queue_of("acme"), "todo")
        assert await jobs(app, QUEUE, "todo") == []
    assert (job.lock, job.task_kwargs) == (
        "channel:acme/tmall:flush",
        {"channel": "tmall", "workspace": "acme"},
    )
    assert hook.deferred == 1


def test_the_workspaces_of_a_worker_share_one_clock_sweep_and_erasure() -> None:
    """Hundreds of merchants queue one tick a period, not one each."""
    fast = DaemonConfig(pull_interval=60, flush_interval=2)
    app = build_app(
        "postgresql://127.0.0.1:1/none",
        workspaces={"default": SETTINGS, "acme": fast, **{f"m{i}": SETTINGS for i in range(50)}},
    )
    periodic = app.periodic_registry.periodic_tasks
    group = clock_group(["default", "acme", *(f"m{i}" for i in range(50))])
    assert group
    assert set(periodic) == {(name, group) for name in (CLOCK_TASK, STALLED_TASK, PRIVACY_TASK)}
    clock = periodic[(CLOCK_TASK, group)]
    kwargs = clock.configure_kwargs
    assert kwargs["queue"] == group_queue(group) == f"channelsync+{group}"
    assert kwargs["queueing_lock"] == f"channelsync.clock+{group}"
    assert kwargs["task_kwargs"] == {"group": group}
    # No lock: a killed worker's tick must not stop the next ones until the sweep.
    assert "lock" not in kwargs
    assert app.tasks[CLOCK_TASK].lock is None
    assert clock.cron == "* * * * * */2"  # the shortest interval of the set keeps its pace
    # The same set in another order is the same clock; another set has its own.
    assert clock_group(["acme", "default", *(f"m{i}" for i in range(50))]) == group
    assert clock_group(["acme"]) not in {group, ""}


def test_a_store_of_one_merchant_keeps_its_periodic_tasks_as_before() -> None:
    app = build_app("postgresql://127.0.0.1:1/none", SETTINGS)
    periodic = app.periodic_registry.periodic_tasks
    assert set(periodic) == {(name, "") for name in (CLOCK_TASK, STALLED_TASK, PRIVACY_TASK)}
    assert periodic[(CLOCK_TASK, "")].configure_kwargs == {}


def config_file(path: Path, url: str, channel: str, workspace: str | None = None) -> Path:
    chosen = f'workspace = "{workspace}"\n' if workspace else ""
    path.write_text(
        f'[store]\nurl = "{url}"\n{chosen}\n[[channels]]\nname = "{channel}"\ntype = "memory"\n',
        encoding="utf-8",
    )
    return path


def test_one_worker_process_serves_the_workspaces_of_several_configs(
    database: str, merchants: tuple[Merchant, Merchant], clock: FakeClock, tmp_path: Path
) -> None:
    north_shop = memory_shop("tmall-n", clock)
    south_shop = memory_shop("tmall-s", clock)
    north = config_file(tmp_path / "north.toml", database, "tmall-n")
    south = config_file(tmp_path / "south.toml", database, "tmall-s", "acme")
    overrides = CliOverrides(
        clock=clock,
        channels={"tmall-n": north_shop, "tmall-s": south_shop},
        host=build_plugin_manager(autoload=False),
    )
    args = ["worker", "--config", str(north), "--config", str(south), "--once"]
    # The default workspace must be named once several exist.
    refused = CliRunner().invoke(cli, args, obj=overrides)
    assert refused.exit_code == 2, refused.output
    assert "this store holds 2 workspaces (default, acme)" in refused.output
    config_file(north, database, "tmall-n", "default")
    result = CliRunner().invoke(cli, args, obj=overrides)
    assert result.exit_code == 0, result.output
    assert (north_shop.listing("MUG").quantity, south_shop.listing("MUG").quantity) == (10, 20)
    both = CliRunner().invoke(cli, [*args, "--workspace", "acme"], obj=overrides)
    assert both.exit_code == 2
    assert "--workspace chooses the workspace of one configuration" in both.output
    config_file(south, database, "tmall-s", "default")
    twice = CliRunner().invoke(cli, args, obj=overrides)
    assert twice.exit_code == 2
    assert "several --config name workspace default" in twice.output
    elsewhere = config_file(tmp_path / "elsewhere.toml", f"{database}_x", "tmall-s")
    apart = CliRunner().invoke(
        cli, ["worker", "--config", str(north), "--config", str(elsewhere)], obj=overrides
    )
    assert apart.exit_code == 2
    assert "must name the same PostgreSQL database" in apart.output
    south.write_text(
        south.read_text(encoding="utf-8") + "\n[workers]\nstalled_after = 90\n", encoding="utf-8"
    )
    uneven = CliRunner().invoke(cli, args, obj=overrides)
    assert uneven.exit_code == 2
    assert "set different [workers] tables" in uneven.output


def test_a_periodic_job_of_another_set_of_workspaces_is_refused() -> None:
    """Run on the wrong set, a tick would skip some merchants' steps without a word."""
    served = cast("Served", object())
    services = JobServices({"default": served, "acme": served}, TUNING)
    assert services.ticked("default", services.group) == [served, served]
    assert services.ticked("acme", None) == [served]
    with pytest.raises(ConfigurationError, match="must serve the same workspaces"):
        services.ticked("default", clock_group(["acme"]))
