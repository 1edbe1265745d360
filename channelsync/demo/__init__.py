"""``channelsync demo``: the daemon against fake marketplaces served on loopback."""

from __future__ import annotations

from channelsync.demo.files import RACE_SKU, catalogue_csv, config_toml, demo_environment
from channelsync.demo.kits import KITS, DemoKit, KitRow, kit_rows
from channelsync.demo.marketplaces import DemoMarketplace, start_marketplaces
from channelsync.demo.run import DemoOutcome, run_demo
from channelsync.demo.stream import OrderStream, buy

__all__ = [
    "KITS",
    "RACE_SKU",
    "DemoKit",
    "DemoMarketplace",
    "DemoOutcome",
    "KitRow",
    "OrderStream",
    "buy",
    "catalogue_csv",
    "config_toml",
    "demo_environment",
    "kit_rows",
    "run_demo",
    "start_marketplaces",
]
