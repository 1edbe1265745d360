"""A sale leaving the sales window replans its SKU.

Scarce units go first to the channel of equal priority that sold more of the SKU
within ``sales_window_days``. A sale leaves that window by time alone; without a mark
its SKU kept the ranking that counted it until its next change.
"""

from __future__ import annotations

from channelsync.clock import FakeClock
from channelsync.config import EngineConfig
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.planner import plan_changes
from channelsync.engine.sales_window import SALES_WINDOW_CURSOR, note_sales_window
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store
from channelsync.testing import MemoryChannel

DAY = 86_400


def engine(store: Store, clock: FakeClock, *channels: MemoryChannel) -> SyncEngine:
    # No pace: what it holds back would blur the ranking this is about.
    config = EngineConfig(sales_window_days=1, pace_window_seconds=0)
    return SyncEngine(store, list(channels), clock=clock, config=config)


def fresh_plan(store: Store, sync: SyncEngine) -> dict[str, int]:
    """Return what a plan of every SKU would queue now per channel (nothing is kept)."""
    with store.preview() as session:
        every = [sku.id for sku in session.skus()]
        return dict(plan_changes(session, sync.context, every).queued)


def cups(tmall: MemoryChannel, jd: MemoryChannel) -> tuple[int, int]:
    return tmall.listing("CUP").quantity, jd.listing("CUP").quantity


async def test_the_last_unit_leaves_the_channel_whose_sales_left_the_window(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd)
    await sync.run_cycle()
    assert cups(tmall, jd) == (0, 1)  # one cup, no sales: by name, jd first
    adjust_stock(store, "CUP", 1, key="restock", now=clock.now())
    tmall.place_order([("CUP", 1)])
    clock.advance(60)
    await sync.run_cycle()
    assert cups(tmall, jd) == (1, 0)  # one cup left: tmall sold one lately

    clock.advance(DAY + 120)  # tmall's sale leaves the 1-day window (kept to the minute)
    await sync.run_cycle()

    assert cups(tmall, jd) == (0, 1)
    assert not any(fresh_plan(store, sync).values())


async def test_the_window_is_kept_per_channel_and_a_new_process_goes_on_from_it(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall, jd)
    await sync.run_cycle()
    tmall.place_order([("CUP", 1)])
    clock.advance(60)
    await sync.run_cycle()
    with store.transaction() as session:
        cup = next(sku.id for sku in session.skus() if sku.merchant_code == "CUP")
        noted = session.cursors(SALES_WINDOW_CURSOR)
        assert set(noted) == {"tmall", "jd"}
        start = noted["tmall"][0]
        assert (start.second, start.microsecond) == (0, 0)  # kept to the minute
        assert not session.changed_skus()

    clock.advance(DAY + 120)
    other = engine(store, clock, tmall, jd)  # a process starting now
    with store.transaction() as session:
        now_start = note_sales_window(session, other.context, None)
        assert now_start > start
        assert session.changed_skus() == [cup]
        session.clear_changed([cup])
        # Recorded: the same start again reads and marks nothing, in any process.
        assert note_sales_window(session, other.context, None) == now_start
        assert note_sales_window(session, other.context, now_start) == now_start
        assert not session.changed_skus()
        assert session.cursors(SALES_WINDOW_CURSOR)["jd"][0] == now_start


async def test_a_channel_planned_for_the_first_time_is_only_recorded(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = engine(store, clock, tmall)
    await sync.run_cycle()
    tmall.place_order([("CUP", 1)])
    clock.advance(60)
    await sync.run_cycle()
    clock.advance(DAY + 120)
    jd_only = engine(store, clock, jd)  # jd's first plan; tmall's cursor untouched
    with store.transaction() as session:
        note_sales_window(session, jd_only.context, None)
        assert not session.changed_skus()
        assert set(session.cursors(SALES_WINDOW_CURSOR)) == {"tmall", "jd"}
