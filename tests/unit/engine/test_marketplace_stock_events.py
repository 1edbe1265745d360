"""The events that set a marketplace-held warehouse to what a listing read reported."""

from __future__ import annotations

from datetime import UTC, datetime

from channelsync.config import ChannelSyncSettings
from channelsync.engine.ledger import EventKind
from channelsync.engine.marketplace_stock import read_units, stock_events, stock_warehouse
from channelsync.models import Listing, ListingStatus
from channelsync.store import BindingRecord

AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def _listing(item_id: str, quantity: int | None, sku_id: str | None = None) -> Listing:
    return Listing(
        channel="amazon",
        item_id=item_id,
        sku_id=sku_id,
        merchant_code=item_id,
        title=item_id,
        quantity=quantity,
        status=ListingStatus.ON_SALE,
    )


def _binding(item_id: str, sku_id: int | None, listing_sku_id: str | None = None) -> BindingRecord:
    return BindingRecord(
        id=0,
        channel="amazon",
        item_id=item_id,
        listing_sku_id=listing_sku_id,
        sku_id=sku_id,
        merchant_code=item_id,
        manual=False,
        title=item_id,
        channel_quantity=None,
        planned_quantity=None,
        sent_quantity=None,
        planned_price=None,
        sent_price=None,
    )


def test_the_first_held_warehouse_of_a_channel_not_managing_its_stock_is_set() -> None:
    two = ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA-US", "FBA-CA"))
    assert stock_warehouse(two) == "FBA-US"
    # The engine's own stock: a read says what was sent, not what a marketplace holds.
    assert stock_warehouse(ChannelSyncSettings(marketplace_warehouses=("FBA-US",))) is None
    assert stock_warehouse(ChannelSyncSettings(managed_stock=False)) is None
    assert stock_warehouse(ChannelSyncSettings()) is None


def test_units_read_per_bound_sku() -> None:
    bindings = {
        ("A", ""): _binding("A", 1),
        ("B", ""): _binding("B", 2),
        ("B2", ""): _binding("B2", 2),  # a second seller SKU for the same catalogue SKU
        ("C", ""): _binding("C", None),  # bound to nothing
        ("D", "v1"): _binding("D", 4, "v1"),
        ("E", ""): _binding("E", 5),
    }
    listings = [
        _listing("A", 3),
        _listing("A", 7),  # read twice: the last read counts
        _listing("B", 2),
        _listing("B2", 5),
        _listing("C", 9),
        _listing("D", 4, "v1"),
        _listing("E", None),  # no quantity read
        _listing("UNKNOWN", 8),  # no binding at all
    ]
    assert read_units(listings, bindings) == {1: 7, 2: 7, 4: 4}


def test_one_event_per_sku_whose_count_differs_by_the_difference() -> None:
    events = stock_events("amazon", "FBA-US", {1: 7, 2: 0, 3: 4, 4: 0}, {1: 10, 3: 4, 4: 2}, AT)
    assert [(e.sku_id, e.on_hand_delta) for e in events] == [(1, -3), (4, -2)]
    first = events[0]
    assert first.kind == EventKind.MARKETPLACE_STOCK
    assert EventKind.MARKETPLACE_STOCK.value == "marketplace_stock"
    assert (first.warehouse, first.channel, first.order_id) == ("FBA-US", "amazon", None)
    assert first.reserved_delta == 0
    assert first.idempotency_key == f"marketplace:amazon:1:{AT.isoformat()}"
    assert stock_events("amazon", "FBA-US", {1: 5}, {}, AT)[0].on_hand_delta == 5
    # A read that finds the count it would set (applied before) takes no event.
    assert stock_events("amazon", "FBA-US", {1: 7, 3: 4}, {1: 7, 3: 4}, AT) == []
