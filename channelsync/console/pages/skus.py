"""The SKU view: the master's stock beside what each channel was sent and shows.

A kit's page lists its components with the units one kit takes, and shows as available
what they make (a kit holds no stock of its own); a component's page lists the kits
using it. Stock is shown per warehouse, and where the channels' sourcing is configured,
with the channels each warehouse feeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channelsync.config import ChannelSyncSettings
from channelsync.console.source import ConsoleSource, iso
from channelsync.engine.composition import kit_availability
from channelsync.engine.sourcing import channel_sources, held_warehouses
from channelsync.store import KitComponent, StoreSession, WarehouseStock

__all__ = ["SEARCH_LIMIT", "sku_page", "sku_search"]

#: Merchant codes a search lists.
SEARCH_LIMIT = 50
#: Audit entries (sends and answers) a SKU page lists.
CHANGES_LISTED = 25


def sku_search(source: ConsoleSource, text: str) -> dict[str, Any]:
    """Return the merchant codes that contain ``text``."""
    query = text.strip()
    with source.store.transaction() as session:
        codes = session.search_skus(query, SEARCH_LIMIT) if query else []
    return {"query": query, "codes": codes, "limit": SEARCH_LIMIT}


def sku_page(source: ConsoleSource, code: str) -> dict[str, Any] | None:
    """Return one SKU's page data, or ``None`` when no SKU has that merchant code."""
    with source.store.transaction() as session:
        found = session.skus([code])
        if not found:
            return None
        sku = found[0]
        position = session.positions([sku.id])[sku.id]
        warehouses = session.on_hand(sku.id)
        stock = session.warehouse_stock([sku.id]).get(sku.id, {})
        bindings = session.bindings(sku_ids=[sku.id])
        listings = [(b.channel, f"{b.item_id}/{b.listing_sku_id or ''}") for b in bindings]
        changes = session.listing_audit(listings, CHANGES_LISTED)
        parts = session.components_of([sku.id]).get(sku.id)
        kit = _kit(session, sku.id, parts) if parts else None
        used_in = _used_in(session, sku.id)
        feeds = _feeds(session, source.settings)
        held = held_warehouses(source.settings)
    available = kit["available"] if kit is not None else position.available
    return {
        "sku": {
            "merchant_code": sku.merchant_code,
            "title": sku.title,
            "price": f"{sku.price} {sku.currency}",
        },
        "on_hand": position.on_hand,
        "reserved": position.reserved,
        "safety_stock": position.safety_stock,
        # A kit's is what its components make, never its own (empty) stock.
        "available": available,
        "warehouses": {name or "default": units for name, units in sorted(warehouses.items())},
        "warehouse_stock": _warehouse_stock(stock, feeds, held),
        "sourcing": bool(feeds),
        "kit": kit,
        "used_in": used_in,
        "channels": [
            {
                "channel": b.channel,
                "type": source.channels.get(b.channel),
                "item_id": b.item_id,
                "listing_sku_id": b.listing_sku_id,
                "planned": b.planned_quantity,
                "sent": b.sent_quantity,
                "sent_at": iso(b.sent_at),
                "shown": b.channel_quantity,
                "seen_at": iso(b.seen_at),
                "held": None
                if b.held_since is None
                else {"since": iso(b.held_since), "shown": b.held_shown},
                "planned_price": b.planned_price,
                "sent_price": b.sent_price,
            }
            for b in sorted(bindings, key=lambda b: (b.channel, b.item_id))
        ],
        "changes": [
            {
                "at": iso(entry.at),
                "channel": entry.channel,
                "kind": entry.kind,
                "ok": entry.ok,
                "value": _value(entry.sent),
                "answer": entry.answer,
            }
            for entry in changes
        ],
    }


def _value(sent: Any) -> str | None:
    """Return what a send set: a quantity, a price or a status."""
    if "quantity" in sent:
        return f"quantity {sent['quantity']}"
    if "amount" in sent:
        return f"price {sent['amount']} {sent.get('currency', '')}".rstrip()
    if "status" in sent:
        return f"status {sent['status']}"
    return None


def _kit(session: StoreSession, kit_id: int, parts: tuple[KitComponent, ...]) -> dict[str, Any]:
    """Return a kit's components (each with its available and the kits it makes) and theirs."""
    positions = session.positions(c.sku_id for c in parts)
    components = []
    for part in parts:
        available = positions[part.sku_id].available if part.sku_id in positions else 0
        components.append(
            {
                "sku": part.merchant_code,
                "quantity": part.quantity,
                "available": available,
                "makes": max(0, available // part.quantity),
            }
        )
    return {"components": components, "available": kit_availability(session, [kit_id])[kit_id]}


def _used_in(session: StoreSession, sku_id: int) -> list[dict[str, Any]]:
    """Return the kits using a SKU, with the units of it one of each takes, by code."""
    kit_ids = session.kits_using([sku_id]).get(sku_id, ())
    if not kit_ids:
        return []
    codes = {s.id: s.merchant_code for s in session.skus_by_id(kit_ids).values()}
    rows = [
        {"sku": codes[kit_id], "quantity": part.quantity}
        for kit_id, parts in session.components_of(kit_ids).items()
        for part in parts
        if part.sku_id == sku_id and kit_id in codes
    ]
    return sorted(rows, key=lambda row: str(row["sku"]))


def _feeds(
    session: StoreSession, settings: Mapping[str, ChannelSyncSettings]
) -> dict[str, list[str]]:
    """Return the channels each warehouse feeds, when any channel's sourcing is configured.

    A channel whose stock its marketplace manages (``managed_stock = false``) is fed by none.

    Empty when none is (every channel is then fed from every warehouse no marketplace
    holds, which the page need not say) or the channels' settings are not known.
    """
    if not any(s.warehouses is not None or s.marketplace_warehouses for s in settings.values()):
        return {}
    held = held_warehouses(settings)
    present = session.warehouses()
    feeds: dict[str, list[str]] = {warehouse: [] for warehouse in [*present, *held]}
    for channel, channel_settings in sorted(settings.items()):
        if not channel_settings.managed_stock:
            continue  # its marketplace keeps its stock: no warehouse feeds it
        for warehouse in channel_sources(channel_settings, present, held):
            feeds.setdefault(warehouse, []).append(channel)
    return feeds


def _warehouse_stock(
    stock: Mapping[str, WarehouseStock],
    feeds: Mapping[str, list[str]],
    held: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Return a row per warehouse: on hand, reserved there, free, and the channels it feeds.

    ``feeds`` is ``None`` when the sourcing is not configured; ``held_by`` names the
    channel whose marketplace holds the warehouse (it then feeds no channel).
    """
    return [
        {
            "warehouse": warehouse or "default",
            "on_hand": units.on_hand,
            "reserved": units.reserved,
            "free": units.free,
            "feeds": feeds.get(warehouse, []) if feeds else None,
            "held_by": held.get(warehouse),
        }
        for warehouse, units in sorted(stock.items())
    ]
