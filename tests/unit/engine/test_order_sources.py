"""Where the orders of a channel whose marketplace holds its stock (FBA) are held and shipped."""

from __future__ import annotations

from channelsync.config import ChannelSyncSettings
from channelsync.engine.ledger import OrderStock
from channelsync.engine.sourcing import channel_sources, marketplace_sells, order_sources
from channelsync.models import OrderStatus
from channelsync.store import WarehouseStock

#: Amazon FBA: the marketplace holds the stock the channel sells.
FBA = ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA-US",))
#: Two fulfilment networks, the first preferred.
FBA_TWO = ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA-US", "FBA-CA"))
#: Stock the engine manages, though the channel names a warehouse its marketplace holds.
MANAGED_HOLDING = ChannelSyncSettings(marketplace_warehouses=("FBA-US",))
#: The marketplace manages the stock, but no warehouse stands for it.
UNMANAGED_PLAIN = ChannelSyncSettings(managed_stock=False)
TMALL = ChannelSyncSettings(warehouses=("WH-B", "WH-A"))

PRESENT = ["", "WH-A", "WH-B", "FBA-US", "FBA-CA"]
HELD = {"FBA-US", "FBA-CA"}


def test_only_a_channel_not_managing_stock_with_held_warehouses_sells_from_them() -> None:
    assert marketplace_sells(FBA)
    assert marketplace_sells(FBA_TWO)
    assert not marketplace_sells(MANAGED_HOLDING)
    assert not marketplace_sells(UNMANAGED_PLAIN)
    assert not marketplace_sells(TMALL)


def test_a_marketplace_held_channels_orders_come_from_its_held_warehouses() -> None:
    assert order_sources(FBA, PRESENT, HELD) == ("FBA-US",)
    assert order_sources(FBA_TWO, PRESENT, HELD) == ("FBA-US", "FBA-CA")
    # Not yet holding anything (no read yet): still the only place its orders come from.
    assert order_sources(FBA, [""], {"FBA-US"}) == ("FBA-US",)


def test_every_other_channels_orders_come_from_the_warehouses_feeding_it() -> None:
    for settings in (MANAGED_HOLDING, UNMANAGED_PLAIN, TMALL, ChannelSyncSettings()):
        assert order_sources(settings, PRESENT, HELD) == channel_sources(settings, PRESENT, HELD)
    assert order_sources(MANAGED_HOLDING, PRESENT, HELD) == ("", "WH-A", "WH-B")
    assert order_sources(TMALL, PRESENT, HELD) == ("WH-B", "WH-A")


def _ledger(settings: ChannelSyncSettings, stock: dict[str, WarehouseStock]) -> OrderStock:
    return OrderStock(
        channel="amazon",
        applied=set(),
        reserved={},
        held_in={},
        stock={1: stock},
        settings=settings,
        held=HELD,
    )


OWN_AND_FBA = {"": WarehouseStock(10, 0), "FBA-US": WarehouseStock(3, 0)}


def test_an_fba_order_reserves_ships_and_releases_in_the_held_warehouse() -> None:
    ledger = _ledger(FBA, dict(OWN_AND_FBA))
    [reserve] = ledger.events("O-1", OrderStatus.PAID, {1: 2})
    assert (reserve.warehouse, reserve.reserved_delta) == ("FBA-US", 2)
    ledger.take("O-1", [reserve])
    assert ledger.stock[1] == {"": WarehouseStock(10, 0), "FBA-US": WarehouseStock(3, 2)}
    # More than FBA holds: still FBA's, never the merchant's own warehouse.
    [more] = ledger.events("O-2", OrderStatus.PAID, {1: 5})
    assert more.warehouse == "FBA-US"
    ledger.take("O-2", [more])

    [ship] = ledger.events("O-1", OrderStatus.SHIPPED, {1: 2})
    assert (ship.warehouse, ship.on_hand_delta, ship.reserved_delta) == ("FBA-US", -2, -2)
    ledger.take("O-1", [ship])
    [release] = ledger.events("O-2", OrderStatus.CANCELLED, {1: 5})
    assert (release.warehouse, release.reserved_delta) == ("FBA-US", -5)
    ledger.take("O-2", [release])
    assert ledger.stock[1] == {"": WarehouseStock(10, 0), "FBA-US": WarehouseStock(1, 0)}


def test_an_fba_order_first_seen_shipped_takes_the_held_warehouse_below_zero() -> None:
    # No read has brought FBA's units yet: on hand there goes below zero until one does.
    ledger = _ledger(FBA, {"": WarehouseStock(10, 0)})
    [ship] = ledger.events("O-1", OrderStatus.SHIPPED, {1: 1})
    assert (ship.warehouse, ship.on_hand_delta, ship.reserved_delta) == ("FBA-US", -1, 0)
    ledger.take("O-1", [ship])
    assert ledger.stock[1] == {"": WarehouseStock(10, 0), "FBA-US": WarehouseStock(-1, 0)}


def test_an_fba_order_reserved_in_an_own_warehouse_ships_out_of_the_held_one() -> None:
    # Reserved before FBA orders were held by the marketplace: the units still left FBA,
    # and the reservation is released where it is held.
    ledger = _ledger(FBA, {"": WarehouseStock(10, 2), "FBA-US": WarehouseStock(3, 0)})
    ledger.reserved[("OLD", 1)] = 2
    ledger.held_in[("OLD", 1)] = ""
    [ship] = ledger.events("OLD", OrderStatus.SHIPPED, {1: 2})
    assert (ship.warehouse, ship.on_hand_delta, ship.reserved_delta) == ("FBA-US", -2, -2)
    ledger.take("OLD", [ship])
    assert ledger.stock[1] == {"": WarehouseStock(10, 0), "FBA-US": WarehouseStock(1, 0)}


def test_with_two_held_warehouses_the_first_covering_the_order_holds_it() -> None:
    ledger = _ledger(
        FBA_TWO,
        {"": WarehouseStock(50, 0), "FBA-US": WarehouseStock(1, 0), "FBA-CA": WarehouseStock(4, 0)},
    )
    assert [e.warehouse for e in ledger.events("O-1", OrderStatus.PAID, {1: 1})] == ["FBA-US"]
    assert [e.warehouse for e in ledger.events("O-2", OrderStatus.PAID, {1: 3})] == ["FBA-CA"]
    [ship] = ledger.events("O-3", OrderStatus.SHIPPED, {1: 3})
    assert ship.warehouse == "FBA-CA"


def test_a_managed_channels_orders_still_use_its_own_sources() -> None:
    stock = {"": WarehouseStock(10, 0), "FBA-US": WarehouseStock(30, 0)}
    ledger = _ledger(MANAGED_HOLDING, dict(stock))
    [reserve] = ledger.events("O-1", OrderStatus.PAID, {1: 1})
    assert reserve.warehouse == ""
    # First seen shipped: the fullest of its own, never the marketplace's.
    [ship] = ledger.events("O-2", OrderStatus.SHIPPED, {1: 1})
    assert ship.warehouse == ""
    tmall = _ledger(TMALL, {"WH-A": WarehouseStock(5, 0), "WH-B": WarehouseStock(1, 0)})
    assert [e.warehouse for e in tmall.events("O-1", OrderStatus.PAID, {1: 1})] == ["WH-B"]
