"""Pinduoduo shipments: whether an order is already shipped, and whether it may ship.

PDD ships whole orders online (``pdd.logistics.online.send``); these rules read the
order record (``pdd.order.information.get``) before and after a refused push.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channelsync.errors import ConflictError, InvalidRequestError
from channelsync.models import Order, Shipment, ShipmentResult
from channelsync_pinduoduo._calls import covers
from channelsync_pinduoduo.mapping import optional_text

__all__ = ["SHIP_METHOD", "already_shipped", "check_shippable"]

#: The call that ships an order.
SHIP_METHOD = "pdd.logistics.online.send"


def already_shipped(record: Mapping[str, Any], shipment: Shipment) -> ShipmentResult | None:
    """Return the result of a shipment the order already carries, ``None`` if unshipped.

    Raises :class:`ConflictError` when the order shipped with another tracking number.
    """
    if str(record.get("order_status")) not in ("2", "3"):
        return None
    tracking = optional_text(record.get("tracking_number"))
    if tracking != shipment.tracking_number:
        raise ConflictError(
            f"order {shipment.order_id!r} is already shipped with another tracking number",
            operation=SHIP_METHOD,
        )
    ref = optional_text(record.get("logistics_id"))
    return ShipmentResult(order_id=shipment.order_id, already_shipped=True, marketplace_ref=ref)


def check_shippable(order: Order, shipment: Shipment) -> None:
    """Refuse a shipment of a held order, of an order past shipping, or of part of one."""
    if order.on_hold:
        raise ConflictError(
            f"order {order.order_id!r} is held: {order.hold_reason}", operation=SHIP_METHOD
        )
    if not order.status.awaits_shipment:
        raise ConflictError(
            f"order {order.order_id!r} cannot ship in status {order.status.value} "
            f"({order.raw_status}; {order.raw_refund_status})",
            operation=SHIP_METHOD,
        )
    if shipment.partial and not covers(order, shipment):
        raise InvalidRequestError(
            "PDD ships whole orders only; a split shipment cannot be sent",
            operation=SHIP_METHOD,
        )
