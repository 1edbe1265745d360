"""Listings read by merchant code (searchSkuList ``outId``), the capped scan, and the guard."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from channelsync_jd import JdChannel
from channelsync_jd.fake import FakeJos

from channelsync.channels import ChannelLimits, ListingLookupCapability, Operation
from channelsync.clock import FakeClock
from channelsync.engine.binding import bind_channel
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.sync import SyncEngine
from channelsync.errors import InvalidRequestError
from channelsync.models import ListingStatus, ListingStatusChange
from channelsync.store import Store, open_store
from channelsync.testing.fakes import demo_catalogue

SKUS = "jingdong.sku.read.searchSkuList"
WARES = "jingdong.ware.read.searchWare4Valid"


def _paged(size: int) -> type[JdChannel]:
    limits = JdChannel.limits.model_copy(
        update={"batch_sizes": {**JdChannel.limits.batch_sizes, Operation.LIST_LISTINGS: size}}
    )
    assert isinstance(limits, ChannelLimits)
    return type(f"Paged{size}", (JdChannel,), {"limits": limits})


def _sent(fake: FakeJos, method: str) -> list[dict[str, object]]:
    return [params for name, params in fake.received if name == method]


async def test_the_lookup_returns_exactly_the_asked_listings_as_a_scan_maps_them(
    channel: JdChannel, fake: FakeJos
) -> None:
    assert isinstance(channel, ListingLookupCapability)
    scanned = {listing.merchant_code: listing async for listing in channel.iter_listings()}
    # Both SKUs of one ware and one SKU of another, a code asked twice, one unknown code.
    asked = ["CS-0001-1", "CS-0001-2", "CS-0005-2", "CS-0001-1", "NOT-ON-JD"]
    fake.calls.clear()
    fake.received.clear()
    found = await channel.find_listings(asked)
    assert sorted(found, key=lambda x: x.merchant_code or "") == [
        scanned["CS-0001-1"],
        scanned["CS-0001-2"],
        scanned["CS-0005-2"],
    ]
    # One SKU search by the four codes and one ware search for the two wares.
    assert fake.calls == Counter({SKUS: 1, WARES: 1})
    [skus] = _sent(fake, SKUS)
    assert skus["outId"] == "CS-0001-1,CS-0001-2,CS-0005-2,NOT-ON-JD"
    assert "wareId" not in skus
    [wares] = _sent(fake, WARES)
    assert wares["wareId"] == f"{found[0].item_id},{found[2].item_id}"


async def test_nothing_asked_or_nothing_found_costs_at_most_the_sku_search(
    channel: JdChannel, fake: FakeJos
) -> None:
    assert await channel.find_listings([]) == []
    assert fake.calls == Counter()
    assert await channel.find_listings(["NOT-ON-JD"]) == []
    assert fake.calls == Counter({SKUS: 1})


async def test_codes_and_wares_go_twenty_a_call(channel: JdChannel, fake: FakeJos) -> None:
    fake.seed_catalogue(demo_catalogue(30)[8:])
    # One SKU of each of 25 wares, then the second SKU of the first 20: 45 codes, 25 wares.
    codes = [f"CS-{n:04d}-1" for n in range(1, 26)] + [f"CS-{n:04d}-2" for n in range(1, 21)]
    found = await channel.find_listings(codes)
    assert sorted(x.merchant_code or "" for x in found) == sorted(codes)
    sku_calls = _sent(fake, SKUS)
    assert [len(str(p["outId"]).split(",")) for p in sku_calls] == [20, 20, 5]
    ware_calls = _sent(fake, WARES)
    assert [len(str(p["wareId"]).split(",")) for p in ware_calls] == [20, 5]


async def test_sku_pages_of_a_lookup_are_followed(
    fake: FakeJos, make: Callable[..., JdChannel]
) -> None:
    codes = [f"CS-{n:04d}-{v}" for n in range(1, 4) for v in (1, 2)]
    async with make(_paged(4)) as channel:
        found = await channel.find_listings(codes)
    assert sorted(x.merchant_code or "" for x in found) == codes
    # Six SKUs at four a page: two SKU pages; three wares at four a page: one ware page.
    assert fake.calls == Counter({SKUS: 2, WARES: 1})


async def test_a_delisted_ware_is_found_delisted(channel: JdChannel, fake: FakeJos) -> None:
    [found] = await channel.find_listings(["CS-0002-1"])
    change = ListingStatusChange(item_id=found.item_id, status=ListingStatus.DELISTED)
    assert (await channel.set_listing_status([change]))[0].ok
    [again] = await channel.find_listings(["CS-0002-1"])
    assert again.status is ListingStatus.DELISTED
    assert again.raw_status == "wareStatus=2;status=2"
    scanned = [x async for x in channel.iter_listings() if x.merchant_code == "CS-0002-1"]
    assert scanned == [again]


async def test_a_code_with_a_comma_is_found_by_a_scan(channel: JdChannel, fake: FakeJos) -> None:
    ware = next(iter(fake.store.items.values()))
    ware.skus[0].merchant_code = "CS,COMMA"
    found = await channel.find_listings(["CS,COMMA", "CS-0002-1"])
    assert sorted(x.merchant_code or "" for x in found) == ["CS,COMMA", "CS-0002-1"]
    assert all("outId" not in params for params in _sent(fake, SKUS))


async def test_the_fake_refuses_more_than_twenty_ware_ids(channel: JdChannel) -> None:
    ids = ",".join(str(1000 + n) for n in range(21))
    with pytest.raises(InvalidRequestError, match="at most 20"):
        await channel.call(WARES, {"wareId": ids, "pageNo": 1, "pageSize": 50})


# -- the capped scan -------------------------------------------------------------------


async def test_a_scan_stopped_at_the_hundredth_ware_page_is_capped_and_bound_whole(
    fake: FakeJos, make: Callable[..., JdChannel], clock: FakeClock, tmp_path: Path
) -> None:
    # Two wares a page: page 100 ends at ware 200; the fake, like JD, answers no further.
    fake.seed_catalogue(demo_catalogue(203)[8:])
    async with make(_paged(2)) as channel:
        scanned = [listing async for listing in channel.iter_listings()]
        assert len(scanned) == 400
        assert channel.scan_capped
        with _engine(channel, clock, tmp_path, items=203) as engine:
            fake.calls.clear()
            report = await bind_channel(engine.context, channel)
            # The scan's 100 ware pages, then the six SKUs past the cap found by code and
            # their three wares read two a page.
            assert fake.calls[WARES] == 100 + 2
            assert report.bound == 406
            assert report.unlisted == []
            checked = await reconcile_channel(engine.context, channel)
    assert checked.compared == 406
    assert checked.missing == []


async def test_a_complete_scan_is_not_capped(channel: JdChannel) -> None:
    assert len([listing async for listing in channel.iter_listings()]) == 16
    assert not channel.scan_capped


# -- the re-inflation guard ------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _import(store: Store, clock: FakeClock, items: int, quantity: int = 4) -> None:
    rows = ["sku,title,price,currency,quantity"]
    for item in demo_catalogue(items):
        rows += [f"{s.merchant_code},{item.title},{s.price},CNY,{quantity}" for s in item.skus]
    import_catalogue(store, parse_catalogue("\n".join(rows) + "\n", "csv"), now=clock.now())


@contextlib.contextmanager
def _engine(
    channel: JdChannel, clock: FakeClock, where: Path, *, items: int
) -> Iterator[SyncEngine]:
    """An engine on a store whose catalogue holds the first ``items`` demo items."""
    store = open_store(f"sqlite:///{where / 'engine.db'}")
    try:
        _import(store, clock, items)
        yield SyncEngine(store, [channel], clock=clock)
    finally:
        store.close()


async def _settled(
    store: Store, channel: JdChannel, clock: FakeClock, items: int = 8
) -> SyncEngine:
    _import(store, clock, items)
    sync = SyncEngine(store, [channel], clock=clock)
    await sync.run_cycle()
    clock.advance(3600)
    await sync.run_cycle()
    return sync


async def test_jd_raises_are_checked_by_reading_only_the_raised_skus(
    channel: JdChannel, fake: FakeJos, clock: FakeClock, store: Store
) -> None:
    fake.seed_catalogue(demo_catalogue(120)[8:])
    sync = await _settled(store, channel, clock, 120)
    raised = ("CS-0001-1", "CS-0001-2", "CS-0104-1")  # two SKUs of one ware, one of another
    for code in raised:
        adjust_stock(store, code, 3, key=f"delivery-{code}", now=clock.now())
    clock.advance(60)
    before = Counter(fake.calls)
    summary = await sync.run_cycle()
    calls = Counter(fake.calls) - before
    assert summary.channels[channel.name].errors == []
    assert all(fake.store.stock_by_merchant_code()[code] == 7 for code in raised)
    # One SKU search by the three codes and one ware search for their two wares: not the
    # shop's three ware pages and a SKU search for every twenty of its 120 wares.
    assert calls[SKUS] == 1
    assert calls[WARES] == 1
    [search] = _sent(fake, SKUS)[-1:]
    assert sorted(str(search["outId"]).split(",")) == sorted(raised)
    assert calls["jingdong.stock.write.updateSkuStock"] == 3


async def test_a_drop_seen_through_the_lookup_holds_the_raise(
    channel: JdChannel, fake: FakeJos, clock: FakeClock, store: Store
) -> None:
    sync = await _settled(store, channel, clock)
    [sku] = [s for _, s in fake.store.iter_skus() if s.merchant_code == "CS-0003-2"]
    sku.quantity = 1  # a hand edit on JD: 4 sent, 1 shown, no order explains it
    adjust_stock(store, "CS-0003-2", 3, key="delivery", now=clock.now())
    clock.advance(60)
    await sync.run_cycle()
    assert fake.store.stock_by_merchant_code()["CS-0003-2"] == 1  # held, not re-inflated
    assert _sent(fake, SKUS)[-1]["outId"] == "CS-0003-2"
