from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.plugins import build_plugin_manager
from channelsync.store import open_store
from channelsync.testing import MemoryChannel

CONFIG = """
[engine]
strict = false

[[channels]]
name = "shop-a"
type = "memory"
price = { markup = 10 }

[[channels]]
name = "shop-b"
type = "memory"
share = 0.5
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, CliOverrides, MemoryChannel, MemoryChannel]:
    config = tmp_path / "channelsync.toml"
    config.write_text(CONFIG, encoding="utf-8")
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n", encoding="utf-8"
    )
    clock = FakeClock()
    a, b = MemoryChannel("shop-a", clock=clock), MemoryChannel("shop-b", clock=clock)
    a.add_listing("a1", "MUG")
    b.add_listing("b1", "MUG")
    b.add_listing("b2", "STRAY")
    overrides = CliOverrides(
        clock=clock, channels={"shop-a": a, "shop-b": b}, host=build_plugin_manager(autoload=False)
    )
    result = CliRunner().invoke(
        cli, ["catalogue", "import", str(catalogue), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    return config, overrides, a, b


def invoke(overrides: CliOverrides, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=overrides)


def test_plan_then_sync_then_orders_and_shipments(
    setup: tuple[Path, CliOverrides, MemoryChannel, MemoryChannel], tmp_path: Path
) -> None:
    config, overrides, a, b = setup
    assert overrides.clock is not None
    clock = overrides.clock
    assert isinstance(clock, FakeClock)
    result = invoke(overrides, "bindings", "--refresh", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[1]["unbound_listings"][0]["merchant_code"] == "STRAY"

    calls = len(a.calls)
    result = invoke(overrides, "plan", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert {(p["kind"], p.get("quantity"), p.get("amount")) for p in plan["shop-a"]} == {
        ("stock", 10, None),
        ("price", None, "22.00"),
    }
    assert len(a.calls) == calls

    result = invoke(overrides, "sync", "--once", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["sent"] == 4
    assert (a.listing("MUG").quantity, b.listing("MUG").quantity) == (10, 5)

    clock.advance(60)
    order = a.place_order([("MUG", 2)])
    clock.advance(60)
    result = invoke(overrides, "sync", "--once", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "orders imported: 1" in result.output
    assert b.listing("MUG").quantity == 4

    result = invoke(
        overrides, "orders", "list", "--status", "paid", "--json", "--config", str(config)
    )
    assert [o["order_id"] for o in json.loads(result.output)] == [order.order_id]
    result = invoke(overrides, "orders", "list", "--since", "not-a-date", "--config", str(config))
    assert result.exit_code == 2
    assert "field 'since'" in result.output

    result = invoke(
        overrides,
        "ship",
        "shop-a",
        order.order_id,
        "--carrier",
        "顺丰",
        "--tracking",
        "SF1",
        "--config",
        str(config),
    )
    assert result.exit_code == 0, result.output
    assert "queued" in result.output
    result = invoke(overrides, "sync", "--once", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert len(a.shipments) == 1

    bad = tmp_path / "ship.csv"
    bad.write_text(
        "channel,order_id,carrier,tracking\nshop-a,1,sf,T1\nshop-z,2,nocarrier,T2\n",
        encoding="utf-8",
    )
    result = invoke(overrides, "shipments", "import", str(bad), "--config", str(config))
    assert result.exit_code == 2
    assert "row 3, field 'channel'" in result.output
    result = invoke(overrides, "outbox", "list", "--json", "--config", str(config))
    assert all(
        item["kind"] != "shipment" or item["key"].endswith("SF1")
        for item in json.loads(result.output)
    )


def test_parked_changes_are_shown_and_requeued(
    setup: tuple[Path, CliOverrides, MemoryChannel, MemoryChannel],
) -> None:
    config, overrides, a, _ = setup
    a.reject("MUG", "item frozen", times=2)
    result = invoke(overrides, "sync", "--once", "--config", str(config))
    assert result.exit_code == 1
    assert "item frozen" in result.output
    result = invoke(overrides, "status", "--config", str(config))
    assert "parked: 2" in result.output
    result = invoke(overrides, "outbox", "retry", "--config", str(config))
    assert "re-queued 2 parked entries" in result.output
    result = invoke(overrides, "sync", "--once", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert a.listing("MUG").quantity == 10


def test_a_bad_allocation_setting_is_named(tmp_path: Path) -> None:
    config = tmp_path / "channelsync.toml"
    config.write_text('[[channels]]\nname = "a"\ntype = "memory"\nshare = 1.5\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["plan", "--config", str(config)])
    assert result.exit_code == 2
    assert "channel 'a', field 'share'" in result.output
    assert "Traceback" not in result.output


def test_status_shows_the_drift_the_last_reconcile_found(
    setup: tuple[Path, CliOverrides, MemoryChannel, MemoryChannel],
) -> None:
    config, overrides, a, _ = setup
    result = invoke(overrides, "status", "--config", str(config))
    assert "shop-a: orders pulled up to" in result.output
    assert "listings never reconciled" in result.output
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    a.listing("MUG").quantity = 40  # a hand edit in the back office
    result = invoke(overrides, "reconcile", "--channel", "shop-a", "--config", str(config))
    assert result.exit_code == 0, result.output

    # The reconcile command sends its corrections at once, and the channel accepted it.
    result = invoke(overrides, "status", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "1 listing value drifted, 1 corrected" in result.output
    assert "MUG: drift in quantity: shown 40, expected 10; corrected" in result.output
    assert "drift at last reconcile: 1" in result.output
    shown = json.loads(invoke(overrides, "status", "--json", "--config", str(config)).output)
    assert shown["channels"]["shop-a"]["drift"] == [
        "MUG: drift in quantity: shown 40, expected 10; corrected"
    ]
    assert shown["channels"]["shop-a"]["last_reconcile"] is not None

    # The next reconcile finds nothing new.
    assert isinstance(overrides.clock, FakeClock)
    overrides.clock.advance(60)
    assert invoke(overrides, "reconcile", "--config", str(config)).exit_code == 0
    result = invoke(overrides, "status", "--config", str(config))
    assert "0 listing values drifted, 0 corrected" in result.output
    assert a.listing("MUG").quantity == 10


def _ship(overrides: CliOverrides, config: Path, order_id: str, *extra: str) -> Result:
    return invoke(
        overrides,
        "ship",
        "shop-a",
        order_id,
        "--carrier",
        "sf",
        "--tracking",
        f"SF{order_id}",
        *extra,
        "--config",
        str(config),
    )


def _queued_shipments(overrides: CliOverrides, config: Path) -> list[str]:
    result = invoke(overrides, "outbox", "list", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    return [item["key"] for item in json.loads(result.output) if item["kind"] == "shipment"]


def test_a_shipment_of_an_order_never_imported_is_refused(
    setup: tuple[Path, CliOverrides, MemoryChannel, MemoryChannel], tmp_path: Path
) -> None:
    config, overrides, a, _ = setup
    result = _ship(overrides, config, "777777777")
    assert result.exit_code == 2
    assert "order 777777777 of shop-a is not in the store" in result.output
    assert "--fetch" in result.output
    assert "Traceback" not in result.output

    # A file with a good row and an unknown one: refused whole, the unknown row named.
    clock = overrides.clock
    assert isinstance(clock, FakeClock)
    clock.advance(60)
    order = a.place_order([("MUG", 1)])
    clock.advance(60)
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    rows = tmp_path / "shipments.csv"
    rows.write_text(
        f"channel,order_id,carrier,tracking\nshop-a,{order.order_id},sf,SF1\n"
        "shop-a,777777777,sf,SF2\n",
        encoding="utf-8",
    )
    result = invoke(overrides, "shipments", "import", str(rows), "--config", str(config))
    assert result.exit_code == 2
    assert "row 3, field 'order_id'" in result.output
    assert "777777777" in result.output
    assert _queued_shipments(overrides, config) == []


def test_fetch_reads_an_order_not_yet_pulled_then_queues_its_shipment(
    setup: tuple[Path, CliOverrides, MemoryChannel, MemoryChannel],
) -> None:
    config, overrides, a, b = setup
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    order = a.place_order([("MUG", 2)])  # placed now: no pull has seen it

    result = _ship(overrides, config, order.order_id, "--fetch")
    assert result.exit_code == 0, result.output
    assert "read 1 order from the marketplace" in result.output
    assert "queued" in result.output
    result = invoke(overrides, "orders", "list", "--json", "--config", str(config))
    assert [o["order_id"] for o in json.loads(result.output)] == [order.order_id]
    # Imported through the normal path: its units are reserved and the others lowered.
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    assert b.listing("MUG").quantity == 4
    assert len(a.shipments) == 1

    # An order the marketplace does not know either is refused by name.
    result = _ship(overrides, config, "888", "--fetch")
    assert result.exit_code == 2
    assert "order 888 is not on shop-a" in result.output


def test_a_parked_entry_can_be_dropped_with_an_audited_reason(
    setup: tuple[Path, CliOverrides, MemoryChannel, MemoryChannel],
) -> None:
    config, overrides, a, _ = setup
    a.reject("MUG", "item frozen", times=2)
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 1
    parked = json.loads(
        invoke(
            overrides, "outbox", "list", "--state", "parked", "--json", "--config", str(config)
        ).output
    )
    stock = next(row for row in parked if row["kind"] == "stock")
    args = ["outbox", "drop", "shop-a", "stock", stock["key"], "--config", str(config)]

    result = invoke(overrides, *args, "--reason", "  ")
    assert result.exit_code == 2
    assert "a reason is required" in result.output
    result = invoke(overrides, *args, "--reason", "listing frozen for good")
    assert result.exit_code == 0, result.output
    assert "dropped the parked stock entry" in result.output
    # Gone, the other parked entry untouched, and the drop is in the audit trail.
    left = json.loads(
        invoke(
            overrides, "outbox", "list", "--state", "parked", "--json", "--config", str(config)
        ).output
    )
    assert [row["kind"] for row in left] == [r["kind"] for r in parked if r is not stock]
    result = invoke(overrides, *args, "--reason", "again")
    assert result.exit_code == 2
    assert f"no parked stock entry '{stock['key']}' on shop-a" in result.output
    url = f"sqlite:///{config.parent / 'channelsync.db'}"
    with open_store(url) as store, store.transaction() as session:
        (entry,) = session.audit_trail(channel="shop-a", kind="outbox_drop")
    assert entry.key == f"stock/{stock['key']}"
    assert "listing frozen for good" in (entry.answer or "")


def test_an_oversold_cycle_fails_and_status_says_so(
    setup: tuple[Path, CliOverrides, MemoryChannel, MemoryChannel],
) -> None:
    config, overrides, a, b = setup
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    clock = overrides.clock
    assert isinstance(clock, FakeClock)
    clock.advance(60)
    a.place_order([("MUG", 8)])  # both shops sold before either order was seen
    b.place_order([("MUG", 4)])
    clock.advance(60)
    result = invoke(overrides, "sync", "--once", "--config", str(config))
    assert result.exit_code == 1
    assert "OVERSOLD: MUG by 2" in result.output
    result = invoke(overrides, "status", "--config", str(config))
    assert result.exit_code == 0
    assert "OVERSOLD: MUG by 2 units" in result.output
    shown = json.loads(invoke(overrides, "status", "--json", "--config", str(config)).output)
    assert shown["oversold"] == {"MUG": 2}
