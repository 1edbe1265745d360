"""Announcements of imported orders are delivered once, only for orders that are stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import pytest

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.orders import IngestReport, deliver_notifications, ingest_orders
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, StoredOrder, open_store
from channelsync.store.sql import SqlSession
from channelsync.testing import MemoryChannel

CATALOGUE = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=FakeClock().now())
    return opened


def test_orders_just_saved_are_announced_without_reading_them_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    shop = MemoryChannel("tmall", clock=clock)
    shop.add_listing("tmall-1", "MUG", sku_id="1")
    context = SyncEngine(store, [shop], clock=clock).context
    for _ in range(3):
        shop.place_order([("MUG", 1)])
    clock.advance(60)
    with store.transaction() as s:
        # An announcement of an order never stored: it stays undelivered.
        s.add_notification("tmall", "lost", "v1", None)
    read: list[set[str]] = []
    orders_by_id = SqlSession.orders_by_id

    def counted(self: SqlSession, channel: str, ids: Iterable[str]) -> dict[str, StoredOrder]:
        wanted = list(ids)
        read.append(set(wanted))
        return orders_by_id(self, channel, wanted)

    monkeypatch.setattr(SqlSession, "orders_by_id", counted)

    async def ingest() -> IngestReport:
        async with shop:
            return await ingest_orders(context, shop)

    report = asyncio.run(ingest())

    assert report.imported == 3
    # The page's own read, then the one order not saved by this ingest.
    assert read == [set(shop.orders), {"lost"}]
    with store.transaction() as s:
        assert s.pending_notifications() == [("tmall", "lost", "v1", None)]
    # Without the list of saved orders, every one is read: the outcome is the same.
    assert asyncio.run(deliver_notifications(context)) == 0
    with store.transaction() as s:
        assert s.pending_notifications() == [("tmall", "lost", "v1", None)]
    store.close()
