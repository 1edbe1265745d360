"""Small readers shared by the channel's calls: success flags, lists, counts, item errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channelsync.errors import (
    ChannelError,
    ConflictError,
    DataError,
    InvalidRequestError,
    NotFoundError,
)
from channelsync.models import Order, Shipment

__all__ = [
    "ITEM_CODES",
    "Refused",
    "covers",
    "is_item_error",
    "json_id",
    "list_of",
    "require_success",
    "total_count",
]

#: Codes that refuse one item (its parameters or state), not the whole call.
ITEM_CODES = frozenset({"10000", "21001", "21002"})


class Refused(Exception):
    """PDD answered ``is_success=false`` for one item."""


def is_item_error(error: ChannelError) -> bool:
    if isinstance(error, NotFoundError | ConflictError):
        return True
    code = (error.code or "").split("/", 1)[0]
    return isinstance(error, InvalidRequestError) and code in ITEM_CODES


def require_success(root: Mapping[str, Any], method: str) -> None:
    flag = root.get("is_success")
    if flag is True or str(flag).lower() in ("true", "1"):
        return
    if flag is None:
        raise DataError(f"{method}: the answer has no is_success flag", operation=method)
    raise Refused(f"{method}: PDD answered is_success=false")


def list_of(root: Mapping[str, Any], key: str, method: str) -> list[Any]:
    value = root.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(f"{method}: {key!r} is not a list", operation=method)
    return value


def total_count(root: Mapping[str, Any], method: str) -> int:
    value = root.get("total_count")
    try:
        return int(str(value))
    except ValueError:
        raise DataError(f"{method}: total_count {value!r} is not a number") from None


def json_id(value: str) -> int | str:
    """Return a numeric id as a JSON number (as PDD's examples send it), anything else as text."""
    return int(value) if value.isascii() and value.isdigit() else value


def covers(order: Order, shipment: Shipment) -> bool:
    shipped: dict[str | None, int] = {}
    for line in shipment.lines:
        shipped[line.sku_id] = shipped.get(line.sku_id, 0) + line.quantity
    ordered: dict[str | None, int] = {}
    for order_line in order.lines:
        ordered[order_line.sku_id] = ordered.get(order_line.sku_id, 0) + order_line.quantity
    return shipped == ordered
