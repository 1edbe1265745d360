"""The fake's operation handlers, one per SP-API operation id, plus LWA and S3.

Each SP-API handler returns ``(status, body)`` or raises
:class:`~channelsync_amazon.fake.wire.FakeRequestError`; the marketplace adds the
envelope, request id and rate-limit header. Handlers are named after Amazon's
operation ids so the dispatch is a lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from channelsync.testing.fakes import PageKind
from channelsync_amazon.fake import orders, orders_v2026
from channelsync_amazon.fake.catalogue import apply_patches, is_afn, issue, render_item
from channelsync_amazon.fake.feeds import FakeFeed, advance
from channelsync_amazon.fake.wire import (
    FakeRequestError,
    iso,
    parse_iso,
    read_json,
)

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

Answer = tuple[int, object]

_INCLUDED = frozenset(
    {
        "summaries",
        "attributes",
        "issues",
        "offers",
        "fulfillmentAvailability",
        "procurement",
        "relationships",
        "productTypes",
    }
)
_FBA_PAGE = 50
_FBA_TOKEN_LIFETIME = 30.0


# -- Listings Items -------------------------------------------------------------------


def _seller(fake: FakeSellingPartner, seller_id: str) -> None:
    if seller_id != fake.seller_id:
        raise FakeRequestError(403, "Unauthorized", "Access to requested resource is denied.")


def _marketplaces(fake: FakeSellingPartner, params: Mapping[str, str], name: str) -> list[str]:
    ids = [m for m in params.get(name, "").split(",") if m]
    if not ids:
        raise FakeRequestError(400, "InvalidInput", f"{name} is required")
    if any(m not in fake.marketplace_ids for m in ids):
        raise FakeRequestError(400, "InvalidInput", f"{name} names an unknown marketplace")
    return ids


def _included(params: Mapping[str, str], default: str = "summaries") -> frozenset[str]:
    wanted = frozenset(p for p in params.get("includedData", default).split(",") if p)
    if wanted - _INCLUDED:
        raise FakeRequestError(400, "InvalidInput", "includedData has an unknown value")
    return wanted


def _render(fake: FakeSellingPartner, sku_id: str, included: frozenset[str]) -> dict[str, Any]:
    found = fake.store.find_sku(sku_id)
    if found is None:
        raise FakeRequestError(404, "NotFound", f"SKU {sku_id} not found")
    item, sku = found
    return render_item(
        item,
        sku,
        marketplace_id=fake.marketplace_id,
        currency=fake.currency,
        included=included,
        region_channel=fake.region_channel,
    )


#: The most items ``searchListingsItems`` pages through for one search.
SEARCH_LIMIT = 1000


def _identifiers(params: Mapping[str, str]) -> frozenset[str] | None:
    """Return the SKUs an ``identifiers`` search names (the fake serves type SKU only)."""
    given, kind = params.get("identifiers"), params.get("identifiersType")
    if given is None and kind is None:
        return None
    if not given or not kind:
        raise FakeRequestError(
            400, "InvalidInput", "identifiers and identifiersType must be given together"
        )
    if kind != "SKU":
        raise FakeRequestError(400, "InvalidInput", "the fake searches by identifiersType SKU only")
    values = [v for v in given.split(",") if v]
    if len(values) > 20:
        raise FakeRequestError(400, "InvalidInput", "identifiers takes at most 20 values")
    return frozenset(values)


def searchListingsItems(
    fake: FakeSellingPartner, request: httpx.Request, seller_id: str, *, partial_failure: bool
) -> Answer:
    """Page through the seller's listings."""
    params = fake.params(request)
    _seller(fake, seller_id)
    _marketplaces(fake, params, "marketplaceIds")
    included = _included(params)
    token = params.get("pageToken")
    if token is not None:
        state = fake.listing_tokens.get(token)
        if state is None:
            raise FakeRequestError(400, "InvalidInput", "Invalid pageToken")
        skus, offset, size = state
    else:
        try:
            size = int(params.get("pageSize", "10"))
        except ValueError:
            size = 0
        most = fake.page_size_limit(20)
        if not 1 <= size <= most:
            raise FakeRequestError(400, "InvalidInput", f"pageSize must be 1 to {most}")
        sort_by = params.get("sortBy", "lastUpdatedDate")
        descending = params.get("sortOrder", "DESC") == "DESC"
        pairs = list(fake.store.iter_skus())
        wanted = _identifiers(params)
        if wanted is not None:
            pairs = [p for p in pairs if p[1].sku_id in wanted]
        if sort_by == "sku":
            pairs.sort(key=lambda p: p[1].sku_id, reverse=descending)
        elif sort_by in ("createdDate", "lastUpdatedDate"):
            pairs.sort(
                key=lambda p: p[0].created if sort_by == "createdDate" else p[0].modified,
                reverse=descending,
            )
        else:
            raise FakeRequestError(
                400, "InvalidInput", "sortBy must be sku, createdDate or lastUpdatedDate"
            )
        skus, offset = [s.sku_id for _, s in pairs], 0
    page = skus[offset : offset + size]
    body: dict[str, Any] = {
        "numberOfResults": len(skus),
        "items": [_render(fake, s, included) for s in page if fake.store.find_sku(s)],
    }
    # The model: at most 1,000 items can be returned and paged through, whatever was found.
    if offset + size < min(len(skus), SEARCH_LIMIT):
        next_token = fake.token("listings")
        fake.listing_tokens[next_token] = (skus, offset + size, size)
        body["pagination"] = {"nextToken": next_token}
    fake.page_served(PageKind.LISTINGS, "searchListingsItems", page)
    return 200, body


def getListingsItem(
    fake: FakeSellingPartner,
    request: httpx.Request,
    seller_id: str,
    sku: str,
    *,
    partial_failure: bool,
) -> Answer:
    """Return one listing."""
    params = fake.params(request)
    _seller(fake, seller_id)
    _marketplaces(fake, params, "marketplaceIds")
    return 200, _render(fake, sku, _included(params))


def patchListingsItem(
    fake: FakeSellingPartner,
    request: httpx.Request,
    seller_id: str,
    sku: str,
    *,
    partial_failure: bool,
) -> Answer:
    """Apply JSON Patch operations to one listing."""
    params = fake.params(request)
    _seller(fake, seller_id)
    _marketplaces(fake, params, "marketplaceIds")
    body = read_json(request)
    if not isinstance(body, dict) or "productType" not in body or "patches" not in body:
        raise FakeRequestError(400, "InvalidInput", "productType and patches are required")
    preview = params.get("mode") == "VALIDATION_PREVIEW"
    found = fake.store.find_sku(sku)
    if found is None:
        problems = [issue("100004", f"SKU {sku} does not exist for this seller")]
    else:
        problems = apply_patches(
            found[1],
            body["productType"],
            body["patches"],
            marketplace_id=fake.marketplace_id,
            currency=fake.currency,
            now=fake.clock.now(),
            validate_only=preview,
        )
    status = "INVALID" if problems else "VALID" if preview else "ACCEPTED"
    return 200, {
        "sku": sku,
        "status": status,
        "submissionId": fake.token("submission"),
        "issues": problems,
    }


def deleteListingsItem(
    fake: FakeSellingPartner,
    request: httpx.Request,
    seller_id: str,
    sku: str,
    *,
    partial_failure: bool,
) -> Answer:
    """Delete one listing."""
    params = fake.params(request)
    _seller(fake, seller_id)
    if len(_marketplaces(fake, params, "marketplaceIds")) > 1:
        raise FakeRequestError(400, "InvalidInput", "marketplaceIds takes one marketplace")
    found = fake.store.find_sku(sku)
    if found is None:
        raise FakeRequestError(400, "InvalidInput", f"SKU {sku} does not exist for this seller")
    found[0].skus.remove(found[1])
    return 200, {
        "sku": sku,
        "status": "ACCEPTED",
        "submissionId": fake.token("submission"),
        "issues": [],
    }


# -- Feeds ----------------------------------------------------------------------------


def createFeedDocument(
    fake: FakeSellingPartner, request: httpx.Request, *, partial_failure: bool
) -> Answer:
    """Create a feed document and its pre-signed upload URL."""
    body = read_json(request)
    content_type = body.get("contentType") if isinstance(body, dict) else None
    if not isinstance(content_type, str) or not content_type:
        raise FakeRequestError(400, "InvalidInput", "contentType is required")
    document = fake.new_document(content_type)
    return 201, {
        "feedDocumentId": document.document_id,
        "url": fake.document_url(document, upload=True),
    }


def getFeedDocument(
    fake: FakeSellingPartner, request: httpx.Request, document_id: str, *, partial_failure: bool
) -> Answer:
    """Return where to download a document."""
    document = fake.documents.get(document_id)
    if document is None:
        raise FakeRequestError(404, "NotFound", f"Feed document {document_id} not found")
    body: dict[str, Any] = {
        "feedDocumentId": document_id,
        "url": fake.document_url(document, upload=False),
    }
    if document.gzip:
        body["compressionAlgorithm"] = "GZIP"
    return 200, body


def createFeed(
    fake: FakeSellingPartner, request: httpx.Request, *, partial_failure: bool
) -> Answer:
    """Submit a feed whose document was uploaded."""
    body = read_json(request)
    if not isinstance(body, dict):
        raise FakeRequestError(400, "InvalidInput", "request body must be an object")
    feed_type = body.get("feedType")
    marketplaces = body.get("marketplaceIds")
    document_id = body.get("inputFeedDocumentId")
    if not isinstance(feed_type, str) or not isinstance(document_id, str):
        raise FakeRequestError(400, "InvalidInput", "feedType and inputFeedDocumentId are required")
    if not isinstance(marketplaces, list) or not 1 <= len(marketplaces) <= 25:
        raise FakeRequestError(400, "InvalidInput", "marketplaceIds: 1 to 25 ids are required")
    if any(m not in fake.marketplace_ids for m in marketplaces):
        raise FakeRequestError(400, "InvalidInput", "marketplaceIds names an unknown marketplace")
    document = fake.documents.get(document_id)
    if document is None or fake.document_expired(document):
        raise FakeRequestError(400, "InvalidInput", "inputFeedDocumentId is unknown or expired")
    if feed_type == "JSON_LISTINGS_FEED" and fake.quota_spent(
        "JSON_LISTINGS_FEED", fake.feed_quota
    ):
        raise FakeRequestError(
            429, "QuotaExceeded", "You exceeded your quota for the requested resource."
        )
    feed = FakeFeed(
        feed_id=f"{fake._rng.randint(10**10, 10**11 - 1)}",
        feed_type=feed_type,
        marketplace_ids=list(marketplaces),
        document_id=document_id,
        created=fake.clock.now(),
        partial_failure=partial_failure,
    )
    if feed_type != "JSON_LISTINGS_FEED":
        # Legacy listings feeds are no longer processed (reference §6.3).
        feed.status = "FATAL"
    fake.feeds[feed.feed_id] = feed
    return 202, {"feedId": feed.feed_id}


def getFeed(
    fake: FakeSellingPartner, request: httpx.Request, feed_id: str, *, partial_failure: bool
) -> Answer:
    """Return a feed's processing status."""
    feed = fake.feeds.get(feed_id)
    if feed is None:
        raise FakeRequestError(404, "NotFound", f"Feed {feed_id} not found")
    advance(fake, feed)
    body: dict[str, Any] = {
        "feedId": feed.feed_id,
        "feedType": feed.feed_type,
        "marketplaceIds": feed.marketplace_ids,
        "createdTime": iso(feed.created),
        "processingStatus": feed.status,
    }
    if feed.started is not None:
        body["processingStartTime"] = iso(feed.started)
    if feed.ended is not None:
        body["processingEndTime"] = iso(feed.ended)
    if feed.result_document_id is not None:
        body["resultFeedDocumentId"] = feed.result_document_id
    return 200, body


# -- Orders ---------------------------------------------------------------------------


def getOrders(fake: FakeSellingPartner, request: httpx.Request, *, partial_failure: bool) -> Answer:
    """List orders by created or last-updated time."""
    return 200, orders.get_orders(fake, fake.params(request))


def getOrder(
    fake: FakeSellingPartner, request: httpx.Request, order_id: str, *, partial_failure: bool
) -> Answer:
    """Return one order."""
    return 200, orders.get_order(fake, order_id)


def getOrderItems(
    fake: FakeSellingPartner, request: httpx.Request, order_id: str, *, partial_failure: bool
) -> Answer:
    """Return one order's items."""
    return 200, orders.get_order_items(fake, order_id, fake.params(request))


def searchOrders(
    fake: FakeSellingPartner, request: httpx.Request, *, partial_failure: bool
) -> Answer:
    """List orders with their items (Orders API v2026-01-01)."""
    return 200, orders_v2026.search_orders(fake, fake.params(request))


def getOrder2026(
    fake: FakeSellingPartner, request: httpx.Request, order_id: str, *, partial_failure: bool
) -> Answer:
    """Return one order with its items (Orders API v2026-01-01 ``getOrder``)."""
    return 200, orders_v2026.get_order(fake, order_id, fake.params(request))


def confirmShipment(
    fake: FakeSellingPartner, request: httpx.Request, order_id: str, *, partial_failure: bool
) -> Answer:
    """Confirm a merchant-fulfilled shipment; 204 No Content."""
    orders.confirm_shipment(fake, order_id, request)
    return 204, None


# -- FBA inventory --------------------------------------------------------------------


def _summary(fake: FakeSellingPartner, sku_id: str) -> dict[str, Any]:
    found = fake.store.find_sku(sku_id)
    assert found is not None
    item, sku = found
    return {
        "asin": sku.extra["asin"],
        "fnSku": sku.extra["fnsku"],
        "sellerSku": sku.sku_id,
        "condition": "NewItem",
        "inventoryDetails": {
            "fulfillableQuantity": sku.quantity,
            "inboundWorkingQuantity": 0,
            "inboundShippedQuantity": 0,
            "inboundReceivingQuantity": 0,
            "reservedQuantity": {"totalReservedQuantity": 0},
        },
        "lastUpdatedTime": iso(sku.extra.get("updated", item.modified)),
        "productName": item.title,
        "totalQuantity": sku.quantity,
    }


def getInventorySummaries(
    fake: FakeSellingPartner, request: httpx.Request, *, partial_failure: bool
) -> Answer:
    """Return FBA inventory summaries of one marketplace."""
    params = fake.params(request)
    marketplaces = _marketplaces(fake, params, "marketplaceIds")
    if len(marketplaces) != 1:
        raise FakeRequestError(400, "InvalidInput", "marketplaceIds takes exactly one marketplace")
    if (
        params.get("granularityType") != "Marketplace"
        or params.get("granularityId") != marketplaces[0]
    ):
        raise FakeRequestError(400, "InvalidInput", "granularityType/granularityId are invalid")
    token = params.get("nextToken")
    if token is not None:
        state = fake.inventory_tokens.pop(token, None)
        if state is None or fake.clock.monotonic() > state[2]:
            raise FakeRequestError(400, "InvalidInput", "nextToken is invalid or expired")
        skus, offset = state[0], state[1]
    else:
        wanted = [s for s in params.get("sellerSkus", "").split(",") if s]
        if len(wanted) > 50:
            raise FakeRequestError(400, "InvalidInput", "sellerSkus takes at most 50 SKUs")
        fba = [sku for _, sku in fake.store.iter_skus() if is_afn(sku)]
        if "startDateTime" in params:
            since = parse_iso(params["startDateTime"], "startDateTime")
            skus = [s.sku_id for s in fba if s.extra.get("updated", since) >= since]
        elif wanted:
            skus = [s.sku_id for s in fba if s.sku_id in wanted]
        else:
            skus = [s.sku_id for s in fba]
        offset = 0
    body: dict[str, Any] = {
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": marketplaces[0]},
            "inventorySummaries": [_summary(fake, s) for s in skus[offset : offset + _FBA_PAGE]],
        }
    }
    if offset + _FBA_PAGE < len(skus):
        next_token = fake.token("fba")
        fake.inventory_tokens[next_token] = (
            skus,
            offset + _FBA_PAGE,
            fake.clock.monotonic() + _FBA_TOKEN_LIFETIME,
        )
        body["pagination"] = {"nextToken": next_token}
    return 200, body
