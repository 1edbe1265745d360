"""``channelsync run`` refuses a store that live workers are working."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.plugins import build_plugin_manager
from channelsync.store import SqlStore, open_store
from channelsync.workers.extra import conninfo
from channelsync.workers.presence import live_workers

from .queue_world import World, client, write_config

pytestmark = pytest.mark.postgres


def overrides(world: World) -> CliOverrides:
    return CliOverrides(
        clock=world.clock,
        channels={name: client(shop) for name, shop in world.shops.items()},
        host=build_plugin_manager(autoload=False),
    )


def heartbeat(world: World, seconds_ago: int) -> None:
    with psycopg.connect(conninfo(world.url)) as connection:
        connection.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - make_interval(secs => %s))",
            (seconds_ago,),
        )


def test_a_worker_alive_on_the_store_keeps_the_daemon_off_it(world: World, tmp_path: Path) -> None:
    heartbeat(world, seconds_ago=5)
    assert live_workers(world.store.engine) == 1
    config = write_config(tmp_path, world.url)
    result = CliRunner().invoke(cli, ["run", "--config", str(config)], obj=overrides(world))
    assert result.exit_code == 2, result.output
    assert "1 channelsync worker(s) reported alive on this store" in result.output
    assert "Traceback" not in result.output


def test_a_worker_silent_for_longer_than_the_stalled_age_counts_as_gone(world: World) -> None:
    heartbeat(world, seconds_ago=600)
    assert live_workers(world.store.engine) == 0


def test_a_store_that_never_had_workers_has_none_alive(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        assert isinstance(store, SqlStore)
        assert live_workers(store.engine) == 0
    finally:
        store.close()
