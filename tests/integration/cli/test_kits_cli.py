"""``plan`` and ``status`` with kits, multipacks and channels fed from particular warehouses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.engine.composition import kit_availability
from channelsync.plugins import build_plugin_manager
from channelsync.store import open_store
from channelsync.testing import MemoryChannel

X = "\N{MULTIPLICATION SIGN}"

CONFIG = """
[[channels]]
name = "shop-a"
type = "memory"
warehouses = ["WH-B", "WH-A"]

[[channels]]
name = "shop-b"
type = "memory"
"""

CATALOGUE = """sku,title,price,currency,quantity,warehouse,components
TEAPOT,Teapot,80.00,CNY,10,WH-A,
CUP,Cup,15.00,CNY,40,WH-A,
CUP,Cup,15.00,CNY,8,WH-B,
GIFT,Gift set,150.00,CNY,,,TEAPOT*1;CUP*4
CUP-3,Three cups,40.00,CNY,,,CUP*3
"""

#: Keys ``status --json`` had before kits and warehouses: every one is still there.
STATUS_KEYS = {"daemon", "channels", "pending", "parked", "parked_records", "oversold"}


def invoke(overrides: CliOverrides, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=overrides)


def setup_shops(
    tmp_path: Path, config_text: str, catalogue_text: str, listings: dict[str, list[str]]
) -> tuple[Path, CliOverrides, dict[str, MemoryChannel]]:
    config = tmp_path / "channelsync.toml"
    config.write_text(config_text, encoding="utf-8")
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(catalogue_text, encoding="utf-8")
    clock = FakeClock()
    shops = {}
    for name, codes in listings.items():
        shop = MemoryChannel(name, clock=clock)
        for number, code in enumerate(codes, start=1):
            shop.add_listing(f"{name}-{number}", code)
        shops[name] = shop
    overrides = CliOverrides(clock=clock, channels=shops, host=build_plugin_manager(autoload=False))
    result = invoke(overrides, "catalogue", "import", str(catalogue), "--config", str(config))
    assert result.exit_code == 0, result.output
    return config, overrides, shops


@pytest.fixture
def kits(tmp_path: Path) -> tuple[Path, CliOverrides, dict[str, MemoryChannel]]:
    return setup_shops(
        tmp_path,
        CONFIG,
        CATALOGUE,
        {"shop-a": ["GIFT", "CUP-3", "CUP"], "shop-b": ["GIFT", "TEAPOT"]},
    )


def derived(config: Path, code: str) -> int:
    """What ``kit_availability`` says the kit's components make."""
    url = f"sqlite:///{config.parent / 'channelsync.db'}"
    with open_store(url) as store, store.transaction() as session:
        (kit,) = session.skus([code])
        return kit_availability(session, [kit.id])[kit.id]


def test_plan_says_a_kit_is_one_and_shows_what_its_components_make(
    kits: tuple[Path, CliOverrides, dict[str, MemoryChannel]],
) -> None:
    config, overrides, _ = kits
    assert invoke(overrides, "bindings", "--refresh", "--config", str(config)).exit_code == 0
    result = invoke(overrides, "plan", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    stock = {
        (name, item["merchant_code"]): item
        for name, items in plan.items()
        for item in items
        if item["kind"] == "stock"
    }
    # 10 teapots and 48 cups: 10 gift sets (12 by the cups), 16 packs of three.
    gift = stock[("shop-a", "GIFT")]
    assert gift["quantity"] == 10
    assert gift["kit"] == {
        "components": [{"sku": "CUP", "quantity": 4}, {"sku": "TEAPOT", "quantity": 1}],
        "available": 10,
    }
    assert gift["kit"]["available"] == derived(config, "GIFT")
    assert stock[("shop-a", "CUP-3")]["kit"] == {
        "components": [{"sku": "CUP", "quantity": 3}],
        "available": 16,
    }
    assert stock[("shop-b", "GIFT")]["kit"]["available"] == 10
    # A stock SKU's change has no kit key; the keys it had are all there.
    assert "kit" not in stock[("shop-a", "CUP")]
    assert {"kind", "key", "merchant_code", "quantity"} <= set(stock[("shop-a", "CUP")])

    text = invoke(overrides, "plan", "--config", str(config)).output
    assert f"  stock GIFT: 10  kit: CUP{X}4 + TEAPOT{X}1, available 10" in text
    assert f"  stock CUP-3: 16  kit: CUP{X}3, available 16" in text
    assert "  stock CUP: 48\n" in text


def test_status_lists_kits_with_derived_availability_warehouses_and_sources(
    kits: tuple[Path, CliOverrides, dict[str, MemoryChannel]],
) -> None:
    config, overrides, shops = kits
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    assert overrides.clock is not None
    clock = overrides.clock
    assert isinstance(clock, FakeClock)
    clock.advance(60)
    shops["shop-b"].place_order([("GIFT", 2)])
    clock.advance(60)
    result = invoke(overrides, "sync", "--once", "--config", str(config))
    assert result.exit_code == 0, result.output

    shown = json.loads(invoke(overrides, "status", "--json", "--config", str(config)).output)
    assert set(shown) >= STATUS_KEYS
    # Two sets took 2 teapots and 8 cups: 8 sets are left (10 by the cups), 13 packs.
    assert shown["kits"] == [
        {
            "sku": "CUP-3",
            "available": 13,
            "kit": {"components": [{"sku": "CUP", "quantity": 3}]},
        },
        {
            "sku": "GIFT",
            "available": 8,
            "kit": {
                "components": [{"sku": "CUP", "quantity": 4}, {"sku": "TEAPOT", "quantity": 1}]
            },
        },
    ]
    assert shown["kits"][1]["available"] == derived(config, "GIFT")
    # Only the cup is kept in two warehouses; shop-b's order reserved its cups in WH-A,
    # the first of its (default) sources that could cover them.
    assert shown["warehouses"] == {
        "CUP": {"WH-A": {"on_hand": 40, "reserved": 8}, "WH-B": {"on_hand": 8, "reserved": 0}}
    }
    assert shown["channels"]["shop-a"]["fed_from"] == ["WH-B", "WH-A"]
    assert shown["channels"]["shop-b"]["fed_from"] == ["WH-A", "WH-B"]
    assert shown["channels"]["shop-a"]["marketplace_warehouses"] == []
    assert shown["oversold"] == {}  # a kit's own (empty) stock is never oversold

    text = invoke(overrides, "status", "--config", str(config)).output
    assert "kits: 2 (available: what their components make; a kit holds no stock)" in text
    assert f"  GIFT  kit: CUP{X}4 + TEAPOT{X}1, available 8" in text
    assert f"  CUP-3  kit: CUP{X}3, available 13" in text
    assert "SKUs in more than one warehouse: 1" in text
    assert "  CUP: WH-A 40 on hand, 8 reserved; WH-B 8 on hand" in text
    a_part, b_part = text.split("shop-b:", 1)
    assert "  fed from warehouses: WH-B, WH-A" in a_part
    assert "  fed from warehouses: WH-A, WH-B" in b_part


def test_a_marketplace_held_warehouse_is_named_and_feeds_no_channel(tmp_path: Path) -> None:
    config_text = """
[[channels]]
name = "shop-a"
type = "memory"
marketplace_warehouses = ["FBA"]
managed_stock = false

[[channels]]
name = "shop-b"
type = "memory"
"""
    catalogue = (
        "sku,title,price,currency,quantity,warehouse\n"
        "MUG,Mug,20.00,CNY,5,\n"
        "MUG,Mug,20.00,CNY,7,FBA\n"
    )
    config, overrides, _ = setup_shops(
        tmp_path, config_text, catalogue, {"shop-a": ["MUG"], "shop-b": ["MUG"]}
    )
    shown = json.loads(invoke(overrides, "status", "--json", "--config", str(config)).output)
    # Its marketplace manages shop-a's stock: no warehouse feeds it.
    assert shown["channels"]["shop-a"]["fed_from"] == []
    assert shown["channels"]["shop-a"]["marketplace_warehouses"] == ["FBA"]
    assert shown["channels"]["shop-b"]["fed_from"] == [""]
    assert shown["warehouses"] == {
        "MUG": {"": {"on_hand": 5, "reserved": 0}, "FBA": {"on_hand": 7, "reserved": 0}}
    }
    text = invoke(overrides, "status", "--config", str(config)).output
    a_part, b_part = text.split("shop-b:", 1)
    assert "  fed from no warehouse" in a_part
    assert "  fed from warehouses: (default)" in b_part
    assert "  its marketplace holds: FBA (the marketplace's to sell; feeds no channel)" in text
    assert "  MUG: (default) 5 on hand; FBA 7 on hand" in text


def test_a_plain_catalogue_prints_no_kit_warehouse_or_source_lines(tmp_path: Path) -> None:
    config_text = '[[channels]]\nname = "shop-a"\ntype = "memory"\n'
    catalogue = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n"
    config, overrides, _ = setup_shops(tmp_path, config_text, catalogue, {"shop-a": ["MUG"]})
    assert invoke(overrides, "bindings", "--refresh", "--config", str(config)).exit_code == 0
    text = invoke(overrides, "status", "--config", str(config)).output
    assert "kits:" not in text
    assert "more than one warehouse" not in text
    assert "fed from" not in text
    shown = json.loads(invoke(overrides, "status", "--json", "--config", str(config)).output)
    assert (shown["kits"], shown["warehouses"]) == ([], {})
    plan = json.loads(invoke(overrides, "plan", "--json", "--config", str(config)).output)
    assert all("kit" not in item for item in plan["shop-a"])


def test_report_shows_kits_as_sold_and_by_component(
    kits: tuple[Path, CliOverrides, dict[str, MemoryChannel]],
) -> None:
    config, overrides, shops = kits
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    assert isinstance(overrides.clock, FakeClock)
    overrides.clock.advance(60)
    shops["shop-a"].place_order([("GIFT", 2), ("CUP-3", 1), ("CUP", 1)])
    overrides.clock.advance(60)
    assert invoke(overrides, "sync", "--once", "--config", str(config)).exit_code == 0
    result = invoke(overrides, "report", "--format", "json", "--config", str(config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [(b["merchant_code"], b["units"]) for b in report["best_sellers"]] == [
        ("GIFT", 2),
        ("CUP", 1),
        ("CUP-3", 1),
    ]
    # Cups: 1 alone, 2 sets x 4 and 1 pack x 3 in kits; teapots: 2 in sets.
    assert [
        (c["merchant_code"], c["units"], c["sold_alone"], c["in_kits"])
        for c in report["component_sales"]
    ] == [("CUP", 12, 1, 11), ("TEAPOT", 2, 0, 2)]
    csv_text = invoke(
        overrides,
        "report",
        "--format",
        "csv",
        "--section",
        "component_sales",
        "--config",
        str(config),
    ).output
    assert csv_text.splitlines()[:2] == [
        "merchant_code,title,units,sold_alone,in_kits",
        "CUP,Cup,12,1,11",
    ]
    table = invoke(overrides, "report", "--config", str(config)).output
    assert "Sales by component" in table
