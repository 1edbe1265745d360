"""A pulled page of orders is applied in one transaction and agrees with one-by-one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.engine import orders as orders_module
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.context import EngineContext
from channelsync.engine.orders import IngestReport, OrderPage, apply_order
from channelsync.engine.sync import SyncEngine
from channelsync.models import Order, OrderStatus
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel

CATALOGUE = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\nCUP,Cup,15.00,CNY,6\n"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _store(path: Path, clock: FakeClock) -> Store:
    store = open_store(f"sqlite:///{path}")
    import_catalogue(store, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    return store


@pytest.fixture
def stores(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Store, Store]]:
    paged, single = _store(tmp_path / "paged.db", clock), _store(tmp_path / "single.db", clock)
    yield paged, single
    paged.close()
    single.close()


def _context(store: Store, shop: MemoryChannel, clock: FakeClock) -> EngineContext:
    return SyncEngine(store, [shop], clock=clock).context


def _history(shop: MemoryChannel, clock: FakeClock) -> list[Order]:
    """A page as a marketplace may return it: versions of one order side by side."""
    paid = shop.place_order([("MUG", 2), ("CUP", 1)])
    cancelled = shop.place_order([("CUP", 2)])
    clock.advance(30)
    shipped = shop.set_order_status(paid.order_id, OrderStatus.SHIPPED)
    gone = shop.set_order_status(cancelled.order_id, OrderStatus.CANCELLED)
    other = shop.place_order([("MUG", 1)])
    return [paid, cancelled, shipped, gone, other]


def _state(store: Store) -> tuple[Any, ...]:
    with store.transaction() as s:
        skus = {sku.merchant_code: sku.id for sku in s.skus()}
        positions = s.positions(skus.values())
        return (
            sorted(e.idempotency_key for e in s.ledger()),
            {code: positions[i].available for code, i in skus.items()},
            {code: positions[i].reserved for code, i in skus.items()},
            sorted((o.order_id, o.status) for o in s.orders()),
            sorted((n[1], n[2]) for n in s.pending_notifications()),
            sorted((i.key, dict(i.payload)["quantity"]) for i in s.outbox() if i.kind == "stock"),
        )


def test_a_page_agrees_with_one_order_at_a_time_and_twice_changes_nothing(
    stores: tuple[Store, Store], clock: FakeClock
) -> None:
    paged, single = stores
    shop = MemoryChannel("tmall", clock=clock)
    shop.add_listing("tmall-1", "MUG", sku_id="1")
    shop.add_listing("tmall-2", "CUP", sku_id="2")
    for store in stores:
        with store.transaction() as s:
            s.mark_all_changed()
    page = _history(shop, clock)

    report = IngestReport(channel="tmall")
    asyncio.run(orders_module._apply_page(_context(paged, shop, clock), "tmall", page, report))
    one_by_one = IngestReport(channel="tmall")
    context = _context(single, shop, clock)
    for order in page:
        with single.transaction() as s:
            apply_order(s, context, order, one_by_one)

    assert _state(paged) == _state(single)
    assert (report.imported, report.skipped, report.parked) == (5, 0, 0)
    state = _state(paged)
    assert state[1] == {"MUG": 10 - 2 - 1, "CUP": 6 - 1}
    assert state[2] == {"MUG": 1, "CUP": 0}

    again = IngestReport(channel="tmall")
    asyncio.run(orders_module._apply_page(_context(paged, shop, clock), "tmall", page, again))
    assert (again.imported, again.skipped) == (0, 5)
    assert _state(paged) == state


def test_when_a_page_cannot_be_written_each_order_goes_alone(
    stores: tuple[Store, Store], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = stores
    shop = MemoryChannel("tmall", clock=clock)
    shop.add_listing("tmall-1", "MUG", sku_id="1")
    good = shop.place_order([("MUG", 1)])
    bad = shop.place_order([("MUG", 2)])
    real = OrderPage.write

    def write(page: OrderPage, report: IngestReport) -> None:
        # A database failure no single order's decision foresaw.
        if any(o.order_id == bad.order_id for o in page.orders):
            raise RuntimeError("disk I/O error")
        real(page, report)

    monkeypatch.setattr(OrderPage, "write", write)
    report = IngestReport(channel="tmall")
    asyncio.run(
        orders_module._apply_page(_context(store, shop, clock), "tmall", [good, bad], report)
    )

    assert (report.imported, report.parked) == (1, 1)
    with store.transaction() as s:
        assert [o.order_id for o in s.orders()] == [good.order_id]
        assert [(p.key, p.reason) for p in s.parked()] == [
            (bad.order_id, "RuntimeError: disk I/O error")
        ]
        mug = s.skus(["MUG"])[0]
        assert s.positions([mug.id])[mug.id].reserved == 1
