"""``channelsync worker`` and ``channelsync store migrate`` from the command line."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.gc_tuning import start_up_frozen
from channelsync.plugins import build_plugin_manager
from channelsync.testing import MemoryChannel
from channelsync.workers.deferring import FLUSH, PULL_ORDERS
from channelsync.workers.extra import conninfo

from .queue_world import World, client, write_config


def queue_tables(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name LIKE 'procrastinate%' "
            "ORDER BY table_name"
        ).fetchall()
    return [row[0] for row in rows]


def test_a_sqlite_store_is_refused_with_the_one_process_way(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    result = CliRunner().invoke(cli, ["worker", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "workers need a PostgreSQL store, and this one is a SQLite file" in result.output
    assert "`channelsync run`" in result.output
    assert "field 'store.url'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "state.db").exists()  # nothing was touched


def test_without_the_extra_the_worker_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "procrastinate", None)  # as if not installed
    config = write_config(tmp_path, "postgresql://127.0.0.1:1/nowhere")
    result = CliRunner().invoke(cli, ["worker", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "pip install 'channelsync[workers]'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_store_migrate_installs_the_queue_once_and_again_changes_nothing(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, postgres_url)
    first = CliRunner().invoke(cli, ["store", "migrate", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "job queue: tables installed" in first.output
    tables = queue_tables(conninfo(postgres_url))
    assert "procrastinate_jobs" in tables
    again = CliRunner().invoke(cli, ["store", "migrate", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert "state store: schema at revision" in again.output
    assert "job queue: tables already installed" in again.output
    assert queue_tables(conninfo(postgres_url)) == tables
    monkeypatch.setitem(sys.modules, "procrastinate", None)
    bare = CliRunner().invoke(cli, ["store", "migrate", "--config", str(config)])
    assert bare.exit_code == 0, bare.output
    assert "pip install 'channelsync[workers]'" in bare.output


def test_store_migrate_on_sqlite_creates_the_store_and_no_queue(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    result = CliRunner().invoke(cli, ["store", "migrate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "job queue: none with this store (workers need PostgreSQL)" in result.output
    assert (tmp_path / "state.db").exists()


@pytest.mark.postgres
def test_worker_once_pulls_and_flushes_every_channel(world: World, tmp_path: Path) -> None:
    tmall, jd = world.shops["tmall"], world.shops["jd"]
    tmall.place_order([("MUG", 2)], order_id="T-1")
    world.clock.advance(120)
    config = write_config(tmp_path, world.url)
    overrides = CliOverrides(
        clock=world.clock,
        channels={name: client(shop) for name, shop in world.shops.items()},
        host=build_plugin_manager(autoload=False),
    )
    result = CliRunner().invoke(
        cli, ["worker", "--once", "--config", str(config), "--concurrency", "2"], obj=overrides
    )
    assert result.exit_code == 0, result.output
    assert (jd.listing("MUG").quantity, jd.listing("CUP").quantity) == (8, 5)
    assert tmall.listing("MUG").quantity == 8


def test_a_worker_works_with_its_start_up_frozen_and_gives_the_collector_back(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen: list[int] = []

    @contextmanager
    def watched() -> Iterator[int]:
        with start_up_frozen() as count:
            frozen.append(count)
            yield count

    monkeypatch.setattr("channelsync.cli.worker_cmd.start_up_frozen", watched)
    config = write_config(tmp_path, world.url)
    overrides = CliOverrides(
        clock=world.clock,
        channels={name: client(shop) for name, shop in world.shops.items()},
        host=build_plugin_manager(autoload=False),
    )
    result = CliRunner().invoke(cli, ["worker", "--once", "--config", str(config)], obj=overrides)

    assert result.exit_code == 0, result.output
    [count] = frozen
    assert count > 0  # the built worker, out of full collections while it works
    assert gc.get_freeze_count() == 0


@pytest.mark.postgres
def test_worker_without_the_queue_tables_says_to_migrate(postgres_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, postgres_url)
    overrides = CliOverrides(
        channels={name: MemoryChannel(name) for name in ("tmall", "jd")},
        host=build_plugin_manager(autoload=False),
    )
    result = CliRunner().invoke(cli, ["worker", "--once", "--config", str(config)], obj=overrides)
    assert result.exit_code == 2, result.output
    assert "run `channelsync store migrate`" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
async def test_status_shows_the_workers_and_the_jobs_waiting(world: World, tmp_path: Path) -> None:
    config = write_config(tmp_path, world.url)
    async with world.queue() as (app, deferrer):
        assert await deferrer.defer(FLUSH, "tmall")
        assert await deferrer.defer(FLUSH, "jd")
        assert await deferrer.defer(PULL_ORDERS, "jd")
        worker_id = await app.job_manager.register_worker()
        running = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        assert running is not None
        overrides = CliOverrides(
            clock=world.clock,
            channels={name: client(shop) for name, shop in world.shops.items()},
            host=build_plugin_manager(autoload=False),
        )
        args = ["status", "--config", str(config)]
        result = CliRunner().invoke(cli, [*args, "--json"], obj=overrides)
        text = CliRunner().invoke(cli, args, obj=overrides)
        await app.job_manager.unregister_worker(worker_id)
    assert result.exit_code == 0, result.output
    cluster = json.loads(result.output)["workers"]
    assert cluster["alive"] == 1
    assert cluster["jobs"] == {"todo": 2, "doing": 1}
    assert sum(cluster["waiting"].values()) == 2
    assert cluster["oldest_waiting_s"] is not None
    assert "workers: 1 alive; jobs waiting: 2 (" in text.output
    assert "running: 1, failed: 0" in text.output


def test_status_without_a_job_queue_has_no_workers(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    shops = {name: MemoryChannel(name) for name in ("tmall", "jd")}
    overrides = CliOverrides(channels=shops, host=build_plugin_manager(autoload=False))
    args = ["status", "--config", str(config)]
    result = CliRunner().invoke(cli, [*args, "--json"], obj=overrides)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["workers"] is None
    assert "workers:" not in CliRunner().invoke(cli, args, obj=overrides).output
