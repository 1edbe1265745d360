"""Pace-aware protection: measured visibility delays, and a fast seller partitioned early."""

from __future__ import annotations

from datetime import UTC, datetime

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, EngineConfig
from channelsync.engine.allocation import ChannelShare, allocate
from channelsync.engine.pace import (
    MIN_SAMPLES,
    ChannelVisibility,
    Visibility,
    VisibilityMode,
    in_flight,
)
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, VisibilityFigure
from channelsync.testing import MemoryChannel

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def figure(channel: str, mode: str, delay: float, samples: int) -> VisibilityFigure:
    return VisibilityFigure(channel, mode, delay, samples, NOW)


def test_the_declared_delay_follows_the_way_orders_are_seen() -> None:
    visibility = Visibility(
        channels={
            "tmall": ChannelVisibility(lag=120, fresh_lag=0, event_delay=2),
            "jd": ChannelVisibility(lag=60, fresh_lag=0),
            "amazon": ChannelVisibility(lag=180, fresh_lag=135),
        },
        pull_intervals={"tmall": 15, "jd": 15, "amazon": 15},
    )
    assert visibility.mode("tmall") is VisibilityMode.FRESH  # events not healthy yet
    visibility.set_events("tmall", healthy=True)
    assert visibility.mode("tmall") is VisibilityMode.EVENTS
    assert visibility.declared("tmall") == 2
    visibility.set_events("tmall", healthy=False)
    assert visibility.declared("tmall") == 15
    assert visibility.declared("amazon") == 150
    assert visibility.declared("jd", VisibilityMode.POLLING) == 75
    visibility.fresh_reads = False
    assert visibility.declared("jd") == 75


def test_the_measured_delay_replaces_the_declared_one_once_enough_samples_exist() -> None:
    visibility = Visibility(channels={"jd": ChannelVisibility(lag=60, fresh_lag=0)})
    few = {("jd", "fresh"): figure("jd", "fresh", 9.0, MIN_SAMPLES - 1)}
    enough = {("jd", "fresh"): figure("jd", "fresh", 9.0, MIN_SAMPLES)}
    other_mode = {("jd", "polling"): figure("jd", "polling", 500.0, 99)}
    assert visibility.delay("jd", few) == 60  # the default pull interval, nothing else
    assert visibility.delay("jd", enough) == 9.0
    assert visibility.delay("jd", other_mode) == 60


def test_in_flight_sums_pace_times_delay_over_channels_rounded_down() -> None:
    assert in_flight({"a": 0.5, "b": 0.25}, {"a": 10, "b": 10}) == 7
    assert in_flight({"a": 0.01}, {"a": 60}) == 0
    assert in_flight({"a": 1.0}, {}) == 0


def test_units_in_flight_are_held_back_and_the_sku_partitioned_earlier() -> None:
    shares = [ChannelShare(n, ChannelSyncSettings()) for n in ("a", "b", "c")]
    calm = allocate(20, shares)
    assert not calm.scarce
    assert calm.total == 60
    fast = allocate(20, shares, in_flight=18)
    assert fast.scarce
    assert fast.threshold == 21
    assert fast.total == 2  # 20 available, 18 may be gone already
    assert allocate(10, shares, in_flight=18).total == 0


async def test_import_delays_are_recorded_and_a_fast_seller_is_partitioned(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock, config=EngineConfig())
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == jd.listing("MUG").quantity == 10
    for _ in range(3):
        clock.advance(30)
        tmall.place_order([("MUG", 1)])
        clock.advance(12)
        await sync.run_cycle()
    with store.transaction() as session:
        figures = session.visibility()
    measured = figures[("tmall", "polling")]
    assert measured.samples == 3
    assert measured.delay_s == 12.0
    assert tmall.listing("MUG").quantity == jd.listing("MUG").quantity == 7


async def run_fast_seller(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel, window: int
) -> tuple[int, int]:
    sync = SyncEngine(
        store, [tmall, jd], clock=clock, config=EngineConfig(pace_window_seconds=window)
    )
    sync.context.visibility.set_pull_interval("tmall", 120)
    sync.context.visibility.set_pull_interval("jd", 120)
    await sync.run_cycle()
    for _ in range(7):
        tmall.place_order([("MUG", 1)])
        clock.advance(5)
    await sync.run_cycle()  # 7 units in the last minute, 3 left
    return tmall.listing("MUG").quantity, jd.listing("MUG").quantity


async def test_a_fast_seller_is_held_back_by_its_units_in_flight(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    # 7 units a minute on tmall, seen up to 120 s late: 14 may be in flight, 3 are left.
    assert await run_fast_seller(store, clock, tmall, jd, window=60) == (0, 0)


async def test_without_the_pace_term_every_channel_shows_the_last_units(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    assert await run_fast_seller(store, clock, tmall, jd, window=0) == (3, 3)
