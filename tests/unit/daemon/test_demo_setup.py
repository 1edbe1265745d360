from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from channelsync.bootstrap import build_channel
from channelsync.config import load_config
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.demo import (
    KITS,
    RACE_SKU,
    DemoMarketplace,
    OrderStream,
    buy,
    catalogue_csv,
    config_toml,
    demo_environment,
    start_marketplaces,
)
from channelsync.demo.kits import COMPONENT_ITEMS
from channelsync.demo.marketplaces import KIT_MARKETPLACES
from channelsync.engine.catalogue import parse_catalogue
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.testing.fakes import demo_catalogue


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return build_plugin_manager()


@pytest.fixture(scope="module")
def markets(host: PluginHost) -> Iterator[list[DemoMarketplace]]:
    started = start_marketplaces(host, seed=3)
    yield started
    for market in started:
        market.stop()


def test_every_builtin_marketplace_takes_part(markets: list[DemoMarketplace]) -> None:
    assert [m.type_name for m in markets] == ["amazon", "jd", "pinduoduo", "tmall"]
    assert all(m.server.url.startswith("http://127.0.0.1:") for m in markets)


def test_the_config_builds_every_channel_with_secrets_only_in_the_environment(
    tmp_path: Path, host: PluginHost, markets: list[DemoMarketplace]
) -> None:
    text = config_toml(markets)
    path = tmp_path / "channelsync.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)  # refuses any secret in the file
    env = demo_environment(markets)
    for market in markets:
        for value in market.credentials.values():
            assert value not in text
    assert env["CHANNELSYNC_TMALL_DEMO_APP_SECRET"] == markets[3].credentials["app_secret"]
    assert env["PYTHON_KEYRING_BACKEND"] == "keyring.backends.null.Keyring"
    credentials = CredentialStore(backend=MemorySecretBackend(), environ=env)
    channels = [
        build_channel(config, e, host=host, credentials=credentials) for e in config.channels
    ]
    assert {c.name: c.base_url for c in channels} == {m.channel: m.server.url for m in markets}
    assert config.daemon.pull_interval < config.daemon.stale_after


def test_the_catalogue_carries_the_fakes_merchant_codes_and_one_last_unit() -> None:
    rows = parse_catalogue(catalogue_csv(), "csv")
    stock = {row.sku: row.quantity for row in rows if not row.components}
    codes = {sku.merchant_code for item in demo_catalogue() for sku in item.skus}
    assert set(stock) == codes | {"TEAPOT", "CUP"}
    assert stock[RACE_SKU] == 1
    assert all(q == 20 for code, q in stock.items() if code not in (RACE_SKU, "CUP"))
    assert stock["CUP"] == 60


def test_the_catalogue_has_a_gift_set_and_a_multipack_holding_no_stock() -> None:
    rows = parse_catalogue(catalogue_csv(), "csv")
    kits = {row.sku: row for row in rows if row.components}
    assert {code: row.components for code, row in kits.items()} == {
        "GIFT": (("TEAPOT", 1), ("CUP", 4)),
        "CUP-3": (("CUP", 3),),
    }
    assert all(row.quantity == 0 and row.warehouse == "" for row in kits.values())
    assert [kit.kind for kit in KITS] == ["kit", "multipack"]
    # Items passed in get no kit unless asked: their components may not be there.
    assert "components" not in catalogue_csv(demo_catalogue(1)).splitlines()[0]
    with_kits = parse_catalogue(
        catalogue_csv([*demo_catalogue(1), *COMPONENT_ITEMS], kits=KITS), "csv"
    )
    assert {row.sku for row in with_kits if row.components} == {"GIFT", "CUP-3"}


def test_three_marketplaces_list_the_kits_showing_what_their_components_make(
    markets: list[DemoMarketplace],
) -> None:
    listing = [m for m in markets if m.type_name in KIT_MARKETPLACES]
    assert [m.type_name for m in listing] == ["jd", "pinduoduo", "tmall"]
    for market in listing:
        stock = market.stock()
        # 20 teapots and 60 cups: 15 gift sets (by the cups), 20 packs of three.
        assert (stock["TEAPOT"], stock["CUP"], stock["GIFT"], stock["CUP-3"]) == (20, 60, 15, 20)
    # Amazon's shop keeps under its feed threshold: no kit, no component there.
    (amazon,) = [m for m in markets if m.type_name == "amazon"]
    assert not {"TEAPOT", "CUP", "GIFT", "CUP-3"} & set(amazon.stock())


def test_only_a_channel_showing_the_last_unit_can_sell_it(markets: list[DemoMarketplace]) -> None:
    showing, hidden = markets[0], markets[1]
    for market, quantity in ((showing, 1), (hidden, 0)):
        for _item, sku in market.fake.store.iter_skus():
            if sku.merchant_code == RACE_SKU:
                sku.quantity = quantity
    before = hidden.stock()
    assert buy(showing, RACE_SKU)
    assert not buy(hidden, RACE_SKU)
    assert showing.stock()[RACE_SKU] == 0
    assert hidden.stock() == before  # nothing else was sold or changed
    (order,) = [
        o for o in showing.fake.store.orders.values() if o.lines[0].merchant_code == RACE_SKU
    ]
    assert [line.merchant_code for line in order.lines] == [RACE_SKU]
    # Dated past the marketplace's order lag, so the next pull can read it.
    assert order.created <= showing.fake.clock.now() - showing.order_lag - timedelta(seconds=30)


def test_the_order_stream_keeps_its_rate(markets: list[DemoMarketplace]) -> None:
    before = sum(m.orders_placed() for m in markets)
    stream = OrderStream(markets, rate=2.0, seed=1)
    placed = sum(stream.tick(0.25) for _ in range(20))  # five seconds
    assert placed == 10
    assert sum(m.orders_placed() for m in markets) == before + 10


def test_every_few_orders_of_the_stream_buy_a_featured_kit(
    markets: list[DemoMarketplace],
) -> None:
    before = sum(m.orders_placed() for m in markets)
    stream = OrderStream(markets, rate=1.0, seed=4, featured=["GIFT", "CUP-3"], featured_every=2)
    placed = sum(stream.tick(1.0) for _ in range(8))
    assert placed == 8
    assert sum(m.orders_placed() for m in markets) == before + 8
    # Orders 2, 4, 6 and 8: the gift set and the pack in turn.
    assert stream.featured_placed == {"GIFT": 2, "CUP-3": 2}
    kit_lines = [
        line.merchant_code
        for m in markets
        for o in m.fake.store.orders.values()
        for line in o.lines
        if line.merchant_code in ("GIFT", "CUP-3")
    ]
    assert sorted(set(kit_lines)) == ["CUP-3", "GIFT"]


def test_a_featured_code_no_marketplace_shows_is_an_ordinary_order(
    markets: list[DemoMarketplace],
) -> None:
    stream = OrderStream(markets, rate=1.0, seed=5, featured=["NOT-LISTED"], featured_every=1)
    assert sum(stream.tick(1.0) for _ in range(3)) == 3
    assert stream.featured_placed == {"NOT-LISTED": 0}
    with pytest.raises(ValueError, match="featured_every must be at least 1"):
        OrderStream(markets, rate=1.0, featured_every=0)
