"""SKU prices: read a goods (or a chosen SKU) at a time, reused by the price writes."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
from channelsync_pinduoduo import PinduoduoChannel
from channelsync_pinduoduo.fake import FakePdd
from channelsync_pinduoduo.prices import PRICE_READ_REUSE, SkuPrices, sku_prices_from_info

from channelsync.clock import FakeClock
from channelsync.errors import DataError, InvalidRequestError
from channelsync.models import Money, PriceChange
from channelsync.testing.fakes import Fault

GOODS = "300000000001"
SKU_A, SKU_B = "800000000001", "800000000002"
OTHER_GOODS, OTHER_SKU = "300000000002", "800000000003"
INFO = "pdd.goods.information.get"
COMMIT = "pdd.goods.sku.price.update"


def _change(goods: str, sku: str, price: str) -> PriceChange:
    return PriceChange(item_id=goods, sku_id=sku, price=Money.of(price, "CNY"))


def _commits(fake: FakePdd) -> list[list[dict[str, int]]]:
    return [json.loads(f["sku_price_list"]) for m, f in fake.received if m == COMMIT]


def test_goods_information_prices_are_yuan_strings_read_exactly() -> None:
    root = {
        "goods_info": {
            "goods_id": 1,
            "sku_list": [
                {"sku_id": 11, "group_price": "19.9", "single_price": "22.90"},
                {"sku_id": 12, "group_price": Decimal("0.01"), "single_price": 3},
            ],
        }
    }
    assert sku_prices_from_info(root, "1") == {
        "11": SkuPrices(group=1990, single=2290),
        "12": SkuPrices(group=1, single=300),
    }
    assert sku_prices_from_info({"goods_info": None}, "1") == {}
    odd = {"goods_info": {"sku_list": [{"sku_id": 1, "group_price": "1.005", "single_price": 2}]}}
    with pytest.raises(DataError, match="whole number of fen"):
        sku_prices_from_info(odd, "1")
    missing = {"goods_info": {"sku_list": [{"sku_id": 1, "group_price": "1.00"}]}}
    with pytest.raises(DataError, match="single_price"):
        sku_prices_from_info(missing, "1")


async def test_the_fake_answers_goods_information_with_yuan_strings(
    channel: PinduoduoChannel,
) -> None:
    async with channel:
        root = await channel.call(INFO, {"goods_id": GOODS})
        with pytest.raises(InvalidRequestError) as caught:
            await channel.call(INFO, {"goods_id": "300000009999"})
    skus = root["goods_info"]["sku_list"]
    assert [(str(s["sku_id"]), s["group_price"], s["single_price"]) for s in skus] == [
        (SKU_A, "49.90", "52.90"),
        (SKU_B, "54.90", "57.90"),
    ]
    assert caught.value.code == "21001"


async def test_a_price_write_after_a_read_by_merchant_code_reads_no_price_again(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    async with channel:
        listings = await channel.find_listings(["CS-0001-1", "CS-0001-2", "CS-0002-1"])
        # The chosen SKUs only, one SKU a call (the guard reads nothing it was not asked).
        assert (fake.calls["pdd.goods.list.get"], fake.calls["pdd.goods.skus.get"]) == (2, 3)
        results = await channel.set_prices(
            [_change(x.item_id, str(x.sku_id), "10.00") for x in listings]
        )
    assert sorted((x.sku_id, x.price) for x in listings) == [
        (SKU_A, Money.of("49.90", "CNY")),
        (SKU_B, Money.of("54.90", "CNY")),
        (OTHER_SKU, Money.of("59.90", "CNY")),
    ]
    assert all(r.ok for r in results)
    assert fake.calls["pdd.goods.skus.get"] == 3
    assert fake.calls[INFO] == 0
    assert fake.calls[COMMIT] == 2


async def test_a_price_write_after_a_scan_reads_no_price_again(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    async with channel:
        listings = [listing async for listing in channel.iter_listings()]
        scanned = Counter(fake.calls)
        changes = [
            PriceChange(item_id=x.item_id, sku_id=x.sku_id, price=Money.of("10.00", "CNY"))
            for x in listings
        ]
        results = await channel.set_prices(changes)
    assert all(r.ok for r in results)
    assert fake.calls[INFO] == scanned[INFO] == 8
    assert fake.calls["pdd.goods.skus.get"] == 0
    assert fake.calls[COMMIT] == 8
    assert all(e["single_price"] == 1300 for commit in _commits(fake) for e in commit)


async def test_a_price_write_without_a_recent_read_reads_each_goods_once(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    changes = [
        _change(GOODS, SKU_A, "19.90"),
        _change(GOODS, SKU_B, "29.90"),
        _change(OTHER_GOODS, OTHER_SKU, "39.90"),
    ]
    async with channel:
        results = await channel.set_prices(changes)
    assert all(r.ok for r in results)
    assert fake.calls[INFO] == 2
    assert fake.calls["pdd.goods.skus.get"] == 0
    assert _commits(fake) == [
        [
            {"sku_id": int(SKU_A), "group_price": 1990, "single_price": 2290},
            {"sku_id": int(SKU_B), "group_price": 2990, "single_price": 3290},
        ],
        [{"sku_id": int(OTHER_SKU), "group_price": 3990, "single_price": 4290}],
    ]


async def test_a_read_older_than_the_reuse_window_is_read_again(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    async with channel:
        [listing async for listing in channel.iter_listings()]
        # Edited by hand on PDD after the scan: the single-buy price now stands 5 yuan above.
        fake.store.items[GOODS].skus[0].extra["single_price"] = Decimal("54.90")
        clock.advance(PRICE_READ_REUSE.total_seconds() + 1)
        results = await channel.set_prices([_change(GOODS, SKU_A, "19.90")])
    assert results[0].ok
    assert fake.calls[INFO] == 8 + 1
    assert _commits(fake) == [[{"sku_id": int(SKU_A), "group_price": 1990, "single_price": 2490}]]


async def test_written_prices_stand_for_a_read_and_a_refused_commit_does_not(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    async with channel:
        first = await channel.set_prices([_change(GOODS, SKU_A, "19.90")])
        again = await channel.set_prices([_change(GOODS, SKU_A, "29.90")])
        assert fake.calls[INFO] == 1
        fake.faults.force(Fault.PARTIAL_BATCH)
        refused = await channel.set_prices([_change(GOODS, SKU_A, "39.90")])
        assert fake.calls[INFO] == 1
        after = await channel.set_prices([_change(GOODS, SKU_A, "49.90")])
    assert [first[0].ok, again[0].ok, refused[0].ok, after[0].ok] == [True, True, False, True]
    # The refused commit's outcome is not taken for granted: the goods is read again.
    assert fake.calls[INFO] == 2
    assert [c[0]["single_price"] for c in _commits(fake)] == [2290, 3290, 4290, 5290]


async def test_a_sku_missing_from_its_goods_is_refused_alone(
    channel: PinduoduoChannel, fake: FakePdd
) -> None:
    changes = [_change(GOODS, "800000009999", "19.90"), _change(GOODS, SKU_B, "29.90")]
    async with channel:
        results = await channel.set_prices(changes)
    assert [r.ok for r in results] == [False, True]
    assert results[0].error is not None
    assert "not in goods" in results[0].error.message
    assert _commits(fake) == [[{"sku_id": int(SKU_B), "group_price": 2990, "single_price": 3290}]]
