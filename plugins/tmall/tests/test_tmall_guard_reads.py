"""The re-inflation guard on Tmall reads only the listings with a raise queued, by id."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from channelsync_tmall import TmallChannel
from channelsync_tmall.fake import FakeTop

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store
from channelsync.testing.fakes import demo_catalogue

SKUS = "taobao.item.skus.get"
SCANS = ("taobao.items.onsale.get", "taobao.items.inventory.get")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


async def settled(
    store: Store, channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> SyncEngine:
    """Import what the fake sells (4 of each) and sync until nothing is left to send."""
    rows = ["sku,title,price,currency,quantity"]
    for _, sku in fake.store.iter_skus():
        rows.append(f"{sku.merchant_code},Item,{sku.price},CNY,4")
    import_catalogue(store, parse_catalogue("\n".join(rows) + "\n", "csv"), now=clock.now())
    sync = SyncEngine(store, [channel], clock=clock)
    await sync.run_cycle()
    clock.advance(3600)
    await sync.run_cycle()
    return sync


async def test_shown_quantities_are_read_by_item_and_sku_id(
    channel: TmallChannel, fake: FakeTop
) -> None:
    first, second = list(fake.store.items.values())[:2]
    plain = fake.add_plain_item("PLAIN-1", "无规格商品", Decimal("9.90"), 7)
    gone = fake.add_plain_item("PLAIN-2", "已删除", Decimal("9.90"), 3)
    gone.extra["deleted"] = True
    wanted = [
        (first.item_id, first.skus[0].sku_id),
        (first.item_id, first.skus[1].sku_id),
        (second.item_id, second.skus[0].sku_id),
        (plain.item_id, None),
        (gone.item_id, None),
    ]
    before = Counter(fake.calls)
    async with channel:
        shown = await channel.shown_quantities(wanted)
    calls = Counter(fake.calls) - before
    assert shown[(first.item_id, first.skus[0].sku_id)] == first.skus[0].quantity
    assert shown[(second.item_id, second.skus[0].sku_id)] == second.skus[0].quantity
    assert shown[(plain.item_id, "")] == 7
    assert (gone.item_id, "") not in shown  # deleted: the shop no longer shows it
    # One SKU read for both items, one item read for each item without SKUs; no scan.
    assert calls == Counter({SKUS: 1, "taobao.item.seller.get": 2})


async def test_raises_are_checked_by_reading_only_the_raised_items(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock, store: Store
) -> None:
    fake.seed_catalogue(demo_catalogue(120)[8:])
    sync = await settled(store, channel, fake, clock)
    raised = ("CS-0001-1", "CS-0001-2", "CS-0104-1")  # two SKUs of one item, one of another
    for code in raised:
        adjust_stock(store, code, 3, key=f"delivery-{code}", now=clock.now())
    clock.advance(60)
    before = Counter(fake.calls)
    summary = await sync.run_cycle()
    calls = Counter(fake.calls) - before
    assert summary.channels[channel.name].errors == []
    assert all(fake.store.stock_by_merchant_code()[code] == 7 for code in raised)
    # One SKU read for the two items: not the shop's item pages and a SKU read for every
    # forty of its 120 items.
    assert calls[SKUS] == 1
    assert not any(calls[scan] for scan in SCANS)


async def test_a_drop_seen_by_id_holds_the_raise(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock, store: Store
) -> None:
    sync = await settled(store, channel, fake, clock)
    [sku] = [s for _, s in fake.store.iter_skus() if s.merchant_code == "CS-0003-2"]
    sku.quantity = 1  # a hand edit on Tmall: 4 sent, 1 shown, no order explains it
    adjust_stock(store, "CS-0003-2", 3, key="delivery", now=clock.now())
    clock.advance(60)
    before = Counter(fake.calls)
    await sync.run_cycle()
    assert fake.store.stock_by_merchant_code()["CS-0003-2"] == 1  # held, not re-inflated
    calls = Counter(fake.calls) - before
    assert calls[SKUS] == 1
    assert not any(calls[scan] for scan in SCANS)
