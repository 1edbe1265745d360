"""Sales since a send: counted per pair or many at once, and what the planner does with them.

A marketplace lowers its own quantity as it sells. When the allocation does not change
with the sale (a cap, a share of a scarce SKU), the same value is sent again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store
from channelsync.store.bindings import BindingsSession
from channelsync.testing import MemoryChannel


async def test_many_pairs_read_at_once_count_as_each_pair_read_alone(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    engine = SyncEngine(store, [tmall, jd], clock=clock)
    await engine.run_cycle()
    start = clock.now()
    tmall.place_order([("MUG", 2)])
    clock.advance(60)
    jd.place_order([("MUG", 1)])
    tmall.place_order([("MUG", 1), ("CUP", 1)])
    clock.advance(60)
    await engine.run_cycle()
    with store.transaction() as session:
        ids = {sku.merchant_code: sku.id for sku in session.skus()}
        mug, cup = ids["MUG"], ids["CUP"]
        wanted: dict[tuple[str, int], datetime] = {
            ("tmall", mug): start,  # both of its orders
            ("jd", mug): start + timedelta(seconds=30),  # its one order, placed after
            ("tmall", cup): clock.now(),  # its order came before
            ("jd", cup): start,  # never sold there
        }
        many = session.units_ordered_since_many(wanted)
        alone = {pair: session.units_ordered_since(*pair, since) for pair, since in wanted.items()}
        asked = BindingsSession.units_ordered_since_many(session, wanted)  # the default
        assert session.units_ordered_since_many({}) == {}
    assert many == alone == asked
    assert many == {("tmall", mug): 3, ("jd", mug): 1, ("tmall", cup): 0, ("jd", cup): 0}


async def test_a_capped_channel_that_sold_is_sent_its_unchanged_allocation_again(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    capped = {"tmall": ChannelSyncSettings(cap=3)}
    engine = SyncEngine(store, [tmall, jd], settings=capped, clock=clock)
    await engine.run_cycle()
    assert (tmall.listing("MUG").quantity, jd.listing("MUG").quantity) == (3, 10)

    clock.advance(60)
    tmall.place_order([("MUG", 1)])
    assert tmall.listing("MUG").quantity == 2  # the marketplace sold one
    clock.advance(60)
    summary = await engine.run_cycle()

    # 9 left: still more than the cap, so tmall's allocation is unchanged at 3.
    assert (tmall.listing("MUG").quantity, jd.listing("MUG").quantity) == (3, 9)
    assert summary.channels["tmall"].sent == 1
