"""Listings read, delist, price and stock through the fake, every call contract-checked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from channelsync_amazon import AmazonChannel
from channelsync_amazon.fake import FakeSellingPartner
from channelsync_amazon.listings import items_path

from channelsync.clock import FakeClock
from channelsync.engine.binding import bind_channel
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.sync import SyncEngine
from channelsync.models import ListingStatus, ListingStatusChange, Money, PriceChange, StockUpdate
from channelsync.store import open_store
from channelsync.testing.fakes import Fault


async def test_reads_every_listing_with_price_and_quantity(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    listings = [listing async for listing in channel.iter_listings()]
    expected = sorted(fake.store.stock_by_merchant_code())
    assert [listing.item_id for listing in listings] == expected
    first = listings[0]
    assert first.merchant_code == first.item_id == "CS-0001-1"
    assert first.price == Money.of("49.90", "USD")
    assert first.quantity == 20
    assert first.status is ListingStatus.ON_SALE
    assert wire.checked["searchListingsItems"] == 1  # 16 listings, 20 a page
    assert wire.checked["lwaToken"] == 1


async def test_single_stock_update_is_a_merge_patch(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    results = await channel.set_stock([StockUpdate(item_id="CS-0001-1", quantity=7)])
    assert [r.ok for r in results] == [True]
    found = fake.store.find_sku("CS-0001-1")
    assert found is not None
    assert found[1].quantity == 7
    # merge kept the handling time that replace would have dropped
    availability = found[1].extra["attributes"]["fulfillment_availability"][0]
    assert availability["lead_time_to_ship_max_days"] == 2
    assert wire.checked["patchListingsItem"] == 1


async def _listings(channel: AmazonChannel) -> list:
    return [listing async for listing in channel.iter_listings()]


def _empty(fake: FakeSellingPartner) -> None:
    fake.store.items.clear()


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (20, 1), (40, 2), (41, 3)])
async def test_listing_pages_empty_exact_multiple_and_last(
    channel: AmazonChannel, fake: FakeSellingPartner, wire, count: int, pages: int
) -> None:
    _empty(fake)
    for index in range(count):
        fake.add_listing(f"SKU-{index:03d}", f"Lamp {index}", Decimal("9.90"), index)
    listings = await _listings(channel)
    assert [listing.item_id for listing in listings] == [f"SKU-{i:03d}" for i in range(count)]
    assert wire.checked["searchListingsItems"] == pages
    if count:
        assert listings[0].status is ListingStatus.DELISTED  # quantity 0: not buyable
        assert listings[0].raw_status == "DISCOVERABLE"


async def test_skus_are_percent_encoded_in_paths(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    fake.add_listing("MY/SKU 1+x", "Odd SKU", Decimal("5.00"), 3)
    results = await channel.set_stock([StockUpdate(item_id="MY/SKU 1+x", quantity=9)])
    assert results[0].ok
    found = fake.store.find_sku("MY/SKU 1+x")
    assert found is not None
    assert found[1].quantity == 9


def test_listing_path_vector_from_the_reference() -> None:
    assert (
        items_path("A1SELLERID", "MY/SKU 1") == "/listings/2021-08-01/items/A1SELLERID/MY%2FSKU%201"
    )


async def test_delist_sets_the_mfn_quantity_to_zero_and_relist_is_refused(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    results = await channel.set_listing_status(
        [
            ListingStatusChange(item_id="CS-0001-1", status=ListingStatus.DELISTED),
            ListingStatusChange(item_id="CS-0001-2", status=ListingStatus.ON_SALE),
        ]
    )
    assert results[0].ok
    assert results[1].error is not None
    assert results[1].error.code == "NO_RELIST"
    found = fake.store.find_sku("CS-0001-1")
    assert found is not None
    assert found[1].quantity == 0
    listing = next(x for x in await _listings(channel) if x.item_id == "CS-0001-1")
    assert listing.status is ListingStatus.DELISTED


async def test_single_price_change_is_a_purchasable_offer_merge(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    found = fake.store.find_sku("CS-0002-1")
    assert found is not None
    found[1].extra["attributes"]["purchasable_offer"] = [
        {
            "marketplace_id": "ATVPDKIKX0DER",
            "currency": "USD",
            "audience": "ALL",
            "minimum_seller_allowed_price": [{"schedule": [{"value_with_tax": 10}]}],
        }
    ]
    results = await channel.set_prices(
        [PriceChange(item_id="CS-0002-1", price=Money.of("24.5", "USD"))]
    )
    assert results[0].ok
    assert found[1].price == Decimal("24.50")
    offer = found[1].extra["attributes"]["purchasable_offer"][0]
    assert "minimum_seller_allowed_price" in offer  # merge kept it
    listing = next(x for x in await _listings(channel) if x.item_id == "CS-0002-1")
    assert listing.price == Money.of("24.50", "USD")


async def test_price_in_the_wrong_currency_is_refused_per_item(
    channel: AmazonChannel, wire
) -> None:
    results = await channel.set_prices(
        [
            PriceChange(item_id="CS-0001-1", price=Money.of("10", "EUR")),
            PriceChange(item_id="CS-0001-2", price=Money.of("10", "USD")),
        ]
    )
    assert results[0].error is not None
    assert results[0].error.code == "CURRENCY_MISMATCH"
    assert results[1].ok
    assert wire.checked["patchListingsItem"] == 1


async def test_a_patch_for_an_unknown_sku_fails_that_sku_only(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    results = await channel.set_stock(
        [StockUpdate(item_id="NOPE", quantity=1), StockUpdate(item_id="CS-0001-1", quantity=2)]
    )
    assert not results[0].ok
    assert results[1].ok


def _updates(fake: FakeSellingPartner, quantity: int) -> list[StockUpdate]:
    """One update per listing; with the extra listings, enough for a feed."""
    while len(fake.store.stock_by_merchant_code()) < 24:
        fake.add_listing(f"EXTRA-{len(fake.store.items)}", "Extra", Decimal("3.00"), 1)
    return [
        StockUpdate(item_id=code, quantity=quantity)
        for code in sorted(fake.store.stock_by_merchant_code())
    ]


async def test_a_large_batch_goes_through_one_listings_feed(
    channel: AmazonChannel, fake: FakeSellingPartner, wire, clock
) -> None:
    updates = _updates(fake, 5)
    assert len(updates) >= channel.limits.feed_threshold
    results = await channel.set_stock(updates)
    assert all(r.ok for r in results)
    assert set(fake.store.stock_by_merchant_code().values()) == {5}
    assert wire.checked["patchListingsItem"] == 0
    assert wire.checked["createFeed"] == 1
    assert wire.checked["uploadFeedDocument"] == 1
    assert wire.checked["downloadFeedDocument"] == 1
    assert wire.checked["getFeed"] >= 2  # polled on the fake clock until DONE
    assert any(s == 30.0 for s in clock.sleeps)


async def test_a_sold_out_listing_is_patched_at_once_beside_the_feed(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    updates = _updates(fake, 5)
    sold_out = {updates[2].item_id, updates[7].item_id}
    updates = [
        StockUpdate(item_id=u.item_id, quantity=0) if u.item_id in sold_out else u for u in updates
    ]
    results = await channel.set_stock(updates)
    assert [r.item_id for r in results] == [u.item_id for u in updates]  # in order
    assert all(r.ok for r in results)
    stock = fake.store.stock_by_merchant_code()
    assert {code: stock[code] for code in sold_out} == dict.fromkeys(sold_out, 0)
    assert {q for code, q in stock.items() if code not in sold_out} == {5}
    # The two zeros by PATCH, the rest still one feed.
    assert wire.checked["patchListingsItem"] == 2
    assert wire.checked["createFeed"] == 1


async def test_a_feed_where_one_sku_fails_applies_the_others(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    fake.gzip_reports = True
    updates = _updates(fake, 4)
    updates.insert(3, StockUpdate(item_id="GHOST-SKU", quantity=4))
    results = await channel.set_stock(updates)
    failed = [r for r in results if not r.ok]
    assert wire.checked["createFeed"] == 1
    assert [r.item_id for r in failed] == ["GHOST-SKU"]
    assert failed[0].error is not None
    assert "GHOST-SKU" in failed[0].error.message
    assert set(fake.store.stock_by_merchant_code().values()) == {4}


async def test_injected_partial_feed_failure(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    fake.faults.force(Fault.PARTIAL_BATCH)
    results = await channel.set_stock(_updates(fake, 3))
    assert [r.ok for r in results].count(False) == 1
    assert not results[0].ok


async def test_prices_in_a_feed(channel: AmazonChannel, fake: FakeSellingPartner, wire) -> None:
    changes = [
        PriceChange(item_id=u.item_id, price=Money.of("11.11", "USD")) for u in _updates(fake, 0)
    ]
    results = await channel.set_prices(changes)
    assert all(r.ok for r in results)
    assert {sku.price for _, sku in fake.store.iter_skus()} == {Decimal("11.11")}
    assert wire.checked["createFeed"] == 1


async def test_feed_submissions_are_paced_to_five_per_five_minutes(
    channel: AmazonChannel, fake: FakeSellingPartner, clock, wire
) -> None:
    fake.queue_seconds = fake.process_seconds = 0.0
    for round_ in range(6):
        # Non-zero quantities: a zero is patched at once, never sent in a feed.
        results = await channel.set_stock(_updates(fake, round_ + 1))
        assert all(r.ok for r in results)
    assert wire.checked["createFeed"] == 6
    bucket = channel.http.rate_limiter.bucket(channel.name, "jsonListingsFeedSubmissions")
    assert bucket.burst == 5
    assert max(clock.sleeps) >= 59.0  # the sixth waited for the window, not for a 429
    assert channel.metrics.throttles(channel.name, "createFeed") == 0


async def test_afn_stock_is_read_from_fba_and_never_written(
    make, fake: FakeSellingPartner, wire
) -> None:
    _empty(fake)
    fake.add_listing("FBA-1", "Amazon keeps it", Decimal("20.00"), 17, afn=True)
    fake.add_listing("FBA-2", "Amazon keeps it", Decimal("20.00"), 0, afn=True)
    async with make(fulfillment="AFN") as channel:
        listings = await _listings(channel)
        assert [(x.item_id, x.quantity) for x in listings] == [("FBA-1", 17), ("FBA-2", 0)]
        assert wire.checked["getInventorySummaries"] == 1
        results = await channel.set_stock([StockUpdate(item_id="FBA-1", quantity=3)])
        delist = await channel.set_listing_status(
            [ListingStatusChange(item_id="FBA-1", status=ListingStatus.DELISTED)]
        )
    for result in (*results, *delist):
        assert result.error is not None
        assert result.error.code == "AFN_READ_ONLY"
        assert "FBA" in result.error.message
    assert wire.checked["patchListingsItem"] == 0
    found = fake.store.find_sku("FBA-1")
    assert found is not None
    assert found[1].quantity == 17


async def test_fake_refuses_setting_merchant_quantity_on_an_fba_sku(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    fake.add_listing("FBA-9", "Amazon keeps it", Decimal("20.00"), 5, afn=True)
    results = await channel.set_stock([StockUpdate(item_id="FBA-9", quantity=1)])
    assert not results[0].ok
    assert results[0].error is not None
    assert results[0].error.code == "8541"


@contextlib.contextmanager
def _engine(
    channel: AmazonChannel, codes: list[str], clock: FakeClock, where: Path
) -> Iterator[SyncEngine]:
    """An engine on a store whose catalogue holds ``codes``, for ``channel`` alone."""
    rows = ["sku,title,price,currency,quantity"]
    rows += [f"{code},Lamp {code},9.90,USD,5" for code in codes]
    store = open_store(f"sqlite:///{where / 'state.db'}")
    try:
        catalogue = parse_catalogue("\n".join(rows) + "\n", "csv")
        import_catalogue(store, catalogue, now=clock.now())
        yield SyncEngine(store, [channel], clock=clock)
    finally:
        store.close()


async def test_a_shop_past_amazons_thousand_item_search_limit_is_bound_whole(
    channel: AmazonChannel, fake: FakeSellingPartner, wire, clock, tmp_path
) -> None:
    _empty(fake)
    codes = [f"SKU-{index:04d}" for index in range(2050)]
    for code in codes:
        fake.add_listing(code, f"Lamp {code}", Decimal("9.90"), 1)
    # The scan alone reaches the first 1,000 (50 pages of 20), as Amazon's model says.
    scanned = await _listings(channel)
    assert len(scanned) == 1000
    assert wire.checked["searchListingsItems"] == 50

    with _engine(channel, codes, clock, tmp_path) as engine:
        report = await bind_channel(engine.context, channel)
        # The rest found by SKU, 20 identifiers a search: 50 scan pages + 53 searches.
        assert wire.checked["searchListingsItems"] == 50 + 50 + 53
        # Reconciling compares every bound listing too, not only the first 1,000.
        checked = await reconcile_channel(engine.context, channel)
    assert report.bound == 2050
    assert report.unlisted == []
    assert checked.compared == 2050
    assert checked.missing == []


async def test_a_complete_scan_asks_nothing_more_for_skus_the_shop_does_not_list(
    channel: AmazonChannel, fake: FakeSellingPartner, wire, clock, tmp_path
) -> None:
    codes = [*sorted(fake.store.stock_by_merchant_code()), "NOT-ON-AMAZON-1", "NOT-ON-AMAZON-2"]
    with _engine(channel, codes, clock, tmp_path) as engine:
        report = await bind_channel(engine.context, channel)
    assert report.unlisted == ["NOT-ON-AMAZON-1", "NOT-ON-AMAZON-2"]
    assert wire.checked["searchListingsItems"] == 1  # the one scan page; no lookup


async def test_the_guard_reads_only_the_listings_with_a_raise_queued(
    channel: AmazonChannel, fake: FakeSellingPartner, wire, clock, tmp_path
) -> None:
    _empty(fake)
    codes = [f"SKU-{index:04d}" for index in range(100)]
    for code in codes:
        fake.add_listing(code, f"Lamp {code}", Decimal("9.90"), 5)
    with _engine(channel, codes, clock, tmp_path) as engine:
        store = engine.store
        await engine.run_cycle()
        clock.advance(3600)
        await engine.run_cycle()  # whatever the first cycle left in flight
        for code in codes[:3]:
            adjust_stock(store, code, 4, key=f"delivery-{code}", now=clock.now())
        clock.advance(60)
        before = wire.checked["searchListingsItems"]
        summary = await engine.run_cycle()
    assert summary.channels[channel.name].errors == []
    # One search by the three SKUs, not the five pages of a scan of the shop.
    assert wire.checked["searchListingsItems"] - before == 1
    for code in codes[:3]:
        found = fake.store.find_sku(code)
        assert found is not None
        assert found[1].quantity == 9


async def test_quantities_and_prices_together_go_in_one_feed_one_message_per_sku(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    stock = _updates(fake, 7)
    prices = [PriceChange(item_id=u.item_id, price=Money.of("12.34", "USD")) for u in stock]
    sold_out = stock[3].item_id
    stock[3] = StockUpdate(item_id=sold_out, quantity=0)
    quantities, amounts = await channel.set_stock_and_prices(stock, prices)
    assert [r.item_id for r in quantities] == [u.item_id for u in stock]
    assert [r.item_id for r in amounts] == [c.item_id for c in prices]
    assert all(r.ok for r in [*quantities, *amounts])
    shown = fake.store.stock_by_merchant_code()
    assert shown.pop(sold_out) == 0
    assert set(shown.values()) == {7}
    assert {sku.price for _, sku in fake.store.iter_skus()} == {Decimal("12.34")}
    # One feed for both kinds (a SKU's quantity and price in one message); the sold-out
    # SKU patched at once, its quantity and price in one PATCH.
    assert wire.checked["createFeed"] == 1
    assert wire.checked["patchListingsItem"] == 1


async def test_a_cycle_sends_quantities_and_prices_in_one_feed(
    channel: AmazonChannel, fake: FakeSellingPartner, wire, clock, tmp_path
) -> None:
    _empty(fake)
    codes = [f"SKU-{index:04d}" for index in range(40)]
    for code in codes:
        fake.add_listing(code, f"Lamp {code}", Decimal("1.00"), 0)
    with _engine(channel, codes, clock, tmp_path) as engine:
        summary = await engine.run_cycle()
    assert summary.channels[channel.name].errors == []
    # Forty new quantities and forty new prices: one submission, not one per kind.
    assert wire.checked["createFeed"] == 1
    assert set(fake.store.stock_by_merchant_code().values()) == {5}
    assert {sku.price for _, sku in fake.store.iter_skus()} == {Decimal("9.90")}


async def test_the_feed_quota_spent_by_one_process_holds_for_the_next(
    make, fake: FakeSellingPartner, wire, clock, tmp_path
) -> None:
    fake.queue_seconds = fake.process_seconds = 0.0
    _empty(fake)
    codes = [f"SKU-{index:04d}" for index in range(30)]
    for code in codes:
        fake.add_listing(code, f"Lamp {code}", Decimal("9.90"), 0)
    # Five runs of `sync --once`, each a process with full buckets of its own, each
    # sending a feed: the marketplace's five-per-five-minutes window is spent.
    for run in range(6):
        async with make() as channel:
            with _engine(channel, codes, clock, tmp_path) as engine:
                if run:
                    for code in codes:
                        adjust_stock(
                            engine.store, code, 1, key=f"run-{run}-{code}", now=clock.now()
                        )
                summary = await engine.run_cycle()
            assert summary.channels[channel.name].errors == []
            assert channel.metrics.throttles(channel.name, "createFeed") == 0
        clock.advance(1)
    # The sixth waited for the window to refill instead of drawing a 429.
    assert wire.checked["createFeed"] == 6
    assert max(clock.sleeps) >= 50.0  # the window's refill, less the runs' seconds
