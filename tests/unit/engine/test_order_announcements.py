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
from channelsync.models import Order
from channelsync.plugins import build_plugin_manager, hookimpl
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


@pytest.mark.parametrize("listening", [False, True])
def test_with_no_plugin_listening_imported_orders_are_recorded_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch, listening: bool
) -> None:
    """No implementation of the hook: no order read again, none announced one by one."""
    heard: list[str] = []

    class Sink:
        @hookimpl
        def channelsync_order_imported(self, order: Order) -> None:
            heard.append(order.order_id)

    host = build_plugin_manager(autoload=False, extra_plugins=[Sink()] if listening else [])
    clock = FakeClock()
    shop = MemoryChannel("tmall", clock=clock)
    shop.add_listing("tmall-1", "MUG", sku_id="1")
    context = SyncEngine(store, [shop], clock=clock, host=host).context
    for _ in range(3):
        shop.place_order([("MUG", 1)])
    clock.advance(60)
    read: list[set[str]] = []
    marked: list[str] = []
    orders_by_id, mark_notified = SqlSession.orders_by_id, SqlSession.mark_notified

    def counted(self: SqlSession, channel: str, ids: Iterable[str]) -> dict[str, StoredOrder]:
        wanted = list(ids)
        read.append(set(wanted))
        return orders_by_id(self, channel, wanted)

    def one(self: SqlSession, channel: str, order_id: str, version: str) -> None:
        marked.append(order_id)
        mark_notified(self, channel, order_id, version)

    monkeypatch.setattr(SqlSession, "orders_by_id", counted)
    monkeypatch.setattr(SqlSession, "mark_notified", one)

    async def ingest() -> IngestReport:
        async with shop:
            return await ingest_orders(context, shop)

    assert asyncio.run(ingest()).imported == 3
    with store.transaction() as s:
        assert s.pending_notifications() == []
    if listening:
        # Read again to be announced, each recorded right after its hook returned.
        assert read == [set(shop.orders), set(shop.orders)]
        assert sorted(heard) == sorted(marked) == sorted(shop.orders)
    else:
        assert read == [set(shop.orders)]
        assert heard == marked == []
    store.close()
