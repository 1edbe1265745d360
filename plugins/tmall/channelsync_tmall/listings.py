"""Listings on TOP: on-sale and in-warehouse items with their SKUs; list and delist.

Item lists page at most 200 per page and fail past a deep-paging threshold, so the
catalogue is read in modified-time slices, each small enough to page through; a
slice holding too many items is halved. SKUs come from ``taobao.item.skus.get``,
40 items per call.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from channelsync.channels import ListingsCapability, Operation, ShownQuantityCapability
from channelsync.clock import CHINA_STANDARD_TIME
from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    DataError,
    NotFoundError,
)
from channelsync.models import Listing, ListingStatus, ListingStatusChange, UpdateResult
from channelsync_tmall.envelope import nested_list
from channelsync_tmall.gateway import TopGateway
from channelsync_tmall.mapping import format_time, listing_from, text_field

__all__ = ["ITEM_FIELDS", "SKU_FIELDS", "TopListings"]

logger = logging.getLogger("channelsync.tmall")

#: Fields ``items.onsale.get`` / ``items.inventory.get`` may return (a subset of its list).
ITEM_FIELDS = "num_iid,title,approve_status,num,price,outer_id,modified"
SKU_FIELDS = "sku_id,num_iid,properties,quantity,price,outer_id,modified"

ONSALE_METHOD = "taobao.items.onsale.get"
INVENTORY_METHOD = "taobao.items.inventory.get"
SKUS_METHOD = "taobao.item.skus.get"

#: Where the first slice of the catalogue starts: before any item could exist.
CATALOGUE_EPOCH = datetime(2003, 5, 1, tzinfo=CHINA_STANDARD_TIME)

_SECOND = timedelta(seconds=1)

#: (method, banner, on sale): every place a shop's items can be.
_ITEM_SOURCES: tuple[tuple[str, str | None, bool], ...] = (
    (ONSALE_METHOD, None, True),
    (INVENTORY_METHOD, None, False),  # TOP's default banner: every item the seller shelved off
    (INVENTORY_METHOD, "sold_out", False),
)


def _whole_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


class TopListings(TopGateway, ListingsCapability, ShownQuantityCapability):
    """Reads every listing (one per SKU), or chosen ones by id; lists / delists whole items.

    TOP reads no listing by merchant code, so the re-inflation guard's look at the
    listings with a raise queued reads them by id: the SKUs of up to 40 items a call
    (``taobao.item.skus.get``), and an item without SKUs with ``taobao.item.seller.get``.
    """

    #: ``page_no * page_size`` TOP answers at most; slices stay under it.
    deep_paging_limit: ClassVar[int] = 20_000
    sku_group_size: ClassVar[int] = 40

    @property
    def item_page_size(self) -> int:
        """Items per page of the item lists: the declared ``LIST_LISTINGS`` size."""
        return self.limits.batch_size(Operation.LIST_LISTINGS)

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield every listing of the shop: on sale, shelved off and sold out."""
        seen: set[str] = set()
        for method, banner, on_sale in _ITEM_SOURCES:
            group: list[dict[str, Any]] = []
            async for item in self._iter_items(method, banner):
                item_id = text_field(item, "num_iid", required=True) or ""
                if item_id in seen:
                    continue  # an item on a slice boundary is answered twice
                seen.add(item_id)
                group.append(item)
                if len(group) == self.sku_group_size:
                    for listing in await self._listings_of(group, on_sale=on_sale):
                        yield listing
                    group = []
            if group:
                for listing in await self._listings_of(group, on_sale=on_sale):
                    yield listing

    async def _listings_of(self, items: list[dict[str, Any]], *, on_sale: bool) -> list[Listing]:
        skus = await self.skus_of([text_field(item, "num_iid") or "" for item in items])
        listings = []
        for item in items:
            item_skus = skus.get(text_field(item, "num_iid") or "", [])
            if not item_skus:
                listings.append(listing_from(self.name, item, None, on_sale=on_sale))
            listings.extend(
                listing_from(self.name, item, sku, on_sale=on_sale) for sku in item_skus
            )
        return listings

    async def skus_of(self, item_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Return the SKU records of ``item_ids``, by item id (40 items per call)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(item_ids), self.sku_group_size):
            group = item_ids[start : start + self.sku_group_size]
            root = await self.call(SKUS_METHOD, {"num_iids": ",".join(group), "fields": SKU_FIELDS})
            for sku in nested_list(root, "skus", "sku", operation=SKUS_METHOD):
                item_id = text_field(sku, "num_iid")
                if item_id is None:
                    raise DataError("a SKU came without num_iid", operation=SKUS_METHOD)
                found.setdefault(item_id, []).append(sku)
        return found

    async def shown_quantities(
        self, listings: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str], int]:
        """Return the quantity each chosen SKU (or item without SKUs) shows, by its ids."""
        item_ids = list(dict.fromkeys(item_id for item_id, _ in listings))
        skus = await self.skus_of(item_ids)
        shown: dict[tuple[str, str], int] = {}
        for item_id, records in skus.items():
            for sku in records:
                quantity = sku.get("quantity")
                sku_id = text_field(sku, "sku_id")
                if sku_id is not None and isinstance(quantity, int):
                    shown[(item_id, sku_id)] = max(0, quantity)
        for item_id in {i for i, sku_id in listings if not sku_id and i not in skus}:
            try:
                root = await self.call(
                    "taobao.item.seller.get", {"num_iid": item_id, "fields": "num_iid,num"}
                )
            except NotFoundError:
                continue  # deleted since: the shop no longer shows it
            item = root.get("item")
            num = item.get("num") if isinstance(item, dict) else None
            if isinstance(num, bool) or not isinstance(num, int):
                raise DataError("taobao.item.seller.get: the item has no num", operation="listing")
            shown[(item_id, "")] = max(0, num)
        return shown

    async def _item_page(
        self, method: str, banner: str | None, start: datetime, end: datetime, page_no: int
    ) -> tuple[list[dict[str, Any]], int]:
        root = await self.call(
            method,
            {
                "fields": ITEM_FIELDS,
                "start_modified": format_time(start),
                "end_modified": format_time(end),
                "order_by": "modified:asc",
                "page_no": page_no,
                "page_size": self.item_page_size,
                "banner": banner,
            },
        )
        total = root.get("total_results", 0)
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise DataError(f"{method}: total_results {total!r} is not a count", operation=method)
        return nested_list(root, "items", "item", operation=method), total

    async def _iter_items(self, method: str, banner: str | None) -> AsyncIterator[dict[str, Any]]:
        """Yield every item of one list, slicing by modified time under the paging guard.

        Slices are inclusive whole seconds, ``[start, end]``; a slice holding more items
        than the guard allows is halved until it fits.
        """
        slices = [(_whole_second(CATALOGUE_EPOCH), _whole_second(self.clock.now()) + _SECOND)]
        max_pages = max(1, self.deep_paging_limit // self.item_page_size)
        while slices:
            start, end = slices.pop()
            items, total = await self._item_page(method, banner, start, end, 1)
            if total > max_pages * self.item_page_size and end > start:
                middle = start + timedelta(seconds=(end - start).total_seconds() // 2)
                slices.append((middle + _SECOND, end))
                slices.append((start, middle))
                continue
            pages = max(1, math.ceil(total / self.item_page_size))
            if pages > max_pages:
                logger.warning(
                    "%s: %d items changed within one second; reading the first %d",
                    method,
                    total,
                    max_pages * self.item_page_size,
                    extra={"channel": self.name},
                )
                pages = max_pages
            for item in items:
                yield item
            for page_no in range(2, pages + 1):
                more, _ = await self._item_page(method, banner, start, end, page_no)
                if not more:
                    break
                for item in more:
                    yield item

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """List (上架) or delist (下架) each change's whole item."""
        results = []
        for change in batch:
            try:
                if change.status is ListingStatus.ON_SALE:
                    await self._list_item(change.item_id)
                else:
                    await self.call("taobao.item.update.delisting", {"num_iid": change.item_id})
            except (AuthenticationError, AuthorizationError):
                raise
            except ChannelError as error:
                results.append(
                    UpdateResult.failure(
                        change, error.message, code=error.code, retryable=error.retryable
                    )
                )
                continue
            results.append(UpdateResult.success(change))
        return results

    async def _list_item(self, item_id: str) -> None:
        # ``num`` is the quantity to list; TOP ignores it for items with SKUs, so the
        # item's current quantity is sent back unchanged.
        root = await self.call(
            "taobao.item.seller.get", {"num_iid": item_id, "fields": "num_iid,num,approve_status"}
        )
        item = root.get("item")
        num = item.get("num") if isinstance(item, dict) else None
        if isinstance(num, bool) or not isinstance(num, int):
            raise DataError("taobao.item.seller.get: the item has no num", operation="listing")
        await self.call("taobao.item.update.listing", {"num_iid": item_id, "num": num})
