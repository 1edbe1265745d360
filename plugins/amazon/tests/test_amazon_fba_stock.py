"""An FBA (AFN) shop's stock read into the warehouse Amazon holds, through the fake."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from channelsync_amazon import AmazonChannel
from channelsync_amazon.fake import FakeSellingPartner

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings
from channelsync.engine.binding import bind_channel
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.store import WarehouseStock, open_store

CATALOGUE = """sku,title,price,currency,quantity
FBA-1,Lamp one,20.00,USD,5
FBA-2,Lamp two,20.00,USD,3
"""


async def test_an_afn_shops_binding_reads_fba_units_into_the_held_warehouse(
    make: Callable[..., AmazonChannel],
    fake: FakeSellingPartner,
    wire,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    fake.store.items.clear()
    fake.add_listing("FBA-1", "Lamp one", Decimal("20.00"), 17, afn=True)
    fake.add_listing("FBA-2", "Lamp two", Decimal("20.00"), 0, afn=True)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        import_catalogue(store, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
        fba = ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA-US",))
        async with make(fulfillment="AFN") as channel:
            settings = {channel.name: fba}
            engine = SyncEngine(store, [channel], settings=settings, clock=clock)
            report = await bind_channel(engine.context, channel)
            with store.transaction() as session:
                ids = {s.merchant_code: s.id for s in session.skus()}
                found = session.warehouse_stock(ids.values())
            # An order Amazon fulfils is held in FBA-US, not in the merchant's stock.
            [order] = fake.generate_orders(1)
            clock.advance(600)
            await engine.pull(channel.name)
            with store.transaction() as session:
                held = session.reservation_warehouses(channel.name, [order.order_id])
                after = session.warehouse_stock(ids.values())
    finally:
        store.close()
    assert set(held.values()) == {"FBA-US"}
    for sku_id, warehouses in after.items():
        assert warehouses[""] == found[sku_id][""]
    assert report.bound == 2
    # FBA Inventory's fulfillable units, in FBA-US; the merchant's own stock untouched.
    assert found[ids["FBA-1"]] == {
        "": WarehouseStock(on_hand=5, reserved=0),
        "FBA-US": WarehouseStock(on_hand=17, reserved=0),
    }
    assert found[ids["FBA-2"]] == {"": WarehouseStock(on_hand=3, reserved=0)}  # 0 read, 0 held
    assert wire.checked["getInventorySummaries"] >= 1
    assert wire.checked["patchListingsItem"] == 0  # read, never pushed
    assert wire.checked["createFeed"] == 0
