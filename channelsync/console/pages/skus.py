"""The SKU view: the master's stock beside what each channel was sent and shows."""

from __future__ import annotations

from typing import Any

from channelsync.console.source import ConsoleSource, iso

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
        bindings = session.bindings(sku_ids=[sku.id])
        listings = [(b.channel, f"{b.item_id}/{b.listing_sku_id or ''}") for b in bindings]
        changes = session.listing_audit(listings, CHANGES_LISTED)
    return {
        "sku": {
            "merchant_code": sku.merchant_code,
            "title": sku.title,
            "price": f"{sku.price} {sku.currency}",
        },
        "on_hand": position.on_hand,
        "reserved": position.reserved,
        "safety_stock": position.safety_stock,
        "available": position.available,
        "warehouses": {name or "default": units for name, units in sorted(warehouses.items())},
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
