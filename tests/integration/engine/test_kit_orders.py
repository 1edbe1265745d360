"""Orders and refunds of kits move their components' stock, each event exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.orders import IngestReport, OrderPage
from channelsync.engine.sync import SyncEngine
from channelsync.models import OrderStatus, RefundStatus
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel

CATALOGUE = """sku,title,price,currency,quantity
MUG,Mug,20.00,CNY,10
CUP,Cup,15.00,CNY,10
SET,Mug and two cups,45.00,CNY,0
"""


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(store_url)
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    with opened.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus()}
        # SET is a kit: one mug and two cups.
        session.set_components(ids["SET"], [(ids["MUG"], 1), (ids["CUP"], 2)])
    yield opened
    opened.close()


@pytest.fixture
def tmall(clock: FakeClock) -> MemoryChannel:
    shop = MemoryChannel("tmall", clock=clock)
    for number, code in enumerate(("MUG", "CUP", "SET"), start=1):
        shop.add_listing(f"tmall-{number}", code, sku_id=str(number), quantity=0)
    return shop


def units(store: Store) -> dict[str, tuple[int, int]]:
    """On hand and reserved per merchant code."""
    with store.transaction() as session:
        skus = {s.id: s.merchant_code for s in session.skus()}
        found = session.positions(skus)
    return {skus[i]: (p.on_hand, p.reserved) for i, p in found.items()}


def keys(store: Store) -> Counter[str]:
    """The order and refund events' keys, with merchant codes for SKU ids."""
    with store.transaction() as session:
        skus = {s.id: s.merchant_code for s in session.skus()}
        events = session.ledger()
    return Counter(
        f"{e.idempotency_key.rsplit(':', 1)[0]}:{skus[e.sku_id]}"
        for e in events
        if e.kind != "catalogue_import"
    )


async def cycle(sync: SyncEngine, clock: FakeClock) -> None:
    clock.advance(60)
    await sync.run_cycle()


async def read_again(sync: SyncEngine, store: Store, clock: FakeClock) -> None:
    """Read every order and refund again from the start, as after a restart."""
    with store.transaction() as session:
        for kind in ("orders", "refunds"):
            session.set_cursor("tmall", kind, clock.now() - timedelta(hours=3), None)
    await cycle(sync, clock)


async def test_a_kit_order_moves_its_components_once_through_its_life(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    await sync.run_cycle()
    # Two sets and one cup: 2 mugs, 2 x 2 + 1 = 5 cups, in one event per component.
    order = tmall.place_order([("SET", 2), ("CUP", 1)])
    await cycle(sync, clock)
    assert units(store) == {"MUG": (10, 2), "CUP": (10, 5), "SET": (0, 0)}
    o = order.order_id
    assert keys(store) == Counter({f"reserve:tmall:{o}:MUG": 1, f"reserve:tmall:{o}:CUP": 1})

    await read_again(sync, store, clock)
    assert units(store) == {"MUG": (10, 2), "CUP": (10, 5), "SET": (0, 0)}

    tmall.set_order_status(o, OrderStatus.SHIPPED)
    await cycle(sync, clock)
    after = {"MUG": (8, 0), "CUP": (5, 0), "SET": (0, 0)}
    assert units(store) == after
    await read_again(sync, store, clock)
    tmall.set_order_status(o, OrderStatus.COMPLETED)
    await cycle(sync, clock)
    assert units(store) == after
    assert keys(store) == Counter(
        {
            f"reserve:tmall:{o}:MUG": 1,
            f"reserve:tmall:{o}:CUP": 1,
            f"ship:tmall:{o}:MUG": 1,
            f"ship:tmall:{o}:CUP": 1,
        }
    )

    # One set comes back: its mug and two cups are restocked, once.
    refund = tmall.request_refund(o, [("SET", 1)], returns_goods=True, status=RefundStatus.REFUNDED)
    await cycle(sync, clock)
    assert units(store) == {"MUG": (9, 0), "CUP": (7, 0), "SET": (0, 0)}
    await read_again(sync, store, clock)
    assert units(store) == {"MUG": (9, 0), "CUP": (7, 0), "SET": (0, 0)}
    r = refund.refund_id
    assert keys(store)[f"return:tmall:{r}:MUG"] == 1
    assert keys(store)[f"return:tmall:{r}:CUP"] == 1
    with store.transaction() as session:
        [audit] = session.audit_trail(channel="tmall", kind="refund")
    assert dict(audit.sent)["restocked"] == {"MUG": 1, "CUP": 2}


async def test_a_cancelled_kit_order_releases_its_components(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    await sync.run_cycle()
    order = tmall.place_order([("SET", 3)])
    await cycle(sync, clock)
    assert units(store) == {"MUG": (10, 3), "CUP": (10, 6), "SET": (0, 0)}
    tmall.set_order_status(order.order_id, OrderStatus.CANCELLED)
    await cycle(sync, clock)
    assert units(store) == {"MUG": (10, 0), "CUP": (10, 0), "SET": (0, 0)}
    await read_again(sync, store, clock)
    assert units(store) == {"MUG": (10, 0), "CUP": (10, 0), "SET": (0, 0)}
    assert sorted(k.split(":")[0] for k in keys(store)) == ["release"] * 2 + ["reserve"] * 2


async def test_a_refund_before_shipping_releases_the_kits_components(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    await sync.run_cycle()
    order = tmall.place_order([("SET", 2), ("MUG", 1)])
    await cycle(sync, clock)
    assert units(store) == {"MUG": (10, 3), "CUP": (10, 4), "SET": (0, 0)}
    tmall.request_refund(order.order_id, [("SET", 1)], status=RefundStatus.REFUNDED)
    await cycle(sync, clock)
    assert units(store) == {"MUG": (10, 2), "CUP": (10, 2), "SET": (0, 0)}
    # The order then ships what is left: what the refund released is not taken again.
    tmall.set_order_status(order.order_id, OrderStatus.SHIPPED)
    await cycle(sync, clock)
    await read_again(sync, store, clock)
    assert units(store)["MUG"][1] == 0
    assert units(store)["CUP"][1] == 0


async def test_a_line_found_by_merchant_code_is_a_kit_too(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    # Never bound: the lines are resolved by merchant code.
    sync = SyncEngine(store, [tmall], clock=clock)
    order = tmall.place_order([("SET", 1), ("CUP", 2)])
    async with tmall:
        clock.advance(60)
        await sync.pull("tmall")
        with store.transaction() as session:
            assert not session.has_bindings("tmall")
        assert units(store) == {"MUG": (10, 1), "CUP": (10, 4), "SET": (0, 0)}
        tmall.set_order_status(order.order_id, OrderStatus.SHIPPED)
        clock.advance(60)
        await sync.pull("tmall")
    assert units(store) == {"MUG": (9, 0), "CUP": (6, 0), "SET": (0, 0)}


def test_the_components_are_what_gets_replanned(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    context = SyncEngine(store, [tmall], clock=clock).context
    order = tmall.place_order([("SET", 1)])
    with store.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus()}
        page = OrderPage.load(session, context, "tmall", [order])
        assert page.apply(order, IngestReport(channel="tmall"))
    assert page.touched == {ids["MUG"], ids["CUP"]}
    assert {e.sku_id for e in page.events} == {ids["MUG"], ids["CUP"]}
