"""Binding master SKUs to channel listings by the merchant code each listing carries.

A listing whose merchant code matches a catalogue SKU is bound to it; one whose code
matches nothing is reported as unbound, and a catalogue SKU no listing carries is
reported as unlisted. A manual binding ties a listing to a SKU whatever its code
says, and is never replaced by an automatic one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from channelsync.channels import Channel, ListingLookupCapability, ListingsCapability
from channelsync.engine.context import EngineContext
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.marketplace_stock import record_marketplace_stock, stock_warehouse
from channelsync.models import Listing
from channelsync.store import ListingBinding, Store, StoreSession

__all__ = ["BindReport", "bind_channel", "bind_manually", "binding_report"]


@dataclass
class BindReport:
    """The outcome of binding one channel's listings."""

    channel: str
    listings: int = 0
    bound: int = 0
    unbound: list[dict[str, Any]] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Say what binding found, in a line an operator reads."""
        return (
            f"{self.listings} listings read, {self.bound} bound, "
            f"{len(self.unbound)} without a catalogue SKU, {len(self.unlisted)} SKUs not listed"
        )


class _Read(NamedTuple):
    """What a binding keeps of a listing read (the listing's model takes several times more)."""

    item_id: str
    sku_id: str | None
    merchant_code: str | None
    title: str
    quantity: int | None


def _kept(listing: Listing) -> _Read:
    return _Read(
        listing.item_id, listing.sku_id, listing.merchant_code, listing.title, listing.quantity
    )


async def bind_channel(context: EngineContext, channel: Channel[Any]) -> BindReport:
    """Read every listing of ``channel`` and bind each to the SKU with its merchant code."""
    if not isinstance(channel, ListingsCapability):
        raise InputError(
            "bindings", [Problem(f"channel {channel.name!r} cannot list its listings")]
        )
    info = context.channels.get(channel.name)
    # The whole listings only where the read also counts a marketplace's warehouse
    # (FBA); otherwise what binding needs of each, as the pages come.
    counted = info is not None and stock_warehouse(info.settings) is not None
    reads: list[_Read] = []
    listings: list[Listing] = []
    async for listing in channel.iter_listings():
        reads.append(_kept(listing))
        if counted:
            listings.append(listing)
    if isinstance(channel, ListingLookupCapability) and channel.scan_capped:
        found = await _look_up_unlisted(context, channel, reads)
        reads += map(_kept, found)
        if counted:
            listings += found
    now = context.clock.now()
    bind = functools.partial(
        _bind, context=context, channel=channel.name, reads=reads, listings=listings, now=now
    )
    # Off the loop (on a store of many writers), a few channels' writes at a time: the
    # server writes one's rows while the next one's are built, and the channels bound
    # side by side never hold all their written rows together.
    async with context.binding_turn():
        return await context.transact(bind, rows=len(reads))


def _bind(
    session: StoreSession,
    *,
    context: EngineContext,
    channel: str,
    reads: Sequence[_Read],
    listings: Sequence[Listing],
    now: datetime,
) -> BindReport:
    """Bind the listings read of ``channel`` in ``session``; report what is bound and not.

    ``listings`` are the whole listings, given where the read counts a marketplace's
    warehouse (:func:`~channelsync.engine.marketplace_stock.stock_warehouse`).
    """
    # The catalogue's codes and ids, read once (not its records: nothing else is
    # needed): they bind the listings, and the report names the SKUs no listing carries.
    ids = session.sku_ids()
    changed = session.upsert_bindings(
        [
            ListingBinding(
                channel=channel,
                item_id=read.item_id,
                listing_sku_id=read.sku_id,
                sku_id=ids.get(read.merchant_code or ""),
                merchant_code=read.merchant_code,
                title=read.title,
                channel_quantity=read.quantity,
            )
            for read in reads
        ],
        now,
    )
    info = context.channels.get(channel)
    if info is not None and listings:
        # What a marketplace holds (FBA) lands in its warehouse with the read.
        record_marketplace_stock(session, channel, info.settings, listings, now)
    # Newly bound listings get their allocation and price in the next plan.
    session.mark_changed(changed)
    return _report(session, channel, ids, listings=len(reads))


async def _look_up_unlisted(
    context: EngineContext, channel: ListingLookupCapability, scanned: Sequence[_Read]
) -> list[Listing]:
    """Look up the catalogue SKUs a capped scan did not reach; return the listings found."""
    seen = {read.merchant_code for read in scanned if read.merchant_code}
    with context.store.transaction() as session:
        missing = [code for code in session.sku_ids() if code not in seen]
    if not missing:
        return []
    keys = {(read.item_id, read.sku_id) for read in scanned}
    return [
        listing
        for listing in await channel.find_listings(missing)
        if (listing.item_id, listing.sku_id) not in keys
    ]


def binding_report(store: Store, channel: str, *, listings: int | None = None) -> BindReport:
    """Report a channel's bound and unbound listings and its unlisted SKUs."""
    with store.transaction() as session:
        return _report(session, channel, session.sku_ids(), listings=listings)


def _report(
    session: StoreSession, channel: str, catalogue: Mapping[str, int], *, listings: int | None
) -> BindReport:
    """Report the channel's bindings as ``session`` sees them, against ``catalogue``.

    ``catalogue`` holds every SKU's id by merchant code, in code order.
    """
    bindings = session.bindings(channel=channel)
    bound_ids = {b.sku_id for b in bindings if b.sku_id is not None}
    return BindReport(
        channel=channel,
        listings=len(bindings) if listings is None else listings,
        bound=sum(1 for b in bindings if b.sku_id is not None),
        unbound=[
            {"item_id": b.item_id, "sku_id": b.listing_sku_id, "merchant_code": b.merchant_code}
            for b in bindings
            if b.sku_id is None
        ],
        unlisted=[code for code, sku_id in catalogue.items() if sku_id not in bound_ids],
    )


def bind_manually(
    context: EngineContext,
    channel: str,
    item_id: str,
    merchant_code: str,
    *,
    listing_sku_id: str | None = None,
) -> None:
    """Bind one listing to a SKU by hand (for a listing whose merchant code differs)."""
    with context.store.transaction() as session:
        found = session.skus([merchant_code])
        if not found:
            raise InputError("bindings", [Problem(f"unknown SKU {merchant_code!r}", field="sku")])
        session.upsert_binding(
            channel=channel,
            item_id=item_id,
            listing_sku_id=listing_sku_id,
            sku_id=found[0].id,
            merchant_code=merchant_code,
            manual=True,
            title=None,
            channel_quantity=None,
            now=context.clock.now(),
        )
        session.mark_changed([found[0].id])
