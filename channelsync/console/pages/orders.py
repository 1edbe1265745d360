"""Orders: newest placed first, by channel and status; one order with its effects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channelsync.console.source import ConsoleSource, iso, money
from channelsync.store import StoredOrder

__all__ = ["PAGE_SIZE", "order_detail", "order_list"]

#: Orders on one page of the list.
PAGE_SIZE = 50


def order_list(
    source: ConsoleSource, *, channel: str | None, status: str | None, page: int
) -> dict[str, Any]:
    """Return one page of orders (``page`` counts from 1), newest placed first."""
    page = max(page, 1)
    with source.store.transaction() as session:
        total, orders = session.order_page(
            channel=channel, status=status, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        statuses = session.order_statuses()
    return {
        "filters": {"channel": channel, "status": status},
        "channels": list(source.channels),
        "statuses": statuses,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "total": total,
        "orders": [_summary(order) for order in orders],
    }


def order_detail(source: ConsoleSource, channel: str, order_id: str) -> dict[str, Any] | None:
    """Return one order with its lines, ledger effects and shipments (``None``: not found)."""
    with source.store.transaction() as session:
        stored = session.order(channel, order_id)
        if stored is None:
            return None
        ledger = session.order_ledger(channel, order_id)
        shipments = session.order_shipments(channel, order_id)
        skus = session.skus_by_id({event.sku_id for event in ledger})
    raw = stored.raw
    return {
        **_summary(stored),
        "paid_at": raw.get("paid_at"),
        "raw_status": raw.get("raw_status"),
        "hold_reason": raw.get("hold_reason"),
        "shipping_fee": money(raw.get("shipping_fee")),
        "discount": money(raw.get("discount")),
        # Whether an address is kept (shipments need it), never the address itself.
        "address_kept": bool(raw.get("shipping_address")),
        "lines": [_line(line) for line in raw.get("lines", ())],
        "ledger": [
            {
                "kind": event.kind,
                "merchant_code": skus[event.sku_id].merchant_code
                if event.sku_id in skus
                else str(event.sku_id),
                "warehouse": event.warehouse or "default",
                "on_hand_delta": event.on_hand_delta,
                "reserved_delta": event.reserved_delta,
                "key": event.idempotency_key,
            }
            for event in ledger
        ],
        "shipments": [
            {
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
                "state": shipment.state,
                "marketplace_ref": shipment.marketplace_ref,
                "reason": shipment.reason,
            }
            for shipment in shipments
        ],
    }


def _summary(order: StoredOrder) -> dict[str, Any]:
    lines = order.raw.get("lines", ())
    return {
        "channel": order.channel,
        "order_id": order.order_id,
        "status": order.status,
        "on_hold": order.on_hold,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
        "imported_at": iso(order.imported_at),
        "total": money(order.raw.get("total")),
        "units": sum(int(line.get("quantity", 0)) for line in lines),
    }


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "item_id": line.get("item_id"),
        "sku_id": line.get("sku_id"),
        "merchant_code": line.get("merchant_code"),
        "title": line.get("title"),
        "quantity": line.get("quantity"),
        "unit_price": money(line.get("unit_price")),
    }
