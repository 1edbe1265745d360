"""Listings, list/delist, stock and prices through the fake PDD gateway."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from channelsync_pinduoduo import PinduoduoChannel
from channelsync_pinduoduo.fake import FakePdd

from channelsync.channels import Operation
from channelsync.clock import FakeClock
from channelsync.models import (
    ListingStatus,
    ListingStatusChange,
    Money,
    PriceChange,
    StockUpdate,
    StockUpdateMode,
)
from channelsync.testing.fakes import Fault, demo_catalogue

from .conftest import MakeChannel

GOODS = "300000000001"
SKU_A, SKU_B = "800000000001", "800000000002"
OTHER_GOODS, OTHER_SKU = "300000000002", "800000000003"


async def test_listings_carry_ids_merchant_codes_stock_and_status(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    fake.store.items[OTHER_GOODS].on_sale = False
    async with channel:
        listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == 16
    first = listings[0]
    assert (first.item_id, first.sku_id, first.merchant_code) == (GOODS, SKU_A, "CS-0001-1")
    assert first.quantity == 20
    assert first.status is ListingStatus.ON_SALE
    assert first.price == Money.of("49.90", "CNY")
    delisted = [x for x in listings if x.item_id == OTHER_GOODS]
    assert {x.status for x in delisted} == {ListingStatus.DELISTED}
    assert delisted[0].raw_status == "is_onsale=0;is_sku_onsale=1"
    assert fake.calls["pdd.goods.list.get"] == 1
    # Prices: one goods read per goods (8 goods, 16 SKUs), never one call per SKU.
    assert fake.calls["pdd.goods.information.get"] == 8
    assert fake.calls["pdd.goods.skus.get"] == 0


@pytest.mark.parametrize(
    ("goods", "calls"),
    [(0, 1), (100, 1), (200, 2), (250, 3)],
    ids=["empty", "one-full-page", "exact-multiple", "short-last-page"],
)
async def test_listing_pages(
    make_channel: MakeChannel, clock: FakeClock, goods: int, calls: int
) -> None:
    shop = FakePdd(clock=clock)
    shop.seed_catalogue(demo_catalogue(goods, skus_per_item=1))
    async with make_channel(target=shop) as channel:
        listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == goods
    assert len({x.item_id for x in listings}) == goods
    assert shop.calls["pdd.goods.list.get"] == calls
    sent = [fields for method, fields in shop.received if method == "pdd.goods.list.get"]
    assert {fields["page_size"] for fields in sent} == {"100"}


async def test_list_and_delist_act_on_whole_goods(channel: PinduoduoChannel, fake: FakePdd) -> None:
    changes = [
        ListingStatusChange(item_id=GOODS, status=ListingStatus.DELISTED),
        ListingStatusChange(item_id="300000009999", status=ListingStatus.DELISTED),
        ListingStatusChange(item_id=OTHER_GOODS, status=ListingStatus.ON_SALE),
    ]
    fake.store.items[OTHER_GOODS].on_sale = False
    async with channel:
        results = await channel.set_listing_status(changes)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is not None
    assert results[1].error.code == "21001"
    assert not fake.store.items[GOODS].on_sale
    assert fake.store.items[OTHER_GOODS].on_sale


async def test_stock_absolute_and_incremental_one_sku_per_call(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    updates = [
        StockUpdate(item_id=GOODS, sku_id=SKU_A, quantity=7),
        StockUpdate(item_id=GOODS, sku_id=SKU_B, quantity=-5, mode=StockUpdateMode.DELTA),
        StockUpdate(item_id=OTHER_GOODS, merchant_code="CS-0002-1", quantity=3),
    ]
    async with channel:
        results = await channel.set_stock(updates)
    assert all(r.ok for r in results)
    assert PinduoduoChannel.limits.batch_size(Operation.SET_STOCK) == 1
    assert PinduoduoChannel.limits.stock_delta
    assert fake.calls["pdd.goods.quantity.update"] == 3
    stock = fake.store.stock_by_merchant_code()
    assert (stock["CS-0001-1"], stock["CS-0001-2"], stock["CS-0002-1"]) == (7, 15, 3)
    sent = [f for m, f in fake.received if m == "pdd.goods.quantity.update"]
    assert [f["update_type"] for f in sent] == ["1", "2", "1"]
    assert "sku_id" not in sent[2]
    assert sent[2]["outer_id"] == "CS-0002-1"


async def test_a_refused_sku_does_not_stop_the_others(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    fake.put_in_promotion(GOODS)
    updates = [
        StockUpdate(item_id=OTHER_GOODS, sku_id=OTHER_SKU, quantity=1),
        StockUpdate(item_id=GOODS, sku_id=SKU_A, quantity=2),
        StockUpdate(item_id=GOODS, sku_id=SKU_B, quantity=-21, mode=StockUpdateMode.DELTA),
        StockUpdate(item_id=GOODS, sku_id=SKU_B, quantity=30),
    ]
    async with channel:
        results = await channel.set_stock(updates)
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error is not None
    assert "promotion" in results[1].error.message
    assert results[1].error.retryable is False
    stock = fake.store.stock_by_merchant_code()
    assert (stock["CS-0002-1"], stock["CS-0001-1"], stock["CS-0001-2"]) == (1, 20, 30)


async def test_prices_go_out_in_whole_fen_keeping_the_single_buy_gap(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    changes = [
        PriceChange(item_id=GOODS, sku_id=SKU_A, price=Money.of("19.90", "CNY")),
        PriceChange(item_id=GOODS, sku_id=SKU_B, price=Money.of(Decimal("0.01"), "CNY")),
    ]
    async with channel:
        results = await channel.set_prices(changes)
    assert all(r.ok for r in results)
    commits = [f for m, f in fake.received if m == "pdd.goods.sku.price.update"]
    assert len(commits) == 1
    assert json.loads(commits[0]["sku_price_list"]) == [
        {"sku_id": int(SKU_A), "group_price": 1990, "single_price": 2290},
        {"sku_id": int(SKU_B), "group_price": 1, "single_price": 301},
    ]
    assert commits[0]["sync_goods_operate"] == "1"
    item = fake.store.items[GOODS]
    assert item.skus[0].price == Decimal("19.90")
    assert item.skus[1].extra["single_price"] == Decimal("3.01")


async def test_a_price_that_is_not_whole_fen_is_refused_alone(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    changes = [
        PriceChange(item_id=GOODS, sku_id=SKU_A, price=Money.of("12.345", "CNY")),
        PriceChange(item_id=GOODS, sku_id=SKU_B, price=Money.of("12.30", "CNY")),
        PriceChange(item_id=OTHER_GOODS, sku_id=OTHER_SKU, price=Money.of("5.00", "USD")),
        PriceChange(item_id=OTHER_GOODS, price=Money.of("5.00", "CNY")),
    ]
    async with channel:
        results = await channel.set_prices(changes)
    assert [r.ok for r in results] == [False, True, False, False]
    assert results[0].error is not None
    assert "whole number" in results[0].error.message
    assert results[2].error is not None
    assert "CNY" in results[2].error.message
    assert fake.store.items[GOODS].skus[0].price == Decimal("49.90")
    assert fake.store.items[GOODS].skus[1].price == Decimal("12.30")
    assert fake.calls["pdd.goods.sku.price.update"] == 1


async def test_a_refused_price_commit_fails_only_its_goods(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    fake.faults.force(Fault.PARTIAL_BATCH)
    changes = [
        PriceChange(item_id=GOODS, sku_id=SKU_A, price=Money.of("20.00", "CNY")),
        PriceChange(item_id=GOODS, sku_id=SKU_B, price=Money.of("21.00", "CNY")),
        PriceChange(item_id=OTHER_GOODS, sku_id=OTHER_SKU, price=Money.of("22.00", "CNY")),
        PriceChange(item_id="300000009999", sku_id="800000009999", price=Money.of("1", "CNY")),
    ]
    async with channel:
        results = await channel.set_prices(changes)
    assert [r.ok for r in results] == [False, False, True, False]
    assert fake.store.items[GOODS].skus[0].price == Decimal("49.90")
    assert fake.store.items[OTHER_GOODS].skus[0].price == Decimal("22.00")
    assert fake.faults.injected[Fault.PARTIAL_BATCH] == 1
