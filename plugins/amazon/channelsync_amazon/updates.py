"""What stock, price and listing-status changes become on Amazon: patches per seller SKU.

Each planning function returns the patches to send and, by position in the batch,
the changes refused without a call (FBA stock, a relist, a price in another
currency); :func:`merge` puts the answers back in the batch's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from channelsync.models import (
    ListingStatus,
    ListingStatusChange,
    PriceChange,
    StockUpdate,
    UpdateResult,
)
from channelsync_amazon import listings
from channelsync_amazon.wire import marketplace_currency
from channelsync_amazon.writer import PlannedPatch

__all__ = [
    "AFN_READ_ONLY",
    "Planned",
    "merge",
    "plan_prices",
    "plan_statuses",
    "plan_stock",
    "sku_of",
]

AFN_READ_ONLY = "AFN_READ_ONLY"
_AFN_MESSAGE = (
    "FBA (AFN) stock is held and counted by Amazon; channelsync reads it from FBA "
    "inventory summaries and never writes it"
)

Fulfillment = Literal["MFN", "AFN"]


@dataclass
class Planned:
    """The patches a batch becomes, the changes refused without a call, the urgent ones."""

    size: int
    patches: list[PlannedPatch] = field(default_factory=list)
    refused: dict[int, UpdateResult] = field(default_factory=dict)
    at_once: list[bool] = field(default_factory=list)
    """Per patch: send it at once, never held for a feed (a listing sold out)."""


def sku_of(update: StockUpdate | PriceChange | ListingStatusChange) -> str:
    """Return the seller SKU an update addresses.

    Listings carry the seller SKU as their item id (``parse_listing``); an update that
    names a ``sku_id`` addresses that SKU instead.
    """
    return update.sku_id or update.item_id


def plan_stock(batch: Sequence[StockUpdate], fulfillment: Fulfillment) -> Planned:
    """Set MFN quantities; AFN stock is refused per item. A quantity of 0 goes at once."""
    planned = Planned(len(batch))
    for index, update in enumerate(batch):
        if fulfillment == "AFN":
            planned.refused[index] = UpdateResult.failure(update, _AFN_MESSAGE, code=AFN_READ_ONLY)
            continue
        patch = listings.fulfillment_patch(update.quantity)
        planned.patches.append(PlannedPatch(update, sku_of(update), [patch]))
        planned.at_once.append(update.quantity == 0)
    return planned


def plan_prices(batch: Sequence[PriceChange], marketplace_id: str) -> Planned:
    """Set B2C prices in the home marketplace; a price in another currency is refused."""
    currency = marketplace_currency(marketplace_id)
    planned = Planned(len(batch))
    for index, change in enumerate(batch):
        if currency is not None and change.price.currency != currency:
            planned.refused[index] = UpdateResult.failure(
                change,
                f"price is in {change.price.currency}; marketplace {marketplace_id} "
                f"sells in {currency}",
                code="CURRENCY_MISMATCH",
            )
            continue
        patch = listings.price_patch(change.price.quantize(), marketplace_id)
        planned.patches.append(PlannedPatch(change, sku_of(change), [patch]))
        planned.at_once.append(False)
    return planned


def plan_statuses(batch: Sequence[ListingStatusChange], fulfillment: Fulfillment) -> Planned:
    """Delist by setting the MFN quantity to 0; relisting and AFN delisting are refused."""
    planned = Planned(len(batch))
    for index, change in enumerate(batch):
        if fulfillment == "AFN":
            planned.refused[index] = UpdateResult.failure(change, _AFN_MESSAGE, code=AFN_READ_ONLY)
        elif change.status is ListingStatus.ON_SALE:
            planned.refused[index] = UpdateResult.failure(
                change,
                "Amazon has no relist switch: a delisted (quantity 0) listing is buyable "
                "again once a stock update gives it a quantity",
                code="NO_RELIST",
            )
        else:
            patch = listings.fulfillment_patch(0)
            planned.patches.append(PlannedPatch(change, sku_of(change), [patch]))
            planned.at_once.append(False)
    return planned


def merge(planned: Planned, sent: Sequence[UpdateResult]) -> list[UpdateResult]:
    """Return the batch's results in order: the refusals and the answers to what was sent."""
    answers = iter(sent)
    refused: Mapping[int, UpdateResult] = planned.refused
    return [refused[i] if i in refused else next(answers) for i in range(planned.size)]
