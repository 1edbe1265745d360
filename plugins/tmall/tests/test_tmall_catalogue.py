from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import pytest
from channelsync_tmall import TmallChannel
from channelsync_tmall.fake import FakeTop

from channelsync.clock import FakeClock
from channelsync.models import (
    ListingStatus,
    ListingStatusChange,
    Money,
    PriceChange,
    StockUpdate,
    StockUpdateMode,
)
from channelsync.testing.fakes import Fault, SeedItem, SeedSku, demo_catalogue

from .conftest import MakeChannel


def _catalogue(count: int, skus: int = 1) -> list[SeedItem]:
    return demo_catalogue(count, skus_per_item=skus)


async def test_listings_carry_skus_merchant_codes_and_yuan_prices(
    channel: TmallChannel, fake: FakeTop
) -> None:
    async with channel:
        listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == 16
    first = listings[0]
    assert first.merchant_code == "CS-0001-1"
    assert first.price == Money.of("49.90", "CNY")
    assert first.quantity == 20
    assert first.status is ListingStatus.ON_SALE
    assert first.updated_at is not None
    assert first.updated_at.utcoffset() is not None
    assert {x.item_id for x in listings} == set(fake.store.items)


async def test_delisted_and_sold_out_items_are_read_too(
    channel: TmallChannel, fake: FakeTop
) -> None:
    items = list(fake.store.items.values())
    items[0].on_sale = False
    items[1].on_sale = False
    items[1].extra["banner"] = "sold_out"
    plain = fake.add_plain_item("PLAIN-1", "无规格商品", Decimal("9.90"), 7)
    async with channel:
        listings = [listing async for listing in channel.iter_listings()]
    by_item = {x.item_id: x for x in listings}
    assert by_item[items[0].item_id].status is ListingStatus.DELISTED
    assert by_item[items[1].item_id].status is ListingStatus.DELISTED
    assert by_item[plain.item_id].sku_id is None
    assert by_item[plain.item_id].quantity == 7
    assert by_item[plain.item_id].merchant_code == "PLAIN-1"


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (200, 1), (400, 2), (401, 3)])
async def test_item_paging_edges(
    make_channel: MakeChannel, clock: FakeClock, count: int, pages: int
) -> None:
    fake = FakeTop(
        app_key="10000001",
        app_secret="fake-top-app-secret-not-real",
        session="fake-top-session-not-real",
        clock=clock,
    )
    fake.seed_catalogue(_catalogue(count))
    channel = make_channel(transport=fake.transport())
    async with channel:
        listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == count
    assert fake.calls["taobao.items.onsale.get"] == pages
    assert fake.calls["taobao.item.skus.get"] == -(-count // 40)


async def test_catalogue_is_sliced_by_modified_time_under_the_paging_guard(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    class SmallGuard(TmallChannel):
        deep_paging_limit: ClassVar[int] = 400

    fake = FakeTop(
        app_key="10000001",
        app_secret="fake-top-app-secret-not-real",
        session="fake-top-session-not-real",
        clock=clock,
    )
    fake.deep_paging_limit = 400
    for _ in range(5):
        fake.seed_catalogue(_catalogue(250))
        clock.advance(3600)
    channel = make_channel(SmallGuard, transport=fake.transport())
    async with channel:
        listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == 1250
    assert len({x.item_id for x in listings}) == 1250


async def test_the_fake_refuses_deep_pages(make_channel: MakeChannel, clock: FakeClock) -> None:
    class NoGuard(TmallChannel):
        deep_paging_limit: ClassVar[int] = 10**9

    fake = FakeTop(
        app_key="10000001",
        app_secret="fake-top-app-secret-not-real",
        session="fake-top-session-not-real",
        clock=clock,
    )
    fake.deep_paging_limit = 200
    fake.seed_catalogue(_catalogue(300))
    from channelsync.errors import InvalidRequestError  # noqa: PLC0415

    async with make_channel(NoGuard, transport=fake.transport()) as channel:
        with pytest.raises(InvalidRequestError, match="page"):
            _ = [listing async for listing in channel.iter_listings()]


async def test_list_and_delist_whole_items(channel: TmallChannel, fake: FakeTop) -> None:
    item_id = next(iter(fake.store.items))
    async with channel:
        (off,) = await channel.set_listing_status(
            [ListingStatusChange(item_id=item_id, status=ListingStatus.DELISTED)]
        )
        assert off.ok
        assert not fake.store.items[item_id].on_sale
        (on,) = await channel.set_listing_status(
            [ListingStatusChange(item_id=item_id, status=ListingStatus.ON_SALE)]
        )
        assert on.ok
        (missing,) = await channel.set_listing_status(
            [ListingStatusChange(item_id="699999999999", status=ListingStatus.DELISTED)]
        )
    assert fake.store.items[item_id].on_sale
    assert not missing.ok
    assert missing.error is not None
    assert missing.error.code == "15/isv.item-not-exist:invalid-numIid-or-iid"


def _skus(fake: FakeTop) -> list[tuple[str, str]]:
    return [(item.item_id, sku.sku_id) for item, sku in fake.store.iter_skus()]


async def test_absolute_and_incremental_stock(channel: TmallChannel, fake: FakeTop) -> None:
    (item_a, sku_a), (_, sku_b) = _skus(fake)[:2]
    async with channel:
        results = await channel.set_stock(
            [
                StockUpdate(item_id=item_a, sku_id=sku_a, quantity=3),
                StockUpdate(item_id=item_a, sku_id=sku_b, quantity=-25, mode=StockUpdateMode.DELTA),
            ]
        )
    assert all(r.ok for r in results)
    item = fake.store.items[item_a]
    assert item.sku(sku_a).quantity == 3  # type: ignore[union-attr]
    assert item.sku(sku_b).quantity == 0  # type: ignore[union-attr]  # batch delta clamps
    assert fake.calls["taobao.skus.quantity.update"] == 2  # one call per mode


async def test_stock_batches_stay_within_twenty_skus_of_one_item(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    fake = FakeTop(
        app_key="10000001",
        app_secret="fake-top-app-secret-not-real",
        session="fake-top-session-not-real",
        clock=clock,
    )
    fake.seed_catalogue(
        [
            SeedItem(
                "BIG",
                "大商品",
                Decimal("10.00"),
                tuple(SeedSku(f"BIG-{i}", f"尺码:{i}", Decimal("10.00"), 5) for i in range(45)),
            )
        ]
    )
    updates = [
        StockUpdate(item_id=item.item_id, sku_id=sku.sku_id, quantity=9)
        for item, sku in fake.store.iter_skus()
    ]
    async with make_channel(transport=fake.transport()) as channel:
        results = await channel.set_stock(updates)
    assert all(r.ok for r in results)
    assert fake.calls["taobao.skus.quantity.update"] == 3
    assert set(fake.store.stock_by_merchant_code().values()) == {9}


async def test_one_refused_sku_leaves_the_others_applied(
    channel: TmallChannel, fake: FakeTop
) -> None:
    (item_a, sku_a), (_, sku_b) = _skus(fake)[:2]
    fake.faults.force(Fault.PARTIAL_BATCH)
    async with channel:
        first, second = await channel.set_stock(
            [
                StockUpdate(item_id=item_a, sku_id=sku_a, quantity=1),
                StockUpdate(item_id=item_a, sku_id=sku_b, quantity=2),
            ]
        )
    assert not first.ok
    assert first.error is not None
    assert first.error.retryable
    assert second.ok
    assert fake.store.items[item_a].sku(sku_b).quantity == 2  # type: ignore[union-attr]
    assert fake.store.items[item_a].sku(sku_a).quantity == 20  # type: ignore[union-attr]


async def test_an_unknown_sku_fails_alone(channel: TmallChannel, fake: FakeTop) -> None:
    (item_a, sku_a), (_, sku_b) = _skus(fake)[:2]
    async with channel:
        results = await channel.set_stock(
            [
                StockUpdate(item_id=item_a, sku_id=sku_a, quantity=4),
                StockUpdate(item_id=item_a, sku_id="5999999999999", quantity=4),
                StockUpdate(item_id=item_a, sku_id=sku_b, quantity=5),
            ]
        )
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is not None
    assert results[1].error.code == "15/isv.invalid-parameter:sku-properties"
    assert fake.store.stock_by_merchant_code()["CS-0001-2"] == 5


async def test_item_level_stock_refuses_to_go_negative(
    channel: TmallChannel, fake: FakeTop
) -> None:
    plain = fake.add_plain_item("PLAIN-1", "无规格商品", Decimal("9.90"), 2)
    async with channel:
        ok, refused = await channel.set_stock(
            [
                StockUpdate(item_id=plain.item_id, quantity=-1, mode=StockUpdateMode.DELTA),
                StockUpdate(item_id=plain.item_id, quantity=-5, mode=StockUpdateMode.DELTA),
            ]
        )
    assert ok.ok
    assert not refused.ok
    assert fake.store.items[plain.item_id].quantity == 1


async def test_sku_price_moves_the_item_price_into_range(
    channel: TmallChannel, fake: FakeTop
) -> None:
    item = next(iter(fake.store.items.values()))
    cheap, dear = item.skus
    async with channel:
        results = await channel.set_prices(
            [
                PriceChange(item_id=item.item_id, sku_id=cheap.sku_id, price=Money.of("80", "CNY")),
                PriceChange(
                    item_id=item.item_id, sku_id=dear.sku_id, price=Money.of("99.5", "CNY")
                ),
            ]
        )
    assert all(r.ok for r in results), results
    assert cheap.price == Decimal("80.00")
    assert dear.price == Decimal("99.50")
    assert item.price == Decimal("80.00")
    assert fake.calls["taobao.item.skus.get"] == 1


async def test_price_failures_are_per_change(channel: TmallChannel, fake: FakeTop) -> None:
    item = next(iter(fake.store.items.values()))
    sku = item.skus[0]
    async with channel:
        results = await channel.set_prices(
            [
                PriceChange(item_id=item.item_id, sku_id=sku.sku_id, price=Money.of("1", "USD")),
                PriceChange(
                    item_id=item.item_id, sku_id="5999999999999", price=Money.of("1", "CNY")
                ),
                PriceChange(item_id=item.item_id, price=Money.of("1", "CNY")),
                PriceChange(
                    item_id=item.item_id, sku_id=sku.sku_id, price=Money.of("1.005", "CNY")
                ),
                PriceChange(item_id=item.item_id, sku_id=sku.sku_id, price=Money.of("12.3", "CNY")),
            ]
        )
    assert [r.ok for r in results] == [False, False, False, False, True]
    assert sku.price == Decimal("12.30")
