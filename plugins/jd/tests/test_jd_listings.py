from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from channelsync_jd import JdChannel, JdSettings
from channelsync_jd.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeJos

from channelsync.channels import ChannelLimits, Operation
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import InvalidRequestError
from channelsync.models import (
    ListingStatus,
    ListingStatusChange,
    Money,
    PriceChange,
    StockUpdate,
    StockUpdateMode,
)
from channelsync.testing.fakes import demo_catalogue


def _paged(size: int) -> type[JdChannel]:
    limits = JdChannel.limits.model_copy(
        update={"batch_sizes": {**JdChannel.limits.batch_sizes, Operation.LIST_LISTINGS: size}}
    )
    assert isinstance(limits, ChannelLimits)
    return type(f"Paged{size}", (JdChannel,), {"limits": limits})


async def test_lists_every_sku_with_merchant_code_price_and_stock(channel: JdChannel) -> None:
    listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == 16
    first = listings[0]
    assert first.merchant_code == "CS-0001-1"
    assert first.price == Money.of("49.90", "CNY")
    assert isinstance(first.price.amount, Decimal)
    assert first.quantity == 20
    assert first.status is ListingStatus.ON_SALE
    assert first.raw_status == "wareStatus=8;status=1"
    assert first.updated_at is not None
    assert first.updated_at.tzinfo is not None
    assert len({listing.item_id for listing in listings}) == 8


@pytest.mark.parametrize(("page_size", "ware_pages"), [(4, 2), (3, 3), (8, 1), (50, 1)])
async def test_ware_paging_edges(
    fake: FakeJos, make: Callable[..., JdChannel], page_size: int, ware_pages: int
) -> None:
    async with make(_paged(page_size)) as channel:
        listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == 16
    assert len({listing.key for listing in listings}) == 16
    assert fake.calls["jingdong.ware.read.searchWare4Valid"] == ware_pages


async def test_sku_pages_are_followed(fake: FakeJos, make: Callable[..., JdChannel]) -> None:
    async with make(_paged(3)) as channel:
        listings = [listing async for listing in channel.iter_listings()]
    # Three wares a page have six SKUs: two SKU pages of three for each full ware page.
    assert len(listings) == 16
    sent = [params for method, params in fake.received if method.endswith("searchSkuList")]
    assert all(params["page_size"] == 3 and "pageNo" in params for params in sent)
    assert len(sent) == 6


async def test_empty_shop(clock: FakeClock, backend: MemorySecretBackend) -> None:
    empty = FakeJos(
        clock=clock,
        app_key=str(DEMO_SETTINGS["app_key"]),
        app_secret=DEMO_CREDENTIALS["app_secret"],
        access_token=DEMO_CREDENTIALS["access_token"],
    )
    store = CredentialStore(backend=backend, environ={})
    settings = JdSettings(**DEMO_SETTINGS, base_url="http://jos.fake.test/routerjson")
    creds = store.for_channel("jd-shop")
    async with JdChannel(
        "jd-shop", settings, creds, transport=empty.transport(), clock=clock
    ) as channel:
        assert [listing async for listing in channel.iter_listings()] == []
    assert empty.calls["jingdong.sku.read.searchSkuList"] == 0


async def test_the_fake_refuses_ware_pages_over_fifty(make: Callable[..., JdChannel]) -> None:
    async with make(_paged(60)) as channel:
        with pytest.raises(InvalidRequestError):
            _ = [listing async for listing in channel.iter_listings()]


async def test_delist_acts_on_the_whole_ware(channel: JdChannel, fake: FakeJos) -> None:
    ware = next(iter(fake.store.items.values()))
    sku = ware.skus[0]
    results = await channel.set_listing_status(
        [
            ListingStatusChange(
                item_id=ware.item_id, sku_id=sku.sku_id, status=ListingStatus.DELISTED
            ),
            ListingStatusChange(item_id="999999999", status=ListingStatus.ON_SALE),
            ListingStatusChange(item_id="not-a-ware", status=ListingStatus.ON_SALE),
        ]
    )
    assert [result.ok for result in results] == [True, False, False]
    assert results[1].error is not None
    assert "not exist" in results[1].error.message
    assert not ware.on_sale
    assert fake.received[0] == (
        "jingdong.ware.write.upOrDown",
        {"note": "channelsync: delist", "opType": 2, "wareId": int(ware.item_id)},
    )
    listings = [x async for x in channel.iter_listings() if x.item_id == ware.item_id]
    assert {x.status for x in listings} == {ListingStatus.DELISTED}
    assert len(listings) == 2
    relisted = await channel.set_listing_status(
        [ListingStatusChange(item_id=ware.item_id, status=ListingStatus.ON_SALE)]
    )
    assert relisted[0].ok
    assert ware.on_sale


async def test_stock_one_sku_per_call_and_one_failure_does_not_stop_the_rest(
    channel: JdChannel, fake: FakeJos
) -> None:
    (_, first), (_, second) = list(fake.store.iter_skus())[:2]
    updates = [
        StockUpdate(item_id="1", sku_id=first.sku_id, quantity=7),
        StockUpdate(item_id="1", sku_id="123456789", merchant_code="GHOST", quantity=3),
        StockUpdate(item_id="1", sku_id=second.sku_id, quantity=0),
        StockUpdate(item_id="1", sku_id=second.sku_id, quantity=-1, mode=StockUpdateMode.DELTA),
    ]
    results = await channel.set_stock(updates)
    assert [result.ok for result in results] == [True, False, True, False]
    assert first.quantity == 7
    assert second.quantity == 0
    assert results[1].merchant_code == "GHOST"
    assert fake.calls["jingdong.stock.write.updateSkuStock"] == 3
    assert ("jingdong.stock.write.updateSkuStock", {"skuId": int(first.sku_id), "stockNum": 7}) in (
        fake.received
    )


async def test_price_in_exact_yuan(channel: JdChannel, fake: FakeJos) -> None:
    (_, sku), (_, other) = list(fake.store.iter_skus())[:2]
    results = await channel.set_prices(
        [
            PriceChange(item_id="1", sku_id=sku.sku_id, price=Money.of("59.9", "CNY")),
            PriceChange(item_id="1", sku_id=other.sku_id, price=Money.of("9.999", "CNY")),
            PriceChange(item_id="1", sku_id=other.sku_id, price=Money.of("9.99", "USD")),
            PriceChange(item_id="1", sku_id="404404", price=Money.of("1", "CNY")),
        ]
    )
    assert [result.ok for result in results] == [True, False, False, False]
    assert sku.price == Decimal("59.90")
    assert other.price == demo_catalogue()[0].skus[1].price
    method, params = fake.received[0]
    assert method == "jingdong.price.write.updateSkuJdPrice"
    assert params == {"jdPrice": Decimal("59.90"), "skuId": int(sku.sku_id)}
