"""A change of a channel's visibility delay replans the SKUs selling there.

The units a SKU holds back for orders not yet seen are its pace times each channel's
delay. The delay is the channel's, not the SKU's: an order of one SKU imported late
raises it for every SKU selling on that channel. Those SKUs are not otherwise marked
changed, so without this a pass left them showing what the old delay allowed.
"""

from __future__ import annotations

from channelsync.clock import FakeClock
from channelsync.config import EngineConfig
from channelsync.engine.pace_change import note_delays
from channelsync.engine.planner import plan_changes
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store
from channelsync.testing import MemoryChannel


def fresh_plan(store: Store, sync: SyncEngine) -> dict[str, int]:
    """Return what a plan of every SKU would queue now per channel (nothing is kept)."""
    with store.preview() as session:
        every = [sku.id for sku in session.skus()]
        return dict(plan_changes(session, sync.context, every).queued)


def engine(store: Store, clock: FakeClock, *channels: MemoryChannel) -> SyncEngine:
    sync = SyncEngine(
        store, list(channels), clock=clock, config=EngineConfig(pace_window_seconds=600)
    )
    sync.context.visibility.min_samples = 1  # every import's delay counts at once
    for channel in channels:
        sync.context.visibility.set_pull_interval(channel.name, 10)
    return sync


async def test_an_order_imported_late_replans_the_skus_selling_on_its_channel(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd)
    await sync.run_cycle()
    for _ in range(6):  # 6 mugs in a minute on tmall, each seen 10 s after
        tmall.place_order([("MUG", 1)])
        clock.advance(10)
        await sync.run_cycle()
    assert tmall.listing("MUG").quantity + jd.listing("MUG").quantity == 8  # 4 left, none held
    assert not any(fresh_plan(store, sync).values())

    tmall.place_order([("CUP", 1)])
    clock.advance(75)  # a pull fell behind: the cup is seen 75 s late, tmall's delay is 75 s
    await sync.run_cycle()

    # 6 mugs in the last 150 s on tmall, seen up to 75 s late: 3 may be sold, 1 is left.
    assert tmall.listing("MUG").quantity + jd.listing("MUG").quantity == 1
    assert not any(fresh_plan(store, sync).values())


async def test_a_declared_delay_changed_replans_the_skus_selling_there(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd)
    sync.context.visibility.min_samples = 100  # too few samples: the declared delays count
    await sync.run_cycle()
    for _ in range(6):
        tmall.place_order([("MUG", 1)])
        clock.advance(10)
        await sync.run_cycle()
    shown = tmall.listing("MUG").quantity + jd.listing("MUG").quantity

    sync.context.visibility.set_pull_interval("tmall", 120)  # pulled every 2 minutes now
    await sync.run_cycle()

    assert tmall.listing("MUG").quantity + jd.listing("MUG").quantity < shown
    assert not any(fresh_plan(store, sync).values())


async def test_a_first_pass_plans_again_what_sold_lately_and_nothing_with_the_pace_off(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd)
    await sync.run_cycle()
    tmall.place_order([("MUG", 1)])
    clock.advance(10)
    await sync.run_cycle()
    with store.transaction() as session:
        mug = next(sku.id for sku in session.skus() if sku.merchant_code == "MUG")
        assert not session.changed_skus()
        # A process starting now does not know the delays its predecessor planned with.
        delays = note_delays(session, sync.context, None)
        assert set(delays) == {"tmall", "jd"}
        assert session.changed_skus() == [mug]
        session.clear_changed([mug])
        assert note_delays(session, sync.context, delays) == delays
        assert not session.changed_skus()
        assert note_delays(session, sync.context, {**delays, "tmall": 1.0}) == delays
        assert session.changed_skus() == [mug]
        session.clear_changed([mug])
        assert note_delays(session, sync.context, {**delays, "jd": 1.0}) == delays
        assert not session.changed_skus()  # nothing sold on jd

    off = SyncEngine(store, [tmall, jd], clock=clock, config=EngineConfig(pace_window_seconds=0))
    with store.transaction() as session:
        assert note_delays(session, off.context, None) == {}
        assert not session.changed_skus()
