"""The warehouses feeding each channel, and those a marketplace holds, in channelsync.toml."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from channelsync.config import SYNC_KEYS, load_config
from channelsync.errors import ConfigurationError


def write(tmp_path: Path, channels: str) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(textwrap.dedent(channels), encoding="utf-8")
    return path


def test_sourcing_keys_are_engine_settings(tmp_path: Path) -> None:
    assert {"warehouses", "marketplace_warehouses"} <= SYNC_KEYS
    config = load_config(
        write(
            tmp_path,
            """
            [[channels]]
            name = "amazon-us"
            type = "amazon"
            marketplace_warehouses = ["FBA-US"]
            seller_id = "A1"

            [[channels]]
            name = "tmall"
            type = "tmall"
            warehouses = ["WH-B", "WH-A"]
            """,
        )
    )
    amazon, tmall = config.channels
    assert amazon.sync.marketplace_warehouses == ("FBA-US",)
    assert amazon.sync.warehouses is None
    assert dict(amazon.settings) == {"seller_id": "A1"}
    assert tmall.sync.warehouses == ("WH-B", "WH-A")
    assert tmall.sync.marketplace_warehouses == ()
    assert dict(tmall.settings) == {}


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ("warehouses = []", "warehouses", "name at least one warehouse"),
        ('warehouses = ["WH-A", "WH-B", "WH-A"]', "warehouses", "'WH-A' listed more than once"),
        ('warehouses = ["WH-A", ""]', "warehouses", "warehouse 2 has an empty name"),
        ('warehouses = ["  "]', "warehouses", "warehouse 1 has an empty name"),
        ('warehouses = "WH-A"', "warehouses", "valid tuple"),
        ("warehouses = [1]", "warehouses.0", "valid string"),
        (
            'marketplace_warehouses = ["FBA", "FBA"]',
            "marketplace_warehouses",
            "'FBA' listed more than once",
        ),
        ('marketplace_warehouses = [""]', "marketplace_warehouses", "empty name"),
    ],
)
def test_bad_warehouse_lists_name_the_channel_and_the_key(
    tmp_path: Path, entry: str, field: str, message: str
) -> None:
    path = write(
        tmp_path,
        f"""
        [[channels]]
        name = "tmall"
        type = "tmall"
        {entry}
        """,
    )
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    assert caught.value.channel == "tmall"
    assert caught.value.field == field
    assert message in str(caught.value)
    assert "channel 'tmall'" in str(caught.value)


def test_no_warehouse_is_held_by_two_marketplaces(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[channels]]
        name = "amazon-us"
        type = "amazon"
        marketplace_warehouses = ["FBA-US"]

        [[channels]]
        name = "amazon-ca"
        type = "amazon"
        marketplace_warehouses = ["FBA-CA", "FBA-US"]
        """,
    )
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    assert (caught.value.channel, caught.value.field) == ("amazon-ca", "marketplace_warehouses")
    assert "'FBA-US' is held by channel 'amazon-us' already" in str(caught.value)


def test_no_channel_is_fed_from_a_marketplace_held_warehouse(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[channels]]
        name = "tmall"
        type = "tmall"
        warehouses = ["WH-A", "FBA-US"]

        [[channels]]
        name = "amazon-us"
        type = "amazon"
        marketplace_warehouses = ["FBA-US"]
        """,
    )
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    assert (caught.value.channel, caught.value.field) == ("tmall", "warehouses")
    assert "'FBA-US' is held by the marketplace of channel 'amazon-us'" in str(caught.value)


def test_not_even_the_channel_whose_marketplace_holds_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[channels]]
        name = "amazon-us"
        type = "amazon"
        warehouses = ["FBA-US"]
        marketplace_warehouses = ["FBA-US"]
        """,
    )
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    assert (caught.value.channel, caught.value.field) == ("amazon-us", "warehouses")
    assert "held by the marketplace of this channel" in str(caught.value)
