"""A transaction another writer's broke off is run again, never blamed on an order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.order_page import OrderPage
from channelsync.engine.orders import ingest_orders
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    found = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    import_catalogue(
        found,
        parse_catalogue("sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n", "csv"),
        now=FakeClock().now(),
    )
    try:
        yield found
    finally:
        found.close()


def failing_writes(monkeypatch: pytest.MonkeyPatch, error: Exception, times: int) -> None:
    """Make the next ``times`` page writes fail with ``error`` (as the database would)."""
    write = OrderPage.write
    left = [times]

    def failing(self: OrderPage, *args: Any, **kwargs: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise error
        write(self, *args, **kwargs)

    monkeypatch.setattr(OrderPage, "write", failing)


def deadlock() -> OperationalError:
    return OperationalError(
        "INSERT INTO outbox ...",
        {"buyer": "Wang Fang"},
        psycopg.errors.DeadlockDetected("deadlock detected"),
    )


@pytest.fixture
def ordered(store: Store) -> tuple[SyncEngine, MemoryChannel]:
    """An engine on a shop where a buyer ordered two mugs, past the pull's lag."""
    clock = FakeClock()
    shop = MemoryChannel("tmall", clock=clock)
    shop.add_listing("t-1", "MUG", sku_id="1")
    engine = SyncEngine(store, [shop], clock=clock)
    shop.place_order([("MUG", 2)], order_id="T-1")
    clock.advance(120)
    return engine, shop


async def test_a_deadlock_is_raised_for_a_retry_and_parks_no_order(
    store: Store, ordered: tuple[SyncEngine, MemoryChannel], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, shop = ordered
    failing_writes(monkeypatch, deadlock(), times=1)
    async with shop:
        with pytest.raises(OperationalError):
            await ingest_orders(engine.context, shop)
        with store.transaction() as session:
            assert session.parked(channel="tmall") == []
            assert session.orders(channel="tmall") == []
        report = await ingest_orders(engine.context, shop)  # the step's retry
    assert report.imported == 1
    assert report.parked == 0


async def test_an_order_that_cannot_be_applied_is_parked_without_the_statements_values(
    store: Store, ordered: tuple[SyncEngine, MemoryChannel], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, shop = ordered
    unique = OperationalError(
        "INSERT ...", {"buyer": "Wang Fang"}, psycopg.errors.CheckViolation("check failed")
    )
    failing_writes(monkeypatch, unique, times=2)  # the page, then the order alone
    async with shop:
        report = await ingest_orders(engine.context, shop)
    assert report.parked == 1
    with store.transaction() as session:
        (parked,) = session.parked(channel="tmall")
    assert parked.reason == "CheckViolation: check failed"
