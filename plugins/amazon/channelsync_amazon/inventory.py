"""Listings, stock and prices in the home marketplace: the channel's calls for them.

Listings are read with ``searchListingsItems`` (requests and answers in
:mod:`~channelsync_amazon.listings`, FBA quantities from :mod:`~channelsync_amazon.fba`);
delisting, stock and prices are planned by :mod:`~channelsync_amazon.updates` and sent
by :mod:`~channelsync_amazon.writer` (one PATCH per SKU, or one feed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

from channelsync.channels import (
    InventoryCapability,
    ListingLookupCapability,
    ListingsCapability,
    Operation,
    Page,
    PricingCapability,
    StockAndPriceCapability,
    paginate,
)
from channelsync.models import Listing, ListingStatusChange, PriceChange, StockUpdate, UpdateResult
from channelsync_amazon import fba, listings, updates
from channelsync_amazon.feeds import FEED_QUOTA_KEY, FeedSubmitter
from channelsync_amazon.gateway import SpApiGateway
from channelsync_amazon.limits import AMAZON_LIMITS, AmazonLimits
from channelsync_amazon.writer import ListingWriter

__all__ = ["SpApiInventory"]


class SpApiInventory(
    SpApiGateway,
    ListingsCapability,
    InventoryCapability,
    PricingCapability,
    StockAndPriceCapability,
    ListingLookupCapability,
):
    """Reads and delists listings; sets MFN quantities and B2C prices, alone or together."""

    limits: ClassVar[AmazonLimits] = AMAZON_LIMITS

    def _writer(self) -> ListingWriter:
        quota = self.http.rate_limiter.bucket(self.name, FEED_QUOTA_KEY)
        feeds = FeedSubmitter(
            api=self.http,
            plain=self.plain,
            clock=self.clock,
            seller_id=self.settings.seller_id,
            marketplace_id=self.marketplace_id,
            acquire_quota=quota.acquire,
        )
        return ListingWriter(
            self.http,
            seller_id=self.settings.seller_id,
            marketplace_id=self.marketplace_id,
            feeds=feeds,
            feed_threshold=self.limits.feed_threshold,
        )

    # -- listings -------------------------------------------------------------------

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield the listings in the home marketplace, a declared page (20) at a time.

        Amazon pages through 1,000 items of a search at most; when the shop has more,
        the scan is marked capped and :meth:`find_listings` finds the rest by SKU.
        """
        size = self.limits.batch_size(Operation.LIST_LISTINGS)
        self.scan_capped = False

        async def fetch(token: str) -> Page[Listing, str]:
            body = await self.http.request_json(
                "GET",
                listings.items_path(self.settings.seller_id),
                operation="searchListingsItems",
                params=listings.search_params(self.marketplace_id, token or None, page_size=size),
            )
            if not token and listings.number_of_results(body) > listings.SEARCH_LIMIT:
                self.scan_capped = True
            return await self._with_fba(
                listings.parse_search_page(body, self.name, self.marketplace_id)
            )

        async for listing in paginate(fetch, "", what="searchListingsItems pages"):
            yield listing

    async def find_listings(self, merchant_codes: Sequence[str]) -> list[Listing]:
        """Search listings by SKU, 20 identifiers a call."""
        found: list[Listing] = []
        codes = list(dict.fromkeys(merchant_codes))
        for start in range(0, len(codes), listings.IDENTIFIERS_PER_SEARCH):
            batch = codes[start : start + listings.IDENTIFIERS_PER_SEARCH]
            body = await self.http.request_json(
                "GET",
                listings.items_path(self.settings.seller_id),
                operation="searchListingsItems",
                params=listings.sku_search_params(self.marketplace_id, batch),
            )
            page = await self._with_fba(
                listings.parse_search_page(body, self.name, self.marketplace_id)
            )
            found += page.items
        return found

    async def _with_fba(self, page: Page[Listing, str]) -> Page[Listing, str]:
        """For an FBA shop, show each listing's fulfillable units (Amazon's, read not pushed)."""
        if self.settings.fulfillment != "AFN" or not page.items:
            return page
        held = await fba.fulfillable_quantities(
            self.http, self.marketplace_id, [item.item_id for item in page.items]
        )
        items = [
            item.model_copy(update={"quantity": held.get(item.item_id, 0)}) for item in page.items
        ]
        return Page(items, page.next_token)

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """Delist by setting the MFN quantity to 0; relisting is a stock push, not a switch."""
        planned = updates.plan_statuses(batch, self.settings.fulfillment)
        return updates.merge(planned, await self._writer().apply(planned.patches))

    # -- stock and price ------------------------------------------------------------

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Set MFN quantities (PATCH per SKU or one feed); AFN stock is refused per item."""
        planned = updates.plan_stock(batch, self.settings.fulfillment)
        # Sold out: patched at once, never held for a feed's minutes of processing.
        sent = await self._writer().apply(planned.patches, at_once=planned.at_once)
        return updates.merge(planned, sent)

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Set B2C prices in the home marketplace (PATCH per SKU or one feed)."""
        planned = updates.plan_prices(batch, self.marketplace_id)
        return updates.merge(planned, await self._writer().apply(planned.patches))

    async def set_stock_and_prices(
        self, stock: Sequence[StockUpdate], prices: Sequence[PriceChange]
    ) -> tuple[list[UpdateResult], list[UpdateResult]]:
        """Send quantities and prices together: one PATCH per SKU, or one feed for all.

        A SKU whose quantity and price both change gets one message with both patches;
        the feed quota (five per five minutes) is spent once for both kinds.
        """
        quantities = updates.plan_stock(stock, self.settings.fulfillment)
        amounts = updates.plan_prices(prices, self.marketplace_id)
        sent = await self._writer().apply(
            [*quantities.patches, *amounts.patches],
            at_once=[*quantities.at_once, *amounts.at_once],
        )
        split = len(quantities.patches)
        return updates.merge(quantities, sent[:split]), updates.merge(amounts, sent[split:])
