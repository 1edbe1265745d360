"""What a marketplace holds (Amazon FBA) is read into its warehouse and offered to no channel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channelsync.channels import Operation
from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import EventKind, reserve_event
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.sync import SyncEngine
from channelsync.models import OrderStatus
from channelsync.store import LedgerEvent, Store, WarehouseStock, open_store
from channelsync.testing import MemoryChannel

CATALOGUE = """sku,title,price,currency,quantity,warehouse,components
MUG,Mug,20.00,CNY,10,,
CUP,Cup,15.00,CNY,6,,
TEAPOT,Teapot,80.00,CNY,3,,
GIFT,Gift set,120.00,CNY,,,TEAPOT*1;CUP*2
"""

#: Amazon FBA: Amazon holds the stock it sells; Tmall is fed from the merchant's own.
SETTINGS = {
    "tmall": ChannelSyncSettings(),
    "amazon": ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA-US",)),
}

#: The calls that change what a shop shows of its stock.
STOCK_OPERATIONS = {Operation.SET_STOCK.value, Operation.SET_LISTING_STATUS.value}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(store_url)
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    yield opened
    opened.close()


def tmall_shop(clock: FakeClock) -> MemoryChannel:
    shop = MemoryChannel("tmall", clock=clock)
    for number, code in enumerate(("MUG", "CUP", "GIFT"), start=1):
        shop.add_listing(f"tmall-{number}", code, sku_id=str(number), quantity=0)
    return shop


def amazon_shop(clock: FakeClock) -> MemoryChannel:
    """Amazon's listings show what FBA holds (fulfillable units), as an AFN shop reads them."""
    shop = MemoryChannel("amazon", clock=clock)
    shop.add_listing("MUG", "MUG", quantity=25)
    shop.add_listing("CUP", "CUP", quantity=4)
    shop.add_listing("GIFT", "GIFT", quantity=7)  # a kit holds no stock
    shop.add_listing("OTHER", "NOT-IN-CATALOGUE", quantity=9)
    return shop


def engine(
    store: Store,
    clock: FakeClock,
    *shops: MemoryChannel,
    settings: dict[str, ChannelSyncSettings] | None = None,
) -> SyncEngine:
    chosen = settings or SETTINGS
    return SyncEngine(store, shops, settings={s.name: chosen[s.name] for s in shops}, clock=clock)


def sku(store: Store, code: str) -> int:
    with store.transaction() as session:
        return session.skus([code])[0].id


def stock(store: Store, code: str) -> dict[str, WarehouseStock]:
    sku_id = sku(store, code)
    with store.transaction() as session:
        return session.warehouse_stock([sku_id]).get(sku_id, {})


def read_events(store: Store) -> list[LedgerEvent]:
    with store.transaction() as session:
        return [e for e in session.ledger() if e.kind == EventKind.MARKETPLACE_STOCK]


def held_in(store: Store, shop: str, order_id: str) -> dict[str, str]:
    with store.transaction() as session:
        found = session.reservation_warehouses(shop, [order_id])
        codes = session.skus_by_id([s for _, s in found])
    return {codes[s].merchant_code: w for (_, s), w in found.items()}


def stock_sends(shop: MemoryChannel) -> list[str]:
    """The calls that would have changed what the shop shows of its stock."""
    return [op for op, _ in shop.calls if op in STOCK_OPERATIONS]


async def reconcile(sync: SyncEngine, name: str) -> None:
    channel = sync.channels[name]
    async with channel:
        await reconcile_channel(sync.context, channel)


async def test_a_binding_read_sets_the_held_warehouse_to_the_units_read_once(
    store: Store, clock: FakeClock
) -> None:
    amazon = amazon_shop(clock)
    sync = engine(store, clock, amazon)
    await sync.bind(["amazon"])
    assert stock(store, "MUG") == {
        "": WarehouseStock(on_hand=10, reserved=0),
        "FBA-US": WarehouseStock(on_hand=25, reserved=0),
    }
    assert stock(store, "CUP")["FBA-US"] == WarehouseStock(on_hand=4, reserved=0)
    assert stock(store, "GIFT") == {}  # a kit holds nothing, whatever its listing shows
    assert "FBA-US" not in stock(store, "TEAPOT")
    events = read_events(store)
    assert sorted((e.sku_id, e.on_hand_delta, e.warehouse, e.channel) for e in events) == sorted(
        [(sku(store, "MUG"), 25, "FBA-US", "amazon"), (sku(store, "CUP"), 4, "FBA-US", "amazon")]
    )
    # Never pushed: Amazon's quantities are as they were, and nothing was sent.
    assert amazon.listing("MUG").quantity == 25
    assert not stock_sends(amazon)

    # The same units read again (binding, then a reconcile): nothing more moves.
    clock.advance(60)
    await sync.bind(["amazon"])
    clock.advance(60)
    await reconcile(sync, "amazon")
    assert len(read_events(store)) == 2
    assert stock(store, "MUG")["FBA-US"].on_hand == 25


async def test_a_later_read_sets_the_count_and_leaves_unread_skus_alone(
    store: Store, clock: FakeClock
) -> None:
    amazon = amazon_shop(clock)
    sync = engine(store, clock, amazon)
    await sync.bind(["amazon"])
    clock.advance(600)
    amazon.listing("MUG").quantity = 18
    del amazon.listings[("CUP", None)]  # the read does not return the cup's listing
    await reconcile(sync, "amazon")
    assert stock(store, "MUG")["FBA-US"] == WarehouseStock(on_hand=18, reserved=0)
    assert stock(store, "CUP")["FBA-US"] == WarehouseStock(on_hand=4, reserved=0)
    [*_, lowered] = read_events(store)
    assert (lowered.sku_id, lowered.on_hand_delta) == (sku(store, "MUG"), -7)
    # The merchant's own stock is not the marketplace's: never touched by a read.
    assert stock(store, "MUG")[""] == WarehouseStock(on_hand=10, reserved=0)

    # Reads at one instant (a clock that does not move) each set what they read.
    for units in (20, 18, 20):
        amazon.listing("MUG").quantity = units
        await reconcile(sync, "amazon")
        assert stock(store, "MUG")["FBA-US"].on_hand == units


async def test_a_managed_channels_reads_move_no_stock(store: Store, clock: FakeClock) -> None:
    amazon = amazon_shop(clock)
    managed = {"amazon": ChannelSyncSettings(marketplace_warehouses=("FBA-US",))}
    sync = engine(store, clock, amazon, settings=managed)
    await sync.bind(["amazon"])
    await reconcile(sync, "amazon")
    assert read_events(store) == []
    assert "FBA-US" not in stock(store, "MUG")


async def test_the_units_read_are_offered_to_no_channel(store: Store, clock: FakeClock) -> None:
    tmall, amazon = tmall_shop(clock), amazon_shop(clock)
    sync = engine(store, clock, tmall, amazon)
    await sync.run_cycle()  # binds both, reading Amazon's units into FBA-US
    assert stock(store, "MUG")["FBA-US"].on_hand == 25
    assert tmall.listing("MUG").quantity == 10
    assert tmall.listing("CUP").quantity == 6
    assert tmall.listing("GIFT").quantity == 3

    clock.advance(600)
    amazon.listing("MUG").quantity = 60
    amazon.listing("CUP").quantity = 50
    await reconcile(sync, "amazon")
    clock.advance(60)
    summary = await sync.run_cycle()
    assert stock(store, "MUG")["FBA-US"].on_hand == 60
    assert (tmall.listing("MUG").quantity, tmall.listing("CUP").quantity) == (10, 6)
    assert tmall.listing("GIFT").quantity == 3
    assert summary.oversold == {}
    # Amazon is never sent its own stock.
    assert amazon.listing("MUG").quantity == 60
    assert not stock_sends(amazon)


async def test_an_fba_order_is_held_and_shipped_in_the_held_warehouse(
    store: Store, clock: FakeClock
) -> None:
    tmall, amazon = tmall_shop(clock), amazon_shop(clock)
    sync = engine(store, clock, tmall, amazon)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 10

    order = amazon.place_order([("MUG", 2), ("GIFT", 1)])
    clock.advance(60)
    await sync.run_cycle()
    assert held_in(store, "amazon", order.order_id) == {
        "MUG": "FBA-US",
        "CUP": "FBA-US",
        "TEAPOT": "FBA-US",
    }
    assert stock(store, "MUG") == {
        "": WarehouseStock(on_hand=10, reserved=0),
        "FBA-US": WarehouseStock(on_hand=25, reserved=2),
    }
    # The merchant's own units are untouched: Tmall is shown what it was.
    assert stock(store, "CUP")[""] == WarehouseStock(on_hand=6, reserved=0)
    assert stock(store, "TEAPOT")[""] == WarehouseStock(on_hand=3, reserved=0)
    assert (tmall.listing("MUG").quantity, tmall.listing("CUP").quantity) == (10, 6)
    assert tmall.listing("GIFT").quantity == 3

    amazon.set_order_status(order.order_id, OrderStatus.SHIPPED)
    clock.advance(60)
    await sync.run_cycle()
    assert stock(store, "MUG") == {
        "": WarehouseStock(on_hand=10, reserved=0),
        "FBA-US": WarehouseStock(on_hand=23, reserved=0),
    }
    # No read has brought the teapot to FBA: shipped from there all the same.
    assert stock(store, "TEAPOT") == {
        "": WarehouseStock(on_hand=3, reserved=0),
        "FBA-US": WarehouseStock(on_hand=-1, reserved=0),
    }
    with store.transaction() as session:
        [ship] = [e for e in session.ledger(sku(store, "MUG")) if e.kind == "order_shipped"]
    assert (ship.warehouse, ship.on_hand_delta) == ("FBA-US", -2)
    assert stock(store, "CUP")["FBA-US"] == WarehouseStock(on_hand=2, reserved=0)
    assert (tmall.listing("MUG").quantity, tmall.listing("CUP").quantity) == (10, 6)

    # Amazon's next read says what is left: the count follows it, nothing moves twice.
    clock.advance(600)
    amazon.add_listing("TEAPOT", "TEAPOT", quantity=5)
    await reconcile(sync, "amazon")
    assert stock(store, "MUG")["FBA-US"].on_hand == 23  # 25 less the 2 shipped, as read
    # The gift set's cups came from what Amazon holds of the set, not of the cup: the
    # cup's count is what Amazon says it holds of the cup again.
    assert stock(store, "CUP")["FBA-US"].on_hand == 4
    # A listing not bound yet sets nothing until a binding read binds it.
    assert stock(store, "TEAPOT")["FBA-US"].on_hand == -1
    clock.advance(60)
    await sync.bind(["amazon"])
    assert stock(store, "TEAPOT")["FBA-US"].on_hand == 5


async def test_an_fba_order_first_seen_shipped_takes_nothing_from_own_stock(
    store: Store, clock: FakeClock
) -> None:
    tmall, amazon = tmall_shop(clock), amazon_shop(clock)
    sync = engine(store, clock, tmall, amazon)
    await sync.run_cycle()
    order = amazon.place_order([("CUP", 3)], status=OrderStatus.SHIPPED)
    clock.advance(60)
    await sync.run_cycle()
    assert held_in(store, "amazon", order.order_id) == {}
    assert stock(store, "CUP") == {
        "": WarehouseStock(on_hand=6, reserved=0),
        "FBA-US": WarehouseStock(on_hand=1, reserved=0),
    }
    assert tmall.listing("CUP").quantity == 6


async def test_an_fba_order_reserved_in_own_stock_before_ships_out_of_fba(
    store: Store, clock: FakeClock
) -> None:
    tmall, amazon = tmall_shop(clock), amazon_shop(clock)
    sync = engine(store, clock, tmall, amazon)
    await sync.run_cycle()
    order = amazon.place_order([("MUG", 2)])
    clock.advance(60)
    # Reserved in the merchant's own warehouse, as it was before FBA orders were Amazon's.
    with store.transaction() as session:
        legacy = reserve_event("amazon", order.order_id, sku(store, "MUG"), 2, warehouse="")
        assert session.apply_event(legacy, clock.now())
    await sync.run_cycle()
    assert held_in(store, "amazon", order.order_id) == {"MUG": ""}
    assert tmall.listing("MUG").quantity == 8
    amazon.set_order_status(order.order_id, OrderStatus.SHIPPED)
    clock.advance(60)
    await sync.run_cycle()
    # Released where it was held; the units left FBA, where Amazon shipped them from.
    assert stock(store, "MUG") == {
        "": WarehouseStock(on_hand=10, reserved=0),
        "FBA-US": WarehouseStock(on_hand=23, reserved=0),
    }
    assert tmall.listing("MUG").quantity == 10


async def test_a_managed_channels_order_still_reserves_in_its_own_sources(
    store: Store, clock: FakeClock
) -> None:
    tmall, amazon = tmall_shop(clock), amazon_shop(clock)
    sync = engine(store, clock, tmall, amazon)
    await sync.run_cycle()
    order = tmall.place_order([("MUG", 4)])
    clock.advance(60)
    await sync.run_cycle()
    assert held_in(store, "tmall", order.order_id) == {"MUG": ""}
    assert stock(store, "MUG") == {
        "": WarehouseStock(on_hand=10, reserved=4),
        "FBA-US": WarehouseStock(on_hand=25, reserved=0),
    }
    assert tmall.listing("MUG").quantity == 6
    tmall.set_order_status(order.order_id, OrderStatus.SHIPPED)
    clock.advance(60)
    await sync.run_cycle()
    assert stock(store, "MUG") == {
        "": WarehouseStock(on_hand=6, reserved=0),
        "FBA-US": WarehouseStock(on_hand=25, reserved=0),
    }
