"""Workspaces from the command line: ``--workspace``, ``[store] workspace``, ``workspaces``.

The store is the SQLite file beside the configuration (``channelsync.db``; workspace
``acme`` is ``channelsync.acme.db``); one test repeats the commands that create a
workspace on PostgreSQL (marker ``postgres``), in a database of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.plugins import build_plugin_manager
from channelsync.store.sql.engine import newest_revision
from channelsync.testing import MemoryChannel

CHANNELS = """
[[channels]]
name = "shop-a"
type = "memory"

[[channels]]
name = "shop-b"
type = "memory"
"""
NEWEST = newest_revision()
NORTH = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n"
SOUTH = "sku,title,price,currency,quantity\nMUG,Mug,25.00,CNY,4\n"


class Merchant:
    """One merchant's two shops (in-process marketplaces) and a clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.a = MemoryChannel("shop-a", clock=clock)
        self.b = MemoryChannel("shop-b", clock=clock)
        for shop in (self.a, self.b):
            shop.add_listing(f"{shop.name}-1", "MUG", sku_id="1")
        self.overrides = CliOverrides(
            clock=clock,
            channels={"shop-a": self.a, "shop-b": self.b},
            host=build_plugin_manager(autoload=False),
        )

    def shown(self) -> tuple[int, int]:
        return self.a.listing("MUG").quantity, self.b.listing("MUG").quantity


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(CHANNELS, encoding="utf-8")
    (tmp_path / "north.csv").write_text(NORTH, encoding="utf-8")
    (tmp_path / "south.csv").write_text(SOUTH, encoding="utf-8")
    return path


def invoke(config: Path, *args: str, merchant: Merchant | None = None) -> Result:
    obj = merchant.overrides if merchant is not None else None
    return CliRunner().invoke(cli, [*args, "--config", str(config)], obj=obj)


def databases(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in tmp_path.glob("*.db"))


def test_one_merchant_needs_no_new_words(config: Path, tmp_path: Path, clock: FakeClock) -> None:
    merchant = Merchant(clock)
    assert invoke(config, "catalogue", "import", str(tmp_path / "north.csv")).exit_code == 0
    result = invoke(config, "sync", "--once", merchant=merchant)
    assert result.exit_code == 0, result.output
    assert merchant.shown() == (10, 10)
    status = invoke(config, "status", "--json", merchant=merchant)
    assert status.exit_code == 0, status.output
    assert databases(tmp_path) == ["channelsync.db"]
    listed = invoke(config, "workspaces", "list", "--json")
    assert json.loads(listed.output) == [
        {
            "workspace": "default",
            "location": f"file {tmp_path / 'channelsync.db'}",
            "skus": 1,
            "channels": 2,
        }
    ]


def test_workspace_option_keeps_two_merchants_apart_on_every_command(
    config: Path, tmp_path: Path, clock: FakeClock
) -> None:
    north, south = Merchant(clock), Merchant(clock)
    assert invoke(config, "catalogue", "import", str(tmp_path / "north.csv")).exit_code == 0
    created = invoke(config, "workspaces", "create", "acme")
    assert created.exit_code == 0, created.output
    assert created.output == f"workspace acme created (file {tmp_path / 'channelsync.acme.db'})\n"
    imported = invoke(
        config, "catalogue", "import", str(tmp_path / "south.csv"), "--workspace", "acme"
    )
    assert imported.exit_code == 0, imported.output
    assert "imported 1 SKUs (1 new)" in imported.output
    result = invoke(config, "sync", "--once", "--workspace", "acme", merchant=south)
    assert result.exit_code == 0, result.output
    assert (south.shown(), north.shown()) == ((4, 4), (0, 0))
    result = invoke(config, "sync", "--once", "--workspace", "default", merchant=north)
    assert result.exit_code == 0, result.output
    assert (south.shown(), north.shown()) == ((4, 4), (10, 10))
    # An order on south's shop-a is south's alone: north's shops keep showing 10.
    clock.advance(60)
    south.a.place_order([("MUG", 3)])
    clock.advance(60)
    result = invoke(config, "sync", "--once", "--workspace", "acme", merchant=south)
    assert "orders imported: 1" in result.output
    result = invoke(config, "sync", "--once", "--workspace", "default", merchant=north)
    assert "orders imported: 0" in result.output
    # South's last unit is shown on one shop only (scarce); north's ten on both.
    assert (sum(south.shown()), north.shown()) == (1, (10, 10))
    orders = invoke(config, "orders", "list", "--json", "--workspace", "acme")
    assert len(json.loads(orders.output)) == 1
    orders = invoke(config, "orders", "list", "--json", "--workspace", "default")
    assert json.loads(orders.output) == []
    status = invoke(config, "status", "--json", "--workspace", "acme", merchant=south)
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["channels"]["shop-a"]["last_pull"] is not None
    # Both hold a workspace now: naming none is refused, listing them.
    refused = invoke(config, "status", merchant=north)
    assert refused.exit_code == 2, refused.output
    assert "this store holds 2 workspaces (default, acme)" in refused.output
    assert "--workspace NAME" in refused.output
    assert "Traceback" not in refused.output
    listed = invoke(config, "workspaces", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith("default  1 SKU, 2 channels bound  (file ")
    assert lines[1].startswith("acme     1 SKU, 2 channels bound  (file ")
    assert databases(tmp_path) == ["channelsync.acme.db", "channelsync.db"]


def test_store_workspace_in_the_config_selects_it_and_the_option_overrides_it(
    config: Path, tmp_path: Path, clock: FakeClock
) -> None:
    assert invoke(config, "catalogue", "import", str(tmp_path / "north.csv")).exit_code == 0
    assert invoke(config, "workspaces", "create", "acme").exit_code == 0
    config.write_text(f'[store]\nworkspace = "acme"\n{CHANNELS}', encoding="utf-8")
    south, north = Merchant(clock), Merchant(clock)
    assert invoke(config, "catalogue", "import", str(tmp_path / "south.csv")).exit_code == 0
    assert invoke(config, "sync", "--once", merchant=south).exit_code == 0
    assert south.shown() == (4, 4)
    result = invoke(config, "sync", "--once", "--workspace", "default", merchant=north)
    assert result.exit_code == 0, result.output
    assert north.shown() == (10, 10)
    figures = json.loads(invoke(config, "workspaces", "list", "--json").output)
    assert [(f["workspace"], f["skus"]) for f in figures] == [("default", 1), ("acme", 1)]


def test_a_new_store_with_one_workspace_uses_it_unnamed(
    config: Path, tmp_path: Path, clock: FakeClock
) -> None:
    listed = invoke(config, "workspaces", "list")
    assert listed.output == (
        "no workspace yet: the first command that opens the store creates 'default'\n"
    )
    assert databases(tmp_path) == []
    assert invoke(config, "workspaces", "create", "acme").exit_code == 0
    result = invoke(config, "catalogue", "import", str(tmp_path / "south.csv"))
    assert result.exit_code == 0, result.output
    assert databases(tmp_path) == ["channelsync.acme.db"]  # the only one: no default made


@pytest.mark.parametrize(
    "command",
    [
        ["catalogue", "import", "north.csv"],
        ["status"],
        ["sync", "--once"],
        ["outbox", "list"],
    ],
)
def test_an_unknown_workspace_is_refused_and_nothing_is_created(
    config: Path, tmp_path: Path, clock: FakeClock, command: list[str]
) -> None:
    assert invoke(config, "catalogue", "import", str(tmp_path / "north.csv")).exit_code == 0
    args = [str(tmp_path / part) if part.endswith(".csv") else part for part in command]
    result = invoke(config, *args, "--workspace", "nope", merchant=Merchant(clock))
    assert result.exit_code == 2, result.output
    assert "this store has no workspace 'nope' (it has: default)" in result.output
    assert "channelsync workspaces create nope" in result.output
    assert "Traceback" not in result.output
    assert databases(tmp_path) == ["channelsync.db"]


def test_a_bad_workspace_name_is_refused_by_the_option_and_the_file(
    config: Path, tmp_path: Path
) -> None:
    result = invoke(config, "status", "--workspace", "Acme!")
    assert result.exit_code == 2
    assert "Invalid value for '--workspace'" in result.output
    assert "'Acme!' is not a workspace name" in result.output
    config.write_text(f'[store]\nworkspace = "a.b"\n{CHANNELS}', encoding="utf-8")
    result = invoke(config, "status")
    assert result.exit_code == 2
    assert f"{config}, field 'store.workspace': 'a.b' is not a workspace name" in result.output
    created = invoke(config, "workspaces", "create", "A")
    assert created.exit_code == 2
    assert "'A' is not a workspace name" in created.output
    assert databases(tmp_path) == []


def test_workspaces_create_refuses_one_that_exists(config: Path, tmp_path: Path) -> None:
    assert invoke(config, "workspaces", "create", "acme").exit_code == 0
    again = invoke(config, "workspaces", "create", "acme")
    assert again.exit_code == 2
    assert "workspace 'acme' exists already; nothing was changed" in again.output


def test_store_migrate_creates_the_workspace_it_names_and_all_migrates_each(
    config: Path, tmp_path: Path
) -> None:
    first = invoke(config, "store", "migrate")
    assert first.output.startswith("state store: schema at revision ")
    made = invoke(config, "store", "migrate", "--workspace", "beta")
    assert made.exit_code == 0, made.output
    assert f"state store: workspace beta: schema at revision {NEWEST} (workspace created)" in (
        made.output
    )
    again = invoke(config, "store", "migrate", "--workspace", "beta")
    assert f"state store: workspace beta: schema at revision {NEWEST}\n" in again.output
    several = invoke(config, "store", "migrate")
    assert several.exit_code == 2
    assert "this store holds 2 workspaces (default, beta)" in several.output
    every = invoke(config, "store", "migrate", "--all")
    assert every.exit_code == 0, every.output
    assert every.output.splitlines()[:2] == [
        f"state store: workspace default: schema at revision {NEWEST}",
        f"state store: workspace beta: schema at revision {NEWEST}",
    ]
    both = invoke(config, "store", "migrate", "--all", "--workspace", "beta")
    assert both.exit_code == 2
    assert databases(tmp_path) == ["channelsync.beta.db", "channelsync.db"]


@pytest.fixture
def database(postgres_database: str) -> str:
    """A database of its own on the test server (base schema ``public``)."""
    return postgres_database


@pytest.mark.postgres
def test_on_postgresql_a_workspace_is_a_schema_and_the_queue_stays_in_the_base(
    database: str, tmp_path: Path, clock: FakeClock
) -> None:
    config = tmp_path / "channelsync.toml"
    config.write_text(f'[store]\nurl = "{database}"\n{CHANNELS}', encoding="utf-8")
    (tmp_path / "south.csv").write_text(SOUTH, encoding="utf-8")
    migrated = invoke(config, "store", "migrate", "--workspace", "acme")
    assert migrated.exit_code == 0, migrated.output
    assert f"state store: workspace acme: schema at revision {NEWEST} (workspace created)" in (
        migrated.output
    )
    assert invoke(config, "workspaces", "create", "beta").output == (
        "workspace beta created (schema cs_beta)\n"
    )
    refused = invoke(config, "status", "--workspace", "gamma", merchant=Merchant(clock))
    assert refused.exit_code == 2
    assert "(it has: acme, beta)" in refused.output
    south = Merchant(clock)
    imported = invoke(
        config, "catalogue", "import", str(tmp_path / "south.csv"), "--workspace", "acme"
    )
    assert imported.exit_code == 0, imported.output
    assert invoke(config, "sync", "--once", "--workspace", "acme", merchant=south).exit_code == 0
    assert south.shown() == (4, 4)
    listed = json.loads(invoke(config, "workspaces", "list", "--json").output)
    assert listed == [
        {"workspace": "acme", "location": "schema cs_acme", "skus": 1, "channels": 2},
        {"workspace": "beta", "location": "schema cs_beta", "skus": 0, "channels": 0},
    ]
    with psycopg.connect(database) as connection:
        where = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_name IN ('skus', 'procrastinate_jobs') ORDER BY 1, 2"
        ).fetchall()
        gamma = connection.execute("SELECT to_regnamespace('cs_gamma')").fetchone()
    queue = [("public", "procrastinate_jobs")] if "job queue: tables" in migrated.output else []
    assert where == [("cs_acme", "skus"), ("cs_beta", "skus"), *queue]
    assert gamma == (None,)
