"""Orders reserve in the warehouses feeding their channel, and ship and release there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from channelsync.bootstrap import build_engine, check_warehouses
from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, load_config
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import reserve_event
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ConfigurationError
from channelsync.models import OrderStatus
from channelsync.plugins import build_plugin_manager
from channelsync.store import SkuData, Store, WarehouseStock, open_store
from channelsync.testing import MemoryChannel

CATALOGUE = """sku,title,price,currency,quantity,warehouse
MUG,Mug,20.00,CNY,5,WH-A
MUG,Mug,20.00,CNY,2,WH-B
MUG,Mug,20.00,CNY,40,FBA-US
CUP,Cup,15.00,CNY,1,
CUP,Cup,15.00,CNY,30,FBA-US
"""


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(store_url)
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    yield opened
    opened.close()


def channel(name: str, clock: FakeClock) -> MemoryChannel:
    shop = MemoryChannel(name, clock=clock)
    shop.add_listing(f"{name}-1", "MUG", sku_id="1", quantity=0)
    shop.add_listing(f"{name}-2", "CUP", sku_id="2", quantity=0)
    return shop


def sku(store: Store, code: str) -> int:
    with store.transaction() as session:
        return session.skus([code])[0].id


def stock(store: Store, code: str) -> dict[str, WarehouseStock]:
    sku_id = sku(store, code)
    with store.transaction() as session:
        return session.warehouse_stock([sku_id]).get(sku_id, {})


def held_in(store: Store, shop: str, order_id: str) -> dict[str, str]:
    """The warehouse each of an order's reservations is held in, per merchant code."""
    with store.transaction() as session:
        found = session.reservation_warehouses(shop, [order_id])
        codes = session.skus_by_id([s for _, s in found])
    return {codes[s].merchant_code: w for (_, s), w in found.items()}


def on_hand(store: Store, code: str) -> dict[str, int]:
    return {w: s.on_hand for w, s in stock(store, code).items() if s.on_hand or w}


async def pull(sync: SyncEngine, clock: FakeClock, name: str) -> None:
    clock.advance(60)
    await sync.pull(name)


async def test_reserves_in_the_preferred_warehouse_then_the_next(
    store: Store, clock: FakeClock
) -> None:
    tmall = channel("tmall", clock)
    settings = {"tmall": ChannelSyncSettings(warehouses=("WH-B", "WH-A"))}
    sync = SyncEngine(store, [tmall], settings=settings, clock=clock)
    async with tmall:
        first = tmall.place_order([("MUG", 1)])
        second = tmall.place_order([("MUG", 1)])
        await pull(sync, clock, "tmall")
        assert held_in(store, "tmall", first.order_id) == {"MUG": "WH-B"}
        assert held_in(store, "tmall", second.order_id) == {"MUG": "WH-B"}
        # WH-B has nothing free now: the next order is held in WH-A.
        third = tmall.place_order([("MUG", 2)])
        await pull(sync, clock, "tmall")
        assert held_in(store, "tmall", third.order_id) == {"MUG": "WH-A"}
        assert stock(store, "MUG") == {
            "FBA-US": WarehouseStock(on_hand=40, reserved=0),
            "WH-A": WarehouseStock(on_hand=5, reserved=2),
            "WH-B": WarehouseStock(on_hand=2, reserved=2),
        }

        # Shipping takes the units from where they are held, not from the fullest.
        tmall.set_order_status(first.order_id, OrderStatus.SHIPPED)
        await pull(sync, clock, "tmall")
        assert stock(store, "MUG")["WH-B"] == WarehouseStock(on_hand=1, reserved=1)
        assert stock(store, "MUG")["FBA-US"] == WarehouseStock(on_hand=40, reserved=0)
        with store.transaction() as session:
            [ship] = [e for e in session.ledger(sku(store, "MUG")) if e.kind == "order_shipped"]
        assert (ship.idempotency_key, ship.warehouse) == (
            f"ship:tmall:{first.order_id}:{sku(store, 'MUG')}",
            "WH-B",
        )

        # A cancellation releases where the reservation is held.
        tmall.set_order_status(third.order_id, OrderStatus.CANCELLED)
        await pull(sync, clock, "tmall")
        assert stock(store, "MUG")["WH-A"] == WarehouseStock(on_hand=5, reserved=0)
        assert held_in(store, "tmall", third.order_id) == {}
        with store.transaction() as session:
            [release] = [
                e for e in session.ledger(sku(store, "MUG")) if e.kind == "order_cancelled"
            ]
        assert release.warehouse == "WH-A"

        # Read again from the start: nothing moves twice.
        before = stock(store, "MUG")
        with store.transaction() as session:
            session.set_cursor("tmall", "orders", clock.now().replace(year=2000), None)
        await pull(sync, clock, "tmall")
        assert stock(store, "MUG") == before


async def test_a_page_draws_down_the_preferred_warehouse_order_by_order(
    store: Store, clock: FakeClock
) -> None:
    tmall = channel("tmall", clock)
    settings = {"tmall": ChannelSyncSettings(warehouses=("WH-B", "WH-A"))}
    sync = SyncEngine(store, [tmall], settings=settings, clock=clock)
    orders = [tmall.place_order([("MUG", 1)]) for _ in range(4)]
    async with tmall:
        await pull(sync, clock, "tmall")
    placed = [held_in(store, "tmall", o.order_id)["MUG"] for o in orders]
    assert placed == ["WH-B", "WH-B", "WH-A", "WH-A"]


async def test_an_unattributed_reservation_still_ships_from_the_fullest_warehouse(
    store: Store, clock: FakeClock
) -> None:
    tmall = channel("tmall", clock)
    settings = {"tmall": ChannelSyncSettings(warehouses=("WH-B", "WH-A"))}
    sync = SyncEngine(store, [tmall], settings=settings, clock=clock)
    order = tmall.place_order([("MUG", 3)])
    # Reserved before warehouses were tracked: held in no warehouse.
    with store.transaction() as session:
        legacy = reserve_event("tmall", order.order_id, sku(store, "MUG"), 3)
        assert session.apply_event(legacy, clock.now())
    async with tmall:
        await pull(sync, clock, "tmall")
        assert held_in(store, "tmall", order.order_id) == {"MUG": ""}
        assert stock(store, "MUG")[""] == WarehouseStock(on_hand=0, reserved=3)
        tmall.set_order_status(order.order_id, OrderStatus.SHIPPED)
        await pull(sync, clock, "tmall")
    assert on_hand(store, "MUG") == {"WH-A": 5, "WH-B": 2, "FBA-US": 37}
    assert "" not in stock(store, "MUG")  # the reservation is gone, nothing is on hand


async def test_marketplace_held_stock_feeds_no_channel(store: Store, clock: FakeClock) -> None:
    tmall, amazon = channel("tmall", clock), channel("amazon", clock)
    settings = {
        "tmall": ChannelSyncSettings(),
        "amazon": ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA-US",)),
    }
    sync = SyncEngine(store, [tmall, amazon], settings=settings, clock=clock)
    async with tmall, amazon:
        # CUP: 1 in the default warehouse, 30 at FBA. Three ordered on tmall are held in
        # the default warehouse (oversold there), never in FBA's.
        cups = tmall.place_order([("CUP", 3)])
        mugs = tmall.place_order([("MUG", 6)])
        fba = amazon.place_order([("CUP", 1)])
        await pull(sync, clock, "tmall")
        await pull(sync, clock, "amazon")
        assert held_in(store, "tmall", cups.order_id) == {"CUP": ""}
        # Default sourcing, none covering 6: the one with the most free units, not FBA.
        assert held_in(store, "tmall", mugs.order_id) == {"MUG": "WH-A"}
        # The marketplace sells what it holds: its own orders are held there.
        assert held_in(store, "amazon", fba.order_id) == {"CUP": "FBA-US"}
        tmall.set_order_status(cups.order_id, OrderStatus.SHIPPED)
        tmall.set_order_status(mugs.order_id, OrderStatus.SHIPPED)
        await pull(sync, clock, "tmall")
    # Shipped from where they were held, though FBA holds the most: oversold here.
    assert stock(store, "CUP")[""] == WarehouseStock(on_hand=-2, reserved=0)
    assert stock(store, "CUP")["FBA-US"] == WarehouseStock(on_hand=30, reserved=1)
    assert on_hand(store, "MUG") == {"WH-A": -1, "WH-B": 2, "FBA-US": 40}


async def test_an_order_seen_shipped_never_ships_from_marketplace_held_stock(
    store: Store, clock: FakeClock
) -> None:
    tmall, amazon = channel("tmall", clock), channel("amazon", clock)
    settings = {"amazon": ChannelSyncSettings(marketplace_warehouses=("FBA-US",))}
    sync = SyncEngine(store, [tmall, amazon], settings=settings, clock=clock)
    # First seen shipped: no reservation says where; the fullest of the others' warehouses.
    order = tmall.place_order([("MUG", 1)], status=OrderStatus.SHIPPED)
    async with tmall:
        await pull(sync, clock, "tmall")
    assert held_in(store, "tmall", order.order_id) == {}
    assert on_hand(store, "MUG") == {"WH-A": 4, "WH-B": 2, "FBA-US": 40}


def test_the_store_reads_stock_and_reservations_per_warehouse(
    store: Store, clock: FakeClock
) -> None:
    mug, cup = sku(store, "MUG"), sku(store, "CUP")
    with store.transaction() as session:
        [plain] = session.upsert_skus(
            [SkuData("BARE", None, title="Nothing", price="1.00", currency="CNY")],
            clock.now(),
        ).values()
        session.apply_events(
            [
                reserve_event("tmall", "O-1", mug, 2, warehouse="WH-B"),
                reserve_event("tmall", "O-2", mug, 1, warehouse="WH-B"),
                reserve_event("tmall", "O-3", cup, 4, warehouse="WH-Q"),
                reserve_event("jd", "O-1", cup, 1),
            ],
            clock.now(),
        )
        assert session.warehouses() == ["", "FBA-US", "WH-A", "WH-B"]
        found = session.warehouse_stock([mug, cup, plain])
        assert session.reservation_warehouses("tmall", ["O-1", "O-3", "O-9"]) == {
            ("O-1", mug): "WH-B",
            ("O-3", cup): "WH-Q",
        }
        assert session.reservation_warehouses("jd", ["O-1"]) == {("O-1", cup): ""}
    assert found == {
        mug: {
            "WH-A": WarehouseStock(on_hand=5, reserved=0),
            "WH-B": WarehouseStock(on_hand=2, reserved=3),
            "FBA-US": WarehouseStock(on_hand=40, reserved=0),
        },
        cup: {
            "": WarehouseStock(on_hand=1, reserved=1),
            "FBA-US": WarehouseStock(on_hand=30, reserved=0),
            # Only reservations there: nothing on hand.
            "WH-Q": WarehouseStock(on_hand=0, reserved=4),
        },
    }
    assert found[mug]["WH-B"].free == -1


CONFIG = """
[[channels]]
name = "tmall"
type = "memory"
warehouses = ["WH-B", "WH-Z"]
"""


def test_a_channel_fed_from_an_unknown_warehouse_is_refused_at_startup(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "channelsync.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    tmall = channel("tmall", clock)
    with pytest.raises(ConfigurationError) as caught:
        build_engine(config, store, channels=[tmall], host=build_plugin_manager(autoload=False))
    message = str(caught.value)
    assert "channel 'tmall' is fed from warehouse 'WH-Z'" in message
    assert "warehouse 'WH-B'" not in message
    # A catalogue about to bring WH-Z makes it known; a store without stock checks nothing.
    check_warehouses(config, store, adding=["WH-Z"])
    empty = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        check_warehouses(config, empty)
    finally:
        empty.close()


def test_sync_exits_2_naming_the_channel_and_warehouse(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "channelsync.toml"
    path.write_text(CONFIG.replace(', "WH-Z"', ""), encoding="utf-8")
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(CATALOGUE, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["catalogue", "import", str(catalogue), "--config", str(path)])
    assert result.exit_code == 0, result.output
    # Then the configuration names a warehouse that holds nothing.
    path.write_text(CONFIG, encoding="utf-8")
    tmall = channel("tmall", clock)
    overrides = CliOverrides(
        clock=clock, channels={"tmall": tmall}, host=build_plugin_manager(autoload=False)
    )
    result = runner.invoke(cli, ["sync", "--once", "--config", str(path)], obj=overrides)
    assert result.exit_code == 2, result.output
    assert "channel 'tmall' is fed from warehouse 'WH-Z'" in result.output
    assert "Traceback" not in result.output
    assert tmall.calls == []
    store = open_store(f"sqlite:///{tmp_path / 'channelsync.db'}")
    try:
        with store.transaction() as session:
            assert not session.has_bindings("tmall")
    finally:
        store.close()
