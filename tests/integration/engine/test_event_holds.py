"""Units an order event announces are held from every channel until the order is read."""

from __future__ import annotations

from datetime import timedelta

from channelsync.channels.events import ChannelEvent, EventKind
from channelsync.clock import FakeClock
from channelsync.config import EngineConfig
from channelsync.engine.inbox import EventOutcome, process_event, receive_event
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store
from channelsync.testing import MemoryChannel


def _announce(order_id: str, units: dict[str, int], clock: FakeClock) -> ChannelEvent:
    return ChannelEvent(
        kind=EventKind.ORDER,
        message_id=f"m-{order_id}",
        key=order_id,
        topic="ORDER_CHANGE",
        occurred_at=clock.now(),
        units=units,
    )


def _engine(store: Store, clock: FakeClock, *channels: MemoryChannel) -> SyncEngine:
    # No pace term: what is held here is only what the events announced.
    return SyncEngine(
        store, list(channels), clock=clock, config=EngineConfig(pace_window_seconds=0)
    )


async def test_announced_units_lower_every_channel_before_the_order_is_read(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = _engine(store, clock, tmall, jd)
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == 10
    # The marketplace announced an order of 3 mugs that no read has brought yet.
    assert receive_event(sync.context, "tmall", _announce("T-9", {"MUG": 3}, clock))
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == tmall.listing("MUG").quantity == 7
    with store.transaction() as session:
        assert session.event_holds(["tmall", "jd"], clock.now() - timedelta(hours=1)) == {"MUG": 3}
        [event] = session.unprocessed_events("tmall")
    # The read finds no such order (the marketplace does not know it): released.
    async with tmall:
        assert await process_event(sync.context, tmall, event) is EventOutcome.UNKNOWN
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == 10


async def test_an_announced_order_once_read_is_reserved_and_never_counted_twice(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = _engine(store, clock, tmall, jd)
    await sync.run_cycle()
    order = tmall.place_order([("MUG", 3)])
    assert receive_event(sync.context, "tmall", _announce(order.order_id, {"MUG": 3}, clock))
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == 7  # held: the order is not readable yet
    # A pull brings the order before the event is answered: the reservation counts,
    # the hold no longer does.
    clock.advance(600)
    await sync.run_cycle()
    with store.transaction() as session:
        assert session.event_holds(["tmall", "jd"], clock.now() - timedelta(hours=1)) == {}
        [event] = session.unprocessed_events("tmall")
    assert jd.listing("MUG").quantity == 7
    # Answering the event now needs no read: the store already holds that change.
    calls = len(tmall.calls)
    async with tmall:
        assert await process_event(sync.context, tmall, event) is EventOutcome.UNCHANGED
    assert len(tmall.calls) == calls
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == 7


async def test_a_redelivered_announcement_holds_nothing_more(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = _engine(store, clock, tmall, jd)
    await sync.run_cycle()
    event = _announce("T-7", {"MUG": 2}, clock)
    assert receive_event(sync.context, "tmall", event)
    assert not receive_event(sync.context, "tmall", event)
    await sync.run_cycle()
    assert jd.listing("MUG").quantity == 8
