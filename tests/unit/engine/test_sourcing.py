"""Warehouse sourcing: which warehouses feed a channel, and where an order's units are held."""

from __future__ import annotations

import pytest

from channelsync.config import ChannelSyncSettings
from channelsync.engine.ledger import OrderStock, count_event, reserve_event, stock_units
from channelsync.engine.sourcing import (
    channel_sources,
    held_warehouses,
    reservation_warehouse,
    unknown_sources,
)
from channelsync.models import OrderStatus
from channelsync.store import KitComponent, WarehouseStock

AMAZON = ChannelSyncSettings(marketplace_warehouses=("FBA-US", "FBA-EU"))
JD = ChannelSyncSettings(marketplace_warehouses=("JD-1",), warehouses=("WH-A",))
TMALL = ChannelSyncSettings(warehouses=("WH-B", "WH-A"))
PLAIN = ChannelSyncSettings()


def test_held_warehouses_name_the_channel_whose_marketplace_holds_them() -> None:
    settings = {"amazon": AMAZON, "jd": JD, "tmall": TMALL, "pdd": PLAIN}
    assert held_warehouses(settings) == {"FBA-US": "amazon", "FBA-EU": "amazon", "JD-1": "jd"}
    assert held_warehouses({"tmall": TMALL}) == {}


def test_explicit_sources_keep_their_order() -> None:
    present = ["WH-A", "WH-B", "", "FBA-US"]
    assert channel_sources(TMALL, present, {"FBA-US"}) == ("WH-B", "WH-A")
    # Listed but holding nothing yet: still a source, in its place.
    assert channel_sources(TMALL, [""], ()) == ("WH-B", "WH-A")


def test_default_sources_are_the_present_unheld_warehouses_default_first() -> None:
    present = ["WH-B", "FBA-US", "", "WH-A", "WH-A"]
    assert channel_sources(PLAIN, present, {"FBA-US"}) == ("", "WH-A", "WH-B")
    # The holding channel is not fed from its own marketplace's stock either.
    assert channel_sources(AMAZON, present, {"FBA-US", "FBA-EU"}) == ("", "WH-A", "WH-B")
    assert channel_sources(PLAIN, [], ()) == ()


def test_a_held_warehouse_is_never_a_source_even_when_listed() -> None:
    listed = ChannelSyncSettings(warehouses=("FBA-US", "WH-A"))
    assert channel_sources(listed, ["WH-A", "FBA-US"], {"FBA-US": "amazon"}) == ("WH-A",)


@pytest.mark.parametrize(
    ("free", "quantity", "expected"),
    [
        ({"WH-B": 5, "WH-A": 9}, 3, "WH-B"),  # the preferred one covers it
        ({"WH-B": 3, "WH-A": 9}, 3, "WH-B"),  # exactly
        ({"WH-B": 2, "WH-A": 9}, 3, "WH-A"),  # the next one that covers it
        ({"WH-B": 2, "WH-A": 1}, 3, "WH-B"),  # none covers: the most free units
        ({"WH-B": 1, "WH-A": 2}, 3, "WH-A"),
        ({"WH-B": 2, "WH-A": 2}, 3, "WH-B"),  # a tie: the earliest
        ({"WH-B": 0, "WH-A": -4}, 1, "WH-B"),  # none has any: the first
        ({"WH-A": -1}, 1, "WH-B"),  # a source holding nothing counts as 0
        ({"OTHER": 10}, 1, "WH-B"),  # a warehouse not among the sources is never chosen
    ],
)
def test_reservation_warehouse(free: dict[str, int], quantity: int, expected: str) -> None:
    assert reservation_warehouse(("WH-B", "WH-A"), free, quantity) == expected


def test_no_sources_attribute_the_reservation_to_no_warehouse() -> None:
    assert reservation_warehouse((), {"WH-A": 10}, 1) == ""


def test_unknown_sources_name_the_channel_the_warehouse_and_the_known_ones() -> None:
    settings = {"tmall": TMALL, "jd": JD, "pdd": PLAIN, "amazon": AMAZON}
    problems = unknown_sources(settings, {"", "WH-A"})
    assert [p.field for p in problems] == ["warehouses"]
    [problem] = problems
    assert "'tmall'" in problem.message
    assert "'WH-B'" in problem.message
    assert "'' (the default), 'WH-A'" in problem.message
    # Marketplace-held warehouses and default sourcing are never unknown.
    assert unknown_sources(settings, {"WH-A", "WH-B"}) == []
    assert len(unknown_sources(settings, set())) == 3


def test_kits_take_their_components_and_add_up_with_direct_lines() -> None:
    kit = (KitComponent(2, "CUP", 2), KitComponent(3, "SAUCER", 1))
    units = stock_units([(10, 3), (2, 1), (4, 5)], {10: kit})
    assert units == {2: 3 * 2 + 1, 3: 3, 4: 5}
    assert 10 not in units


def test_counting_an_event_moves_reserved_units_where_the_reservation_is_held() -> None:
    stock: dict[int, dict[str, WarehouseStock]] = {1: {"WH-A": WarehouseStock(5, 0)}}
    count_event(stock, reserve_event("tmall", "O-1", 1, 2, warehouse="WH-A"), "WH-A")
    assert stock[1]["WH-A"] == WarehouseStock(on_hand=5, reserved=2)
    assert stock[1]["WH-A"].free == 3
    count_event(stock, reserve_event("tmall", "O-2", 7, 1), "")
    assert stock[7] == {"": WarehouseStock(on_hand=0, reserved=1)}


def _page_stock(settings: ChannelSyncSettings) -> OrderStock:
    return OrderStock(
        channel="tmall",
        applied=set(),
        reserved={},
        held_in={},
        stock={1: {"WH-A": WarehouseStock(9, 0), "WH-B": WarehouseStock(2, 0)}},
        settings=settings,
    )


def test_orders_draw_down_the_preferred_warehouse_first() -> None:
    ledger = _page_stock(TMALL)
    placed = []
    for number in range(3):
        [event] = ledger.events(f"O-{number}", OrderStatus.PAID, {1: 1})
        ledger.take(f"O-{number}", [event])
        placed.append(event.warehouse)
    assert placed == ["WH-B", "WH-B", "WH-A"]
    assert ledger.stock[1]["WH-B"].free == 0
    assert ledger.held_in == {("O-0", 1): "WH-B", ("O-1", 1): "WH-B", ("O-2", 1): "WH-A"}

    [ship] = ledger.events("O-0", OrderStatus.SHIPPED, {1: 1})
    assert (ship.warehouse, ship.on_hand_delta, ship.reserved_delta) == ("WH-B", -1, -1)
    [release] = ledger.events("O-2", OrderStatus.CANCELLED, {1: 1})
    assert (release.warehouse, release.reserved_delta) == ("WH-A", -1)
    ledger.take("O-2", [release])
    assert ledger.stock[1]["WH-A"] == WarehouseStock(9, 0)
    assert ledger.events("O-2", OrderStatus.CANCELLED, {1: 1}) == []


def test_an_unattributed_reservation_ships_from_the_fullest_warehouse() -> None:
    ledger = _page_stock(PLAIN)
    ledger.stock[1][""] = WarehouseStock(0, 2)
    ledger.reserved[("OLD", 1)] = 2
    ledger.held_in[("OLD", 1)] = ""
    [ship] = ledger.events("OLD", OrderStatus.SHIPPED, {1: 2})
    assert (ship.warehouse, ship.on_hand_delta, ship.reserved_delta) == ("WH-A", -2, -2)
    ledger.take("OLD", [ship])
    assert ledger.stock[1] == {
        "WH-A": WarehouseStock(7, 0),
        "WH-B": WarehouseStock(2, 0),
        "": WarehouseStock(0, 0),
    }


def test_a_reservation_the_order_no_longer_sells_is_released_once_it_ships() -> None:
    ledger = _page_stock(PLAIN)
    ledger.reserved[("O-1", 5)] = 3
    ledger.held_in[("O-1", 5)] = "WH-B"
    assert [e.sku_id for e in ledger.events("O-1", OrderStatus.PAID, {1: 1})] == [1]
    events = ledger.events("O-1", OrderStatus.SHIPPED, {1: 1})
    assert {(e.idempotency_key, e.warehouse, e.reserved_delta) for e in events} == {
        ("ship:tmall:O-1:1", "WH-A", 0),
        ("release:tmall:O-1:5", "WH-B", -3),
    }
