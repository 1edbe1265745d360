"""Stock a marketplace holds (Amazon FBA), read into the warehouse standing for it.

A channel whose marketplace holds the stock it sells (``managed_stock = false`` with
``marketplace_warehouses``, see :func:`~channelsync.engine.sourcing.marketplace_sells`)
reports in each listing read what the marketplace holds: for an Amazon AFN shop, the
fulfillable units of FBA Inventory. Those units are the marketplace's to sell: they
are read, never pushed. After each read of such a channel's listings (binding and
reconciliation), :func:`record_marketplace_stock` sets each bound SKU's on hand in the
channel's held warehouse to what was read, through ``marketplace_stock`` ledger events
in the transaction that records the read. The units then show per warehouse and in the
ledger; they feed no channel, as no held warehouse does.

* When a channel lists several held warehouses (one per fulfilment network), the read
  units land in the first: a listing read says how many units the marketplace holds,
  not where.
* A SKU whose listing the read did not return is left alone, as is a listing read
  without a quantity. Several listings of the channel bound to one SKU (two seller SKUs
  for one catalogue SKU) hold units of their own, which add up.
* A kit holds no stock (its components do), so a kit's listing moves nothing.
* A channel whose stock the engine manages reads back only what it was sent, so its
  reads move nothing here, whatever warehouses it names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from channelsync.config import ChannelSyncSettings
from channelsync.engine.guard import listing_key
from channelsync.engine.ledger import EventKind
from channelsync.engine.sourcing import marketplace_sells
from channelsync.models import Listing
from channelsync.store import BindingRecord, LedgerEvent, StoreSession

__all__ = ["read_units", "record_marketplace_stock", "stock_events", "stock_warehouse"]


def stock_warehouse(settings: ChannelSyncSettings) -> str | None:
    """Return the warehouse a channel's listing reads set, ``None`` when they set none.

    The first of its ``marketplace_warehouses`` for a channel whose marketplace holds
    the stock it sells; ``None`` for any other channel.
    """
    return settings.marketplace_warehouses[0] if marketplace_sells(settings) else None


def read_units(
    listings: Iterable[Listing], bindings: Mapping[tuple[str, str], BindingRecord]
) -> dict[int, int]:
    """Return the units read per bound SKU: the quantities of its listings in ``listings``.

    ``bindings`` are the channel's bindings keyed by
    :func:`~channelsync.engine.guard.listing_key`. A listing read twice counts once (the
    last read of it); one without a quantity, or bound to no SKU, counts for nothing.
    """
    latest = {listing_key(item.item_id, item.sku_id): item for item in listings}
    units: dict[int, int] = defaultdict(int)
    for key, listing in latest.items():
        binding = bindings.get(key)
        if binding is None or binding.sku_id is None or listing.quantity is None:
            continue
        units[binding.sku_id] += listing.quantity
    return dict(units)


def stock_events(
    channel: str,
    warehouse: str,
    read: Mapping[int, int],
    on_hand: Mapping[int, int],
    seen_at: datetime,
) -> list[LedgerEvent]:
    """Return the events setting each SKU's on hand in ``warehouse`` to what was ``read``.

    ``on_hand`` is each SKU's current on hand there (absent: none). One event per SKU
    whose count differs, by the difference, keyed by the channel, the SKU and when it
    was read (``seen_at``): a read applied again finds the count it set, and adds none.
    """
    events = []
    for sku_id, units in sorted(read.items()):
        current = on_hand.get(sku_id, 0)
        if units == current:
            continue
        events.append(
            LedgerEvent(
                idempotency_key=f"marketplace:{channel}:{sku_id}:{seen_at.isoformat()}",
                kind=EventKind.MARKETPLACE_STOCK,
                sku_id=sku_id,
                on_hand_delta=units - current,
                warehouse=warehouse,
                channel=channel,
                note=f"{channel} holds {units}",
            )
        )
    return events


def record_marketplace_stock(
    session: StoreSession,
    channel: str,
    settings: ChannelSyncSettings,
    listings: Iterable[Listing],
    seen_at: datetime,
) -> int:
    """Set the held warehouse's on hand of the SKUs bound to ``listings`` to what they show.

    Call it with the listings just read from ``channel``, in the transaction that
    records the read and after its bindings are written; ``seen_at`` is when they were
    read. Nothing happens for a channel whose reads set no warehouse
    (:func:`stock_warehouse`). Returns how many SKUs' counts changed.

    Every SKU bound to a read listing is locked in one call before its count is read,
    so two reads at once cannot both add the same units, and a later lock of those SKUs
    in the transaction (a binding marking new ones changed) takes no new lock.
    """
    warehouse = stock_warehouse(settings)
    if warehouse is None:
        return 0
    listings = list(listings)
    keys = {(item.item_id, item.sku_id) for item in listings}
    bindings = session.bindings_for_listings(channel, keys)
    bound = sorted({b.sku_id for b in bindings.values() if b.sku_id is not None})
    if not bound:
        return 0
    session.lock_skus(bound)
    kits = session.components_of(bound)
    read = {s: n for s, n in read_units(listings, bindings).items() if s not in kits}
    stock = session.on_hand_many(read)
    on_hand = {sku_id: stock.get(sku_id, {}).get(warehouse, 0) for sku_id in read}
    events = _unique(session, stock_events(channel, warehouse, read, on_hand, seen_at))
    return sum(session.apply_events(events, seen_at))


def _unique(session: StoreSession, events: list[LedgerEvent]) -> list[LedgerEvent]:
    """Return ``events``, each key already applied numbered on (``…:2``, ``…:3``) until new.

    A count that still differs from what was read under the lock needs its event,
    whatever was applied before: a key taken means an earlier read of the same instant
    (a clock that does not move, as a test's) changed the count, and something else
    changed it again since. Dropping the event as a replay would leave the count wrong.
    """
    taken = session.applied_events(e.idempotency_key for e in events)
    if not taken:
        return events
    fresh = []
    for event in events:
        key, number = event.idempotency_key, 1
        while key in taken or (number > 1 and session.has_event(key)):
            number += 1
            key = f"{event.idempotency_key}:{number}"
        fresh.append(replace(event, idempotency_key=key))
    return fresh
