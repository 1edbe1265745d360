"""FBA Inventory v1: the stock Amazon holds for Amazon-fulfilled (AFN) listings.

FBA stock belongs to Amazon's warehouses: channelsync reads it and never writes it.
``getInventorySummaries`` takes one marketplace and at most 50 SKUs per call, and its
``nextToken`` lives 30 seconds, so pages are read back to back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from channelsync.channels import Page, paginate
from channelsync.errors import DataError
from channelsync.http import ChannelHttpClient
from channelsync_amazon.wire import as_list, as_object, opt_int, opt_text

__all__ = [
    "MAX_SKUS_PER_CALL",
    "fulfillable_quantities",
    "parse_summaries_page",
    "summaries_params",
]

MAX_SKUS_PER_CALL = 50


def summaries_params(
    marketplace_id: str, skus: Sequence[str], next_token: str | None
) -> dict[str, str]:
    """Return one ``getInventorySummaries`` query for ``skus`` (at most 50)."""
    if len(skus) > MAX_SKUS_PER_CALL:
        raise ValueError(f"at most {MAX_SKUS_PER_CALL} SKUs per call")
    params = {
        "details": "true",
        "granularityType": "Marketplace",
        "granularityId": marketplace_id,
        "marketplaceIds": marketplace_id,
        "sellerSkus": ",".join(skus),
    }
    if next_token:
        params["nextToken"] = next_token
    return params


def parse_summaries_page(body: object) -> Page[tuple[str, int], str]:
    """Read ``(seller SKU, fulfillable quantity)`` pairs and the next token from one page."""
    record = as_object(body, what="getInventorySummaries answer")
    if "payload" not in record:
        raise DataError("getInventorySummaries answer: no 'payload'")
    payload = as_object(record["payload"], what="getInventorySummaries payload")
    found = []
    for entry in as_list(payload.get("inventorySummaries"), what="inventorySummaries"):
        summary: Mapping[str, Any] = as_object(entry, what="inventory summary")
        sku = opt_text(summary, "sellerSku", what="inventory summary")
        if not sku:
            continue
        details = summary.get("inventoryDetails")
        quantity = None
        if details is not None:
            quantity = opt_int(
                as_object(details, what="inventoryDetails"),
                "fulfillableQuantity",
                what=f"inventory summary {sku!r}",
            )
        found.append((sku, quantity or 0))
    token = None
    pagination = record.get("pagination")
    if pagination is not None:
        token = opt_text(as_object(pagination, what="pagination"), "nextToken", what="pagination")
    return Page(found, token or None)


async def fulfillable_quantities(
    client: ChannelHttpClient, marketplace_id: str, skus: Sequence[str]
) -> dict[str, int]:
    """Return the fulfillable FBA quantity of each SKU Amazon reports (absent: none held)."""
    quantities: dict[str, int] = {}
    for start in range(0, len(skus), MAX_SKUS_PER_CALL):
        chunk = skus[start : start + MAX_SKUS_PER_CALL]

        async def fetch(token: str, chunk: Sequence[str] = chunk) -> Page[tuple[str, int], str]:
            body = await client.request_json(
                "GET",
                "/fba/inventory/v1/summaries",
                operation="getInventorySummaries",
                params=summaries_params(marketplace_id, chunk, token or None),
            )
            return parse_summaries_page(body)

        async for sku, quantity in paginate(fetch, "", what="getInventorySummaries pages"):
            quantities[sku] = quantity
    return quantities
