"""The re-inflation guard: never raise a channel's quantity over an unexplained drop.

A marketplace lowers its own stock the moment a buyer orders, before the order
reaches us. Pushing an absolute quantity computed without that order would hand the
sold unit out again. So before the stock raises queued for a channel are sent, the
channel's listings are read once and, for each raise, what the channel shows is
compared with what it last accepted:

- no drop, or a drop no larger than the units of this channel's imported orders
  created since that send: the drop is explained, the raise goes;
- otherwise an order is in flight: the raise waits (the entry stays pending) and the
  drop is remembered. It is released when the orders that explain it are imported,
  or when a second look shows the same quantity after the channel's order cursor has
  passed the first look — every order placed before then has been read, so the drop
  was a hand edit, and the raise (the correction) goes.

Decreases and zero-outs are never held: they can only make the channel safer. A
channel that cannot list its listings cannot be observed, so its raises are not
guarded (stated in the engine docs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channelsync.channels import (
    Channel,
    ListingLookupCapability,
    ListingsCapability,
    ShownQuantityCapability,
)
from channelsync.engine.context import EngineContext
from channelsync.errors import ChannelError
from channelsync.models import Listing
from channelsync.store import BindingRecord, OutboxItem, StoreSession

__all__ = ["PREVIOUS", "GuardReport", "guard_raises", "listing_key"]

logger = logging.getLogger(__name__)

#: A held raise is looked at again on the next cycle (any later moment).
RECHECK = timedelta(seconds=1)
_ORDERS_CURSOR = "orders"
#: The field of a stock entry's payload holding the quantity sent before it was planned
#: (absent or null for a first send, which is never a raise).
PREVIOUS = "previous"


@dataclass
class GuardReport:
    """What the guard decided for one channel's queued raises."""

    checked: int = 0
    held: list[str] = field(default_factory=list)
    """Merchant codes whose raise waits for the orders that explain a drop."""
    hand_edits: list[str] = field(default_factory=list)
    """Merchant codes whose drop a second look confirmed as a hand edit."""
    calls: int = 0


def listing_key(item_id: str, sku_id: str | None) -> tuple[str, str]:
    """Return the key a listing is matched by (``""`` for a listing without SKU id)."""
    return (item_id, sku_id or "")


async def guard_raises(
    context: EngineContext, channel: Channel[Any], due: Sequence[OutboxItem]
) -> GuardReport:
    """Hold the raises among ``due`` stock entries that an unexplained drop forbids."""
    report = GuardReport()
    now = context.clock.now()
    with context.store.transaction() as session:
        raises = _raises(session, channel.name, due)
    if not raises or not isinstance(channel, ListingsCapability):
        return report
    report.checked = len(raises)
    wanted = {listing_key(b.item_id, b.listing_sku_id) for _, b in raises}
    try:
        report.calls += 1
        found = await _read(channel, [b for _, b in raises])
        shown = {key: quantity for key, quantity in found.items() if key in wanted}
    except ChannelError as error:
        # Without a fresh look a raise could re-inflate: all of them wait.
        with context.store.transaction() as session:
            for item, _ in raises:
                _hold(session, item, now, f"listings unreadable: {error}", report)
        return report
    with context.store.transaction() as session:
        cursor = session.cursor(channel.name, _ORDERS_CURSOR)
        looked = [
            (item, binding, quantity)
            for item, binding in raises
            if (quantity := shown.get(listing_key(binding.item_id, binding.listing_sku_id)))
            is not None
        ]
        session.set_observed_many({b.id: quantity for _, b, quantity in looked}, now)
        for item, binding, quantity in looked:
            _decide(session, channel.name, item, binding, quantity, cursor, now, report)
    return report


async def _read(
    channel: ListingsCapability, bindings: Sequence[BindingRecord]
) -> dict[tuple[str, str], int]:
    """Return what the shop shows for ``bindings``' listings, read as narrowly as it can.

    By merchant code where the channel looks listings up so, else by item and SKU id
    where it reads those, else from a scan of the whole shop.
    """
    codes = [b.merchant_code for b in bindings if b.merchant_code]
    listings: list[Listing]
    if isinstance(channel, ListingLookupCapability) and len(codes) == len(bindings):
        listings = await channel.find_listings(codes)
    elif isinstance(channel, ShownQuantityCapability):
        keys = list(dict.fromkeys((b.item_id, b.listing_sku_id) for b in bindings))
        return await channel.shown_quantities(keys)
    else:
        listings = [listing async for listing in channel.iter_listings()]
    return {
        listing_key(listing.item_id, listing.sku_id): listing.quantity
        for listing in listings
        if listing.quantity is not None
    }


def _raises(
    session: StoreSession, channel: str, due: Sequence[OutboxItem]
) -> list[tuple[OutboxItem, BindingRecord]]:
    # An entry queued before anything was ever sent is a first send, not a raise.
    candidates = [
        i
        for i in due
        if i.payload.get("binding_id") is not None and i.payload.get(PREVIOUS) is not None
    ]
    if not candidates:
        return []
    codes = {str(i.payload["merchant_code"]) for i in candidates}
    sku_ids = [s.id for s in session.skus(codes)]
    bindings = {b.id: b for b in session.bindings(channel=channel, sku_ids=sku_ids)}
    found = []
    for item in candidates:
        binding = bindings.get(int(item.payload["binding_id"]))
        if binding is None or binding.sent_quantity is None or binding.sku_id is None:
            continue
        if int(item.payload["quantity"]) > _baseline(binding):
            found.append((item, binding))
    return found


def _baseline(binding: BindingRecord) -> int:
    """Return what the channel is known to show: the quantity sent, or less if seen lower."""
    assert binding.sent_quantity is not None
    seen = binding.channel_quantity
    # Accepting a quantity records it as seen, so a lower value is a later observation.
    return binding.sent_quantity if seen is None else min(binding.sent_quantity, seen)


def _decide(  # noqa: PLR0917 - one decision over the facts gathered for one listing
    session: StoreSession,
    channel: str,
    item: OutboxItem,
    binding: BindingRecord,
    shown: int,
    cursor: tuple[datetime, str | None] | None,
    now: datetime,
    report: GuardReport,
) -> None:
    assert binding.sent_quantity is not None
    assert binding.sku_id is not None
    drop = binding.sent_quantity - shown
    explained = 0
    if drop > 0 and binding.sent_at is not None:
        explained = session.units_ordered_since(channel, binding.sku_id, binding.sent_at)
    if drop <= explained:
        if binding.held_since is not None:
            session.set_hold(binding.id, None, None)
        return
    code = str(item.payload.get("merchant_code"))
    if binding.held_since is not None and binding.held_shown == shown:
        orders_read_past = cursor is None or cursor[0] > binding.held_since
        if orders_read_past and now > binding.held_since:
            session.set_hold(binding.id, None, None)
            session.audit(
                channel=channel,
                kind="reconcile",
                key=item.key,
                sent={"merchant_code": code, "shown": shown, "sent": binding.sent_quantity},
                ok=True,
                answer=f"drop of {drop - explained} unit(s) confirmed as a hand edit",
                now=now,
            )
            report.hand_edits.append(code)
            return
    else:
        session.set_hold(binding.id, now, shown)
    reason = (
        f"held: channel shows {shown}, {binding.sent_quantity} sent, "
        f"{drop - explained} unit(s) unexplained by imported orders"
    )
    _hold(session, item, now, reason, report)


def _hold(
    session: StoreSession, item: OutboxItem, now: datetime, reason: str, report: GuardReport
) -> None:
    session.defer(item.id, item.version, until=now + RECHECK, reason=reason, now=now)
    report.held.append(str(item.payload.get("merchant_code")))
    logger.info("%s %s: %s", item.channel, item.payload.get("merchant_code"), reason)
