"""Answering inbox events: a read refused for good is set aside, a passing failure waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from channelsync.channels.events import ChannelEvent, EventKind
from channelsync.clock import FakeClock
from channelsync.engine.inbox import process_leftovers, receive_event
from channelsync.engine.sync import SyncEngine
from channelsync.errors import InvalidRequestError, TransientError
from channelsync.models import Order
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel


class Refusing(MemoryChannel):
    """A marketplace that refuses to read one order: for good, or for now."""

    error: type[Exception] = InvalidRequestError

    async def get_order(self, order_id: str) -> Order:
        raise self.error(f"bad order id {order_id!r}", channel=self.name)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _event(message_id: str) -> ChannelEvent:
    return ChannelEvent(kind=EventKind.ORDER, message_id=message_id, key="x", topic="t")


async def test_a_read_refused_for_good_is_set_aside_and_never_blocks_the_next(
    store: Store,
) -> None:
    clock = FakeClock()
    shop = Refusing("shop", clock=clock)
    engine = SyncEngine(store, [shop], clock=clock)
    for message_id in ("1", "2"):
        assert receive_event(engine.context, "shop", _event(message_id))
    async with shop:
        assert await process_leftovers(engine.context, shop) == 2
    with store.transaction() as session:
        assert session.unprocessed_events("shop") == []
        summary = session.inbox_summary("shop", clock.now())
    assert (summary.received, summary.unprocessed) == (2, 0)


async def test_a_passing_failure_leaves_the_event_for_the_next_start(store: Store) -> None:
    clock = FakeClock()
    shop = Refusing("shop", clock=clock)
    shop.error = TransientError
    engine = SyncEngine(store, [shop], clock=clock)
    assert receive_event(engine.context, "shop", _event("1"))
    async with shop:
        with pytest.raises(TransientError):
            await process_leftovers(engine.context, shop)
    with store.transaction() as session:
        assert [e.message_id for e in session.unprocessed_events("shop")] == ["1"]
