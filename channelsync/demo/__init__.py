"""``channelsync demo``: the daemon against fake marketplaces served on loopback."""

from __future__ import annotations

from channelsync.demo.files import RACE_SKU, catalogue_csv, config_toml, demo_environment
from channelsync.demo.marketplaces import DemoMarketplace, start_marketplaces
from channelsync.demo.run import DemoOutcome, run_demo
from channelsync.demo.stream import OrderStream, buy

__all__ = [
    "RACE_SKU",
    "DemoMarketplace",
    "DemoOutcome",
    "OrderStream",
    "buy",
    "catalogue_csv",
    "config_toml",
    "demo_environment",
    "run_demo",
    "start_marketplaces",
]
