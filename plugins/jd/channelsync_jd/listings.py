"""Listings on JOS: wares and their SKUs read by scan or by merchant code; list and delist.

A scan pages ``searchWare4Valid`` then each page's SKUs (``searchSkuList`` by
``wareId``); a lookup searches SKUs by ``outId`` then reads their wares by id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from channelsync.channels import (
    ListingLookupCapability,
    ListingsCapability,
    Operation,
    Page,
    next_page_number,
    paginate,
)
from channelsync.errors import InvalidRequestError
from channelsync.models import Listing, ListingStatus, ListingStatusChange, UpdateResult
from channelsync_jd.gateway import JosGateway
from channelsync_jd.mapping import WARE_STATUSES, listing_from, record_id
from channelsync_jd.methods import (
    CODES_PER_SKU_SEARCH,
    MAX_WARE_PAGES,
    SEARCH_SKUS,
    SEARCH_WARES,
    SKU_FIELDS,
    UP_OR_DOWN,
    WARE_FIELDS,
    WARE_IDS_PER_SEARCH,
    WARES_PER_SKU_SEARCH,
    numeric,
    page_of,
)
from channelsync_jd.signing import ParamValue

__all__ = ["JosListings"]

logger = logging.getLogger("channelsync.jd")


class JosListings(JosGateway, ListingsCapability, ListingLookupCapability):
    """Reads every listing (one per SKU) or chosen ones by code; lists / delists wares."""

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield one listing per SKU of every ware, paging wares then their SKUs.

        The ware search is reported to answer nothing past page 100: a shop with more
        wares is read that far, the scan is marked capped, and :meth:`find_listings`
        finds the rest by merchant code.
        """
        size = self.limits.batch_size(Operation.LIST_LISTINGS)
        self.scan_capped = False
        page_no: int | None = 1
        while page_no is not None:
            root = await self.call(
                SEARCH_WARES,
                {
                    "wareStatusValue": list(WARE_STATUSES),
                    "field": WARE_FIELDS,
                    "pageNo": page_no,
                    "pageSize": size,
                },
            )
            wares, total = page_of(root, SEARCH_WARES)
            for start in range(0, len(wares), WARES_PER_SKU_SEARCH):
                chunk = wares[start : start + WARES_PER_SKU_SEARCH]
                skus = await self._skus_of([record_id(w.get("wareId"), "wareId") for w in chunk])
                for ware in chunk:
                    for sku in skus.get(record_id(ware.get("wareId"), "wareId"), []):
                        yield listing_from(ware, sku, channel=self.name)
            page_no = next_page_number(page_no, size, len(wares), total)
            if page_no is not None and page_no > MAX_WARE_PAGES:
                logger.warning(
                    "channel %r: the ware search stops after %d pages; %s wares not read",
                    self.name,
                    MAX_WARE_PAGES,
                    "some" if total is None else total - MAX_WARE_PAGES * size,
                )
                self.scan_capped = True
                return

    async def find_listings(self, merchant_codes: Sequence[str]) -> list[Listing]:
        """Read the SKUs with these merchant codes, then their wares, as a scan maps them.

        ``searchSkuList`` filtered by ``outId`` (20 codes a call, paged), then
        ``searchWare4Valid`` by ``wareId`` (20 wares a call) for each ware's title and
        status. A SKU whose ware the ware search does not answer is left out, as a scan
        would leave it. A code with a comma cannot travel in the comma-separated
        ``outId``: such codes are found by a scan of the shop instead.
        """
        codes = list(dict.fromkeys(code for code in merchant_codes if code))
        wanted = set(codes)
        if any("," in code for code in codes):
            return [
                listing async for listing in self.iter_listings() if listing.merchant_code in wanted
            ]
        skus: list[dict[str, Any]] = []
        for start in range(0, len(codes), CODES_PER_SKU_SEARCH):
            batch = codes[start : start + CODES_PER_SKU_SEARCH]
            async for sku in self._sku_rows({"outId": ",".join(batch)}):
                # Only exact codes: how JD matches outId (whole code or part) is not documented.
                if str(sku.get("outerId") or "") in wanted:
                    skus.append(sku)
        wares = await self._wares_by_id(
            list(dict.fromkeys(record_id(sku.get("wareId"), "wareId") for sku in skus))
        )
        found: dict[tuple[str, str | None], Listing] = {}
        for sku in skus:
            ware = wares.get(record_id(sku.get("wareId"), "wareId"))
            if ware is not None:
                listing = listing_from(ware, sku, channel=self.name)
                found.setdefault((listing.item_id, listing.sku_id), listing)
        return list(found.values())

    async def _wares_by_id(self, ware_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the ware records of ``ware_ids`` by id, 20 ids a call (whatever their status)."""
        size = self.limits.batch_size(Operation.LIST_LISTINGS)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ware_ids), WARE_IDS_PER_SEARCH):
            batch = ",".join(ware_ids[start : start + WARE_IDS_PER_SEARCH])

            async def fetch(page_no: int, batch: str = batch) -> Page[dict[str, Any], int]:
                root = await self.call(
                    SEARCH_WARES,
                    {
                        "wareId": batch,
                        "wareStatusValue": list(WARE_STATUSES),
                        "field": WARE_FIELDS,
                        "pageNo": page_no,
                        "pageSize": size,
                    },
                )
                wares, total = page_of(root, SEARCH_WARES)
                return Page(wares, next_page_number(page_no, size, len(wares), total))

            async for ware in paginate(fetch, 1, what=SEARCH_WARES):
                found[record_id(ware.get("wareId"), "wareId")] = ware
        return found

    async def _skus_of(self, ware_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        by_ware: dict[str, list[dict[str, Any]]] = {}
        async for sku in self._sku_rows({"wareId": ",".join(ware_ids)}):
            by_ware.setdefault(record_id(sku.get("wareId"), "wareId"), []).append(sku)
        return by_ware

    async def _sku_rows(self, where: Mapping[str, ParamValue]) -> AsyncIterator[dict[str, Any]]:
        """Yield every SKU record ``searchSkuList`` answers for the filter ``where``, paged."""
        size = self.limits.batch_size(Operation.LIST_LISTINGS)

        async def fetch(page_no: int) -> Page[dict[str, Any], int]:
            root = await self.call(
                SEARCH_SKUS,
                {
                    **where,
                    "field": SKU_FIELDS,
                    "pageNo": page_no,
                    # JD's own casing: pageNo but page_size in this method.
                    "page_size": size,
                },
            )
            rows, total = page_of(root, SEARCH_SKUS)
            return Page(rows, next_page_number(page_no, size, len(rows), total))

        async for sku in paginate(fetch, 1, what=SEARCH_SKUS):
            yield sku

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """List (``opType`` 1) or delist (``opType`` 2) each change's whole ware."""
        results = []
        for change in batch:
            try:
                ware_id = numeric(change.item_id, "ware id")
            except InvalidRequestError as error:
                results.append(UpdateResult.failure(change, error.message))
                continue
            listing = change.status is ListingStatus.ON_SALE
            params: dict[str, ParamValue] = {
                "wareId": ware_id,
                "opType": 1 if listing else 2,
                "note": "channelsync: list" if listing else "channelsync: delist",
            }
            results.append(await self._write_one(change, UP_OR_DOWN, params))
        return results
