"""Kits, multipacks and warehouse sourcing as the planner sends them to channels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, EngineConfig
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.composition import replan_set
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.planner import plan_changes
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel

COMPONENTS = """sku,title,price,currency,quantity,warehouse
TEAPOT,Teapot,80.00,CNY,10,WH-A
CUP,Cup,15.00,CNY,40,WH-A
CUP,Cup,15.00,CNY,8,WH-B
SAUCER,Saucer,5.00,CNY,30,WH-A
"""
#: Kits and their components: a gift set, a pack of three cups.
KITS = {"GIFT": [("TEAPOT", 1), ("CUP", 4)], "CUP-3": [("CUP", 3)]}


def add_kits(store: Store, now_store_clock: FakeClock) -> None:
    with store.transaction() as session:
        for code, parts in KITS.items():
            kit = session.upsert_sku(
                merchant_code=code,
                product_id=None,
                title=code,
                price="100.00",
                currency="CNY",
                cost=None,
                barcode=None,
                attributes={},
                now=now_store_clock.now(),
            )
            ids = {s.merchant_code: s.id for s in session.skus([c for c, _ in parts])}
            session.set_components(kit, [(ids[c], q) for c, q in parts])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(store_url)
    import_catalogue(opened, parse_catalogue(COMPONENTS, "csv"), now=clock.now())
    add_kits(opened, clock)
    yield opened
    opened.close()


def shop(name: str, clock: FakeClock, codes: tuple[str, ...]) -> MemoryChannel:
    channel = MemoryChannel(name, clock=clock)
    for number, code in enumerate(codes, start=1):
        channel.add_listing(f"{name}-{number}", code, sku_id=str(number), quantity=0)
    return channel


def engine(store: Store, clock: FakeClock, *channels: MemoryChannel, **kw: object) -> SyncEngine:
    return SyncEngine(store, channels, clock=clock, **kw)  # type: ignore[arg-type]


async def test_a_kit_and_a_pack_show_what_their_components_make(
    store: Store, clock: FakeClock
) -> None:
    tmall = shop("tmall", clock, ("GIFT", "CUP-3", "CUP", "TEAPOT"))
    jd = shop("jd", clock, ("CUP", "GIFT"))
    await engine(store, clock, tmall, jd).run_cycle()
    # 10 teapots and 48 cups: 10 gift sets (12 by cups), 16 packs of three, 48 cups.
    assert tmall.listing("GIFT").quantity == 10
    assert jd.listing("GIFT").quantity == 10
    assert tmall.listing("CUP-3").quantity == 16
    assert tmall.listing("CUP").quantity == jd.listing("CUP").quantity == 48
    assert tmall.listing("TEAPOT").quantity == 10


async def test_a_component_sold_alone_replans_every_kit_using_it_in_the_same_cycle(
    store: Store, clock: FakeClock
) -> None:
    tmall = shop("tmall", clock, ("GIFT", "CUP-3", "CUP", "TEAPOT", "SAUCER"))
    jd = shop("jd", clock, ("CUP", "GIFT"))
    sync = engine(store, clock, tmall, jd)
    await sync.run_cycle()
    jd.place_order([("CUP", 12)])
    clock.advance(60)
    summary = await sync.run_cycle()
    # 36 cups left: 9 sets, 12 packs, on every channel in this cycle.
    assert tmall.listing("GIFT").quantity == jd.listing("GIFT").quantity == 9
    assert tmall.listing("CUP-3").quantity == 12
    assert tmall.listing("CUP").quantity == 36
    assert tmall.listing("TEAPOT").quantity == 10
    assert summary.channels["jd"].orders_imported == 1
    with store.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus()}
        # Only the cup and what draws on it are replanned; plenty binds nothing else.
        session.mark_changed([ids["CUP"]])
        report = plan_changes(session, sync.context)
    assert report.skus == 3  # CUP, GIFT, CUP-3: not the teapot, not the saucer


async def test_scarce_cups_are_never_shown_more_than_exist_across_singles_packs_and_sets(
    store: Store, clock: FakeClock
) -> None:
    tmall = shop("tmall", clock, ("GIFT", "CUP-3", "CUP"))
    jd = shop("jd", clock, ("CUP", "GIFT", "CUP-3"))
    adjust_stock(store, "CUP", -40, key="breakage-a", now=clock.now(), warehouse="WH-A")
    adjust_stock(store, "CUP", -1, key="breakage-b", now=clock.now(), warehouse="WH-B")
    await engine(store, clock, tmall, jd).run_cycle()
    # 7 cups left; one sale on every listing would take 4 + 3 + 1 + 1 + 4 + 3 = 16.
    taken = sum(
        q * channel.listing(code).quantity
        for channel in (tmall, jd)
        for code, q in (("GIFT", 4), ("CUP-3", 3), ("CUP", 1))
    )
    assert 0 < taken <= 7


async def test_each_channel_is_shown_only_the_warehouses_that_feed_it(
    store: Store, clock: FakeClock
) -> None:
    tmall = shop("tmall", clock, ("CUP", "CUP-3"))
    jd = shop("jd", clock, ("CUP", "CUP-3"))
    settings = {"jd": ChannelSyncSettings(warehouses=("WH-B",))}
    await engine(store, clock, tmall, jd, settings=settings).run_cycle()
    assert tmall.listing("CUP").quantity == 48
    assert jd.listing("CUP").quantity == 8
    assert jd.listing("CUP-3").quantity == 2


async def test_marketplace_held_stock_is_offered_to_no_channel(
    store: Store, clock: FakeClock
) -> None:
    adjust_stock(store, "TEAPOT", 100, key="fba-read", now=clock.now(), warehouse="FBA")
    tmall = shop("tmall", clock, ("TEAPOT", "GIFT"))
    amazon = shop("amazon", clock, ("TEAPOT",))
    settings = {"amazon": ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA",))}
    await engine(store, clock, tmall, amazon, settings=settings).run_cycle()
    assert tmall.listing("TEAPOT").quantity == 10
    assert tmall.listing("GIFT").quantity == 10
    assert amazon.listing("TEAPOT").quantity == 0  # never pushed: Amazon holds it


async def test_strict_partitions_a_component_among_kits_on_every_channel(
    store: Store, clock: FakeClock
) -> None:
    tmall = shop("tmall", clock, ("GIFT", "CUP"))
    jd = shop("jd", clock, ("GIFT", "CUP"))
    await engine(store, clock, tmall, jd, config=EngineConfig(strict=True)).run_cycle()
    cups = sum(4 * c.listing("GIFT").quantity + c.listing("CUP").quantity for c in (tmall, jd))
    teapots = sum(c.listing("GIFT").quantity for c in (tmall, jd))
    assert cups <= 48
    assert teapots <= 10
    assert cups >= 40  # partitioned, not starved


async def test_units_the_marketplace_holds_hide_no_oversell_of_the_merchants_own(
    store: Store, clock: FakeClock
) -> None:
    tmall = shop("tmall", clock, ("TEAPOT",))
    amazon = shop("amazon", clock, ("TEAPOT",))
    amazon.listing("TEAPOT").quantity = 100  # what Amazon's warehouse holds, read into FBA
    settings = {"amazon": ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA",))}
    sync = engine(store, clock, tmall, amazon, settings=settings)
    await sync.run_cycle()
    tmall.place_order([("TEAPOT", 12)])  # two more than the merchant's own 10
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.oversold == {"TEAPOT": 2}


async def test_a_change_replans_everything_drawing_on_a_scarce_component_of_its_kits(
    store: Store, clock: FakeClock
) -> None:
    tmall = shop("tmall", clock, ("GIFT", "CUP-3", "CUP", "TEAPOT"))
    sync = engine(store, clock, tmall)
    await sync.run_cycle()
    adjust_stock(store, "CUP", -40, key="breakage-a", now=clock.now(), warehouse="WH-A")
    adjust_stock(store, "CUP", -3, key="breakage-b", now=clock.now(), warehouse="WH-B")
    await sync.run_cycle()  # five cups left: one sale on every listing would take 8
    with store.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus()}
        plan, _ = replan_set(session, sync.context, [ids["TEAPOT"]])
    # The teapot's set draws on the scarce cups: their other draws are dealt anew too.
    assert sorted(plan) == sorted(ids[c] for c in ("TEAPOT", "GIFT", "CUP", "CUP-3"))
