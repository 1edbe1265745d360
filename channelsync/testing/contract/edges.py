"""Promises about the writes at their edges: zero stock, prices to the cent, delist and relist.

What lands is read back through the channel where it reads listings, and from the
fake's own records (the marketplace's truth) by merchant code as well, so a write
that is reported sent but never applied is caught either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from channelsync.channels import Capability, ListingScope
from channelsync.models import ListingStatus, ListingStatusChange, Money, PriceChange
from channelsync.testing.contract.base import (
    Promise,
    Target,
    pick_targets,
    read_listings,
    read_stock,
    stock_update,
)
from channelsync.testing.contract.harness import ContractHarness

__all__ = ["ListingStatusChangesLand", "PricesLandToTheCent", "SoldOutLands"]

#: Prices whose fen a float turns into a hair less (19.99 * 100 == 1998.9999999999998).
_AWKWARD_PRICES = (Decimal("19.99"), Decimal("1.15"), Decimal("4.35"))


def _truth(h: ContractHarness, target: Target) -> tuple[int, Decimal] | None:
    """Return the fake's own stock and price for ``target`` (found by merchant code)."""
    if target.merchant_code is None:
        return None
    for _, sku in h.fake.store.iter_skus():
        if sku.merchant_code == target.merchant_code:
            return sku.quantity, sku.price
    return None


async def _stock_lands(
    h: ContractHarness, channel: Any, wanted: Sequence[tuple[Target, int]], step: str
) -> None:
    results = await channel.set_stock([stock_update(t, quantity) for t, quantity in wanted])
    h.expect(
        len(results) == len(wanted),
        f"{step}: {len(results)} results for {len(wanted)} stock updates",
    )
    failed = [f"{r.key}: {r.error}" for r in results if not r.ok]
    h.expect(not failed, f"{step}: updates reported failed: {failed}")
    read = await read_stock(h, channel)
    for target, quantity in wanted:
        h.expect(
            read.get(target.key) == quantity,
            f"{step}: {target.key} reads {read.get(target.key)} after {quantity} was sent",
        )
        truth = _truth(h, target)
        h.expect(
            truth is None or truth[0] == quantity,
            f"{step}: the marketplace holds {truth[0] if truth else None} for "
            f"{target.merchant_code} after {quantity} was reported sent",
        )


class SoldOutLands(Promise):
    """A stock of zero is sent and applied like any other quantity, alone or in a batch.

    Sold-out SKUs are set to 0 beside a SKU that keeps stock; one is then restocked
    and sold out again.
    """

    capability = Capability.INVENTORY
    fix = (
        "send 0 as the absolute quantity: no 'if quantity:' guard, no 'or None' / 'or 1' "
        "default, no filter that drops empty parameters, no incremental mode for absolute "
        "updates; answer one result per update."
    )

    async def check(self, h: ContractHarness) -> None:
        """Sell three SKUs out beside one that keeps stock, restock one, sell it out again."""
        async with h.channel() as channel:
            first, second, third = await pick_targets(h, channel, 3)
            before = await read_stock(h, channel)
            empty = [t.key for t in (first, second, third) if not before.get(t.key)]
            h.expect(not empty, f"the seeded SKUs {empty} have no stock to sell out")
            await _stock_lands(h, channel, [(first, 0), (second, 5), (third, 0)], "sold out")
            await _stock_lands(h, channel, [(first, 4)], "restocked from zero")
            await _stock_lands(h, channel, [(first, 0)], "sold out again")


class PricesLandToTheCent(Promise):
    """Prices whose fen do not survive a float (19.99, 1.15, 4.35) land to the cent."""

    capability = Capability.PRICING
    fix = (
        "turn Money into the marketplace's amount with Decimal arithmetic "
        "(Money.to_minor_units() for fen, f'{amount:.2f}' for yuan), never float() and int()."
    )

    async def check(self, h: ContractHarness) -> None:
        """Send the awkward prices and read them back, through the channel and the fake."""
        async with h.channel() as channel:
            targets = await pick_targets(h, channel, len(_AWKWARD_PRICES))
            changes = [
                PriceChange(
                    item_id=t.item_id,
                    sku_id=t.sku_id,
                    merchant_code=t.merchant_code,
                    price=Money.of(price, t.currency),
                )
                for t, price in zip(targets, _AWKWARD_PRICES, strict=False)
            ]
            results = await channel.set_prices(changes)
            failed = [f"{r.key}: {r.error}" for r in results if not r.ok]
            h.expect(not failed, f"price changes reported failed: {failed}")
            read: dict[tuple[str, str | None], Decimal | None] = {}
            if channel.supports(Capability.LISTINGS):
                for listing in await read_listings(channel):
                    read[listing.key] = listing.price.amount if listing.price else None
        for change, target in zip(changes, targets, strict=False):
            sent = change.price.amount
            truth = _truth(h, target)
            h.expect(
                truth is None or truth[1] == sent,
                f"{target.merchant_code}: the marketplace holds {truth[1] if truth else None} "
                f"after {sent} was sent",
            )
            h.expect(
                not read or read.get(target.key) == sent,
                f"{target.key}: reads {read.get(target.key)} after {sent} was sent",
            )


class ListingStatusChangesLand(Promise):
    """A delist takes the listing off sale; a relist puts it back or is refused, never faked.

    Where the channel lists and delists whole items, every SKU of the item follows. A
    marketplace without a relist switch may refuse the relist for that listing (a
    result the engine shows), but must not report it done while the listing stays off.
    """

    capability = Capability.LISTINGS
    fix = (
        "send the marketplace's delist and relist calls for the listing (or its item, "
        "with limits.listing_scope = ITEM), answer success only for what it confirmed, and "
        "read the status back from the marketplace's record."
    )

    async def check(self, h: ContractHarness) -> None:
        """Delist one listing, read it back, relist it, read it back."""
        item_wide = h.channel_class.limits.listing_scope is ListingScope.ITEM
        async with h.channel() as channel:
            (target,) = await pick_targets(h, channel, 1)
            shown = ListingStatus.DELISTED
            for wanted in (ListingStatus.DELISTED, ListingStatus.ON_SALE):
                change = ListingStatusChange(
                    item_id=target.item_id,
                    sku_id=target.sku_id,
                    merchant_code=target.merchant_code,
                    status=wanted,
                )
                results = await channel.set_listing_status([change])
                h.expect(len(results) == 1, f"{len(results)} results for one status change")
                refused = results[0].error
                h.expect(
                    refused is None or wanted is ListingStatus.ON_SALE,
                    f"delisting {target.key} was not confirmed: {refused}",
                )
                shown = wanted if refused is None else shown
                listings = await read_listings(channel)
                mine = [
                    x
                    for x in listings
                    if x.key == target.key or (item_wide and x.item_id == target.item_id)
                ]
                h.expect(bool(mine), f"{target.key} was not read after it was set {wanted.value}")
                wrong = [f"{x.key}: {x.status.value}" for x in mine if x.status != shown]
                h.expect(
                    not wrong,
                    f"set {wanted.value} ({'refused' if refused else 'confirmed'}), read back "
                    f"as {wrong}",
                )
