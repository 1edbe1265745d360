"""The demo's files: a configuration pointing at the served fakes, and the catalogue.

Secrets never go in the configuration file, in the demo too: the fakes' demo
credentials are handed to the daemon as ``CHANNELSYNC_<CHANNEL>_<FIELD>`` variables.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from channelsync.credentials import env_var_name
from channelsync.demo.kits import COMPONENT_ITEMS, KITS, DemoKit
from channelsync.demo.marketplaces import DemoMarketplace
from channelsync.testing.fakes import SeedItem, demo_catalogue

__all__ = [
    "RACE_SKU",
    "DemoFiles",
    "catalogue_csv",
    "config_toml",
    "demo_environment",
    "toml_value",
    "write",
]

#: The SKU the demo stocks with one last unit, which buyers on every channel try to buy.
RACE_SKU = "CS-0001-1"

_DAEMON = {
    "pull_interval": 3,
    "flush_interval": 1,
    "reconcile_interval": 20,
    "stale_after": 30,
    "shutdown_grace": 5,
    "lock_ttl": 6,
}


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo wrote its configuration and catalogue."""

    config: Path
    catalogue: Path


def toml_value(value: object) -> str:
    """Render ``value`` as a TOML value (the few types a demo configuration holds)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"the demo configuration cannot hold a {type(value).__name__}")


def config_toml(markets: Sequence[DemoMarketplace]) -> str:
    """Return the demo configuration: the store beside it, the daemon's pace, the channels."""
    lines = [
        "# channelsync demo: every channel points at a fake marketplace served on loopback.",
        "# Credentials come from CHANNELSYNC_<CHANNEL>_<FIELD> variables, never this file.",
        "",
        "[engine]",
        "# Deal stock out unit by unit below 8, so the last units are never shown twice.",
        "scarce_threshold = 8",
        "# The fakes' shops open with the demo: no need to read a day of past orders.",
        "order_lookback_hours = 1",
        "",
        "[daemon]",
        *(f"{key} = {toml_value(value)}" for key, value in _DAEMON.items()),
    ]
    for market in markets:
        lines += [
            "",
            "[[channels]]",
            f"name = {toml_value(market.channel)}",
            f"type = {toml_value(market.type_name)}",
            f"base_url = {toml_value(market.server.url)}",
            *(f"{key} = {toml_value(value)}" for key, value in market.settings.items()),
            *(f"{key} = {toml_value(value)}" for key, value in market.sync.items()),
        ]
    return "\n".join(lines) + "\n"


def catalogue_csv(
    items: Sequence[SeedItem] | None = None,
    race_sku: str = RACE_SKU,
    kits: Sequence[DemoKit] | None = None,
) -> str:
    """Return the demo catalogue as CSV: the fakes' merchant codes; one unit of ``race_sku``.

    By default the items are the fakes' shared catalogue and the kits' components, and
    the kits follow as rows of their own (a ``components`` cell, no quantity: a kit
    holds no stock). Given ``items``, no kit is added unless ``kits`` names some.
    """
    if items is None:
        items = [*demo_catalogue(), *COMPONENT_ITEMS]
        kits = KITS if kits is None else kits
    kits = kits or ()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["sku", "title", "price", "currency", "quantity", "product"]
    writer.writerow([*header, "components"] if kits else header)
    for item in items:
        for sku in item.skus:
            quantity = 1 if sku.merchant_code == race_sku else sku.quantity
            title = f"{item.title} {sku.properties}"
            row = [sku.merchant_code, title, sku.price, "CNY", quantity, item.merchant_code]
            writer.writerow([*row, ""] if kits else row)
    for kit in kits:
        made_of = ";".join(f"{code}*{units}" for code, units in kit.components)
        writer.writerow([kit.code, kit.title, kit.price, "CNY", "", kit.item, made_of])
    return out.getvalue()


def demo_environment(markets: Sequence[DemoMarketplace]) -> dict[str, str]:
    """Return the environment for the demo's daemon: every fake's demo credentials.

    The keyring is switched off for it: the demo must never read or write the
    user's real keyring (tokens a fake refreshes would land there otherwise).
    """
    env = {
        env_var_name(market.channel, field): value
        for market in markets
        for field, value in market.credentials.items()
    }
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    return env


def write(directory: Path, markets: Sequence[DemoMarketplace]) -> DemoFiles:
    """Write ``channelsync.toml`` and ``catalogue.csv`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "channelsync.toml"
    config.write_text(config_toml(markets), encoding="utf-8")
    catalogue = directory / "catalogue.csv"
    catalogue.write_text(catalogue_csv(), encoding="utf-8")
    return DemoFiles(config=config, catalogue=catalogue)
