"""Listings Items API 2021-08-01: reading the catalogue and patching price and quantity.

Requests and answers only; the channel sends them. A listing is addressed by the
seller SKU, which is also the merchant code channelsync binds on, so a
:class:`~channelsync.models.Listing` has ``item_id`` = ``merchant_code`` = seller SKU.
Price and quantity are written with JSON Patch ``merge`` so that only the given
fields change: ``replace`` would drop the rest of the attribute (handling time,
restock date, business prices).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from channelsync.channels import Page
from channelsync.errors import DataError
from channelsync.models import Listing, ListingStatus, Money
from channelsync_amazon.wire import (
    as_list,
    as_object,
    opt_int,
    opt_text,
    parse_money,
    parse_time,
    require_text,
    sku_path,
)

__all__ = [
    "IDENTIFIERS_PER_SEARCH",
    "LISTINGS_PAGE_SIZE",
    "MFN_CHANNEL",
    "PRODUCT_TYPE",
    "SEARCH_LIMIT",
    "SubmissionOutcome",
    "fulfillment_patch",
    "items_path",
    "number_of_results",
    "parse_listing",
    "parse_search_page",
    "parse_submission",
    "patch_body",
    "price_patch",
    "search_params",
    "sku_search_params",
]

#: The largest page ``searchListingsItems`` serves.
LISTINGS_PAGE_SIZE = 20
#: The most items one ``searchListingsItems`` search pages through (the official model).
SEARCH_LIMIT = 1000
#: The most identifiers one ``searchListingsItems`` call takes.
IDENTIFIERS_PER_SEARCH = 20
#: The fulfilment channel code of merchant-fulfilled stock.
MFN_CHANNEL = "DEFAULT"
#: The generic product type accepted for offer-only (price, quantity) updates.
PRODUCT_TYPE = "PRODUCT"
_INCLUDED = "summaries,offers,fulfillmentAvailability"


def items_path(seller_id: str, sku: str | None = None) -> str:
    """Return ``/listings/2021-08-01/items/{sellerId}[/{sku}]`` with the SKU percent-encoded."""
    base = f"/listings/2021-08-01/items/{sku_path(seller_id)}"
    return base if sku is None else f"{base}/{sku_path(sku)}"


def search_params(
    marketplace_id: str, page_token: str | None, *, page_size: int = LISTINGS_PAGE_SIZE
) -> dict[str, str]:
    """Return the query of one ``searchListingsItems`` page, sorted by SKU for stable paging."""
    params = {
        "marketplaceIds": marketplace_id,
        "includedData": _INCLUDED,
        "pageSize": str(page_size),
        "sortBy": "sku",
        "sortOrder": "ASC",
    }
    if page_token:
        params["pageToken"] = page_token
    return params


def sku_search_params(marketplace_id: str, skus: Sequence[str]) -> dict[str, str]:
    """Return the query of a ``searchListingsItems`` call for up to 20 SKUs."""
    if not 1 <= len(skus) <= IDENTIFIERS_PER_SEARCH:
        raise ValueError(f"a search takes 1 to {IDENTIFIERS_PER_SEARCH} SKUs, not {len(skus)}")
    return {
        "marketplaceIds": marketplace_id,
        "includedData": _INCLUDED,
        "identifiers": ",".join(skus),
        "identifiersType": "SKU",
        "pageSize": str(IDENTIFIERS_PER_SEARCH),
    }


def number_of_results(body: object) -> int:
    """Return a search answer's ``numberOfResults`` (0 when absent)."""
    value = as_object(body, what="searchListingsItems answer").get("numberOfResults", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"searchListingsItems answer: numberOfResults {value!r} is not a count")
    return value


def parse_search_page(body: object, channel: str, marketplace_id: str) -> Page[Listing, str]:
    """Read one ``ItemSearchResults`` page into listings and the next page token."""
    record = as_object(body, what="searchListingsItems answer")
    if "items" not in record:
        raise DataError("searchListingsItems answer: field 'items' is missing")
    items = as_list(record.get("items"), what="searchListingsItems items")
    listings = [parse_listing(item, channel, marketplace_id) for item in items]
    pagination = record.get("pagination")
    token = None
    if pagination is not None:
        token = opt_text(as_object(pagination, what="pagination"), "nextToken", what="pagination")
    return Page(listings, token or None)


def _for_marketplace(entries: Sequence[Any], marketplace_id: str, what: str) -> list[Any]:
    found = []
    for entry in entries:
        record = as_object(entry, what=what)
        if record.get("marketplaceId") == marketplace_id:
            found.append(record)
    return found


def parse_listing(item: object, channel: str, marketplace_id: str) -> Listing:
    """Read one listings ``Item`` (with summaries, offers, fulfilment availability)."""
    record = as_object(item, what="listings item")
    sku = require_text(record, "sku", what="listings item")
    what = f"listings item {sku!r}"
    summaries = _for_marketplace(as_list(record.get("summaries"), what=what), marketplace_id, what)
    summary = summaries[0] if summaries else {}
    statuses = [s for s in as_list(summary.get("status"), what=what) if isinstance(s, str)]
    updated = summary.get("lastUpdatedDate")
    price: Money | None = None
    for offer in _for_marketplace(as_list(record.get("offers"), what=what), marketplace_id, what):
        if offer.get("offerType", "B2C") == "B2C" and "price" in offer:
            price = parse_money(
                offer["price"], what=what, amount_key="amount", currency_key="currencyCode"
            )
            break
    quantity = None
    for entry in as_list(record.get("fulfillmentAvailability"), what=what):
        availability = as_object(entry, what=what)
        if availability.get("fulfillmentChannelCode") == MFN_CHANNEL:
            quantity = opt_int(availability, "quantity", what=what)
    return Listing(
        channel=channel,
        item_id=sku,
        merchant_code=sku,
        title=opt_text(summary, "itemName", what=what) or sku,
        price=price,
        quantity=quantity,
        status=ListingStatus.ON_SALE if "BUYABLE" in statuses else ListingStatus.DELISTED,
        raw_status=",".join(statuses) or None,
        updated_at=None if updated is None else parse_time(updated, what=what),
    )


def fulfillment_patch(quantity: int) -> dict[str, Any]:
    """Return the JSON Patch setting the merchant-fulfilled quantity (``merge``)."""
    return {
        "op": "merge",
        "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": MFN_CHANNEL, "quantity": quantity}],
    }


def price_patch(price: Money, marketplace_id: str) -> dict[str, Any]:
    """Return the JSON Patch setting the B2C price (``merge`` on the offer's selectors)."""
    return {
        "op": "merge",
        "path": "/attributes/purchasable_offer",
        "value": [
            {
                "marketplace_id": marketplace_id,
                "currency": price.currency,
                "audience": "ALL",
                "our_price": [{"schedule": [{"value_with_tax": Decimal(price.amount)}]}],
            }
        ],
    }


def patch_body(patches: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a ``ListingsItemPatchRequest`` for the generic offer-only product type."""
    return {"productType": PRODUCT_TYPE, "patches": list(patches)}


@dataclass(frozen=True, slots=True)
class SubmissionOutcome:
    """What a listings submission answered: accepted, or the error issues."""

    accepted: bool
    code: str | None
    message: str


def parse_submission(body: object) -> SubmissionOutcome:
    """Read a ``ListingsItemSubmissionResponse``; ``ACCEPTED`` without ERROR issues is success."""
    record = as_object(body, what="listings submission answer")
    status = require_text(record, "status", what="listings submission answer")
    errors = []
    for entry in as_list(record.get("issues"), what="listings submission issues"):
        issue = as_object(entry, what="listings submission issue")
        if issue.get("severity") == "ERROR":
            errors.append(issue)
    if status == "ACCEPTED" and not errors:
        return SubmissionOutcome(True, None, "accepted")
    if errors:
        first = errors[0]
        code = opt_text(first, "code", what="issue")
        message = "; ".join(str(issue.get("message", "")) for issue in errors)
        return SubmissionOutcome(False, code, message)
    return SubmissionOutcome(False, status, f"submission {status.lower()}")
