"""TMC topics and their mapping onto :class:`~channelsync.channels.ChannelEvent`.

``taobao_trade_*`` topics are order events keyed by ``tid``; ``taobao_refund_*``
refund events keyed by ``refund_id`` with ``tid`` as the order; ``taobao_item_*``
listing events keyed by ``num_iid``. Ids are read from the content with Python's
``json`` (exact integers; a float is refused, never rounded). ``occurred_at`` is
the content's ``modified`` (GMT+8 wall time) where it has one, else the time the
message was published.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from channelsync.channels import ChannelEvent, EventKind
from channelsync.clock import parse_local_time
from channelsync_tmall.tmc.protocol import DataMessage, MessageProblem

__all__ = [
    "EVENT_TOPICS",
    "ITEM_TOPICS",
    "REFUND_TOPICS",
    "TRADE_TOPICS",
    "UnknownTopic",
    "to_event",
    "topic_kind",
]

_TRADE = "taobao_trade_"
_REFUND = "taobao_refund_"
_ITEM = "taobao_item_"

#: The trade topics this plugin asks for (all answered by re-reading the trade).
TRADE_TOPICS: tuple[str, ...] = tuple(
    _TRADE + name
    for name in (
        "TradeCreate",
        "TradeBuyerPay",
        "TradeSellerShip",
        "TradePartlySellerShip",
        "TradeSuccess",
        "TradeClose",
        "TradeCloseAndModifyDetailOrder",
        "TradeModifyFee",
        "TradeMemoModified",
        "TradeLogisticsAddressChanged",
        "TradeChanged",
        "TradePartlyRefund",
        "TradeDelayConfirmPay",
        "TradeRated",
    )
)
#: The refund topics (``RefundCreated``, not ``RefundCreate``).
REFUND_TOPICS: tuple[str, ...] = tuple(
    _REFUND + name
    for name in (
        "RefundCreated",
        "RefundSellerAgreeAgreement",
        "RefundSellerRefuseAgreement",
        "RefundBuyerModifyAgreement",
        "RefundBuyerReturnGoods",
        "RefundClosed",
        "RefundSuccess",
    )
)
#: The item topics.
ITEM_TOPICS: tuple[str, ...] = tuple(
    _ITEM + name
    for name in (
        "ItemAdd",
        "ItemUpshelf",
        "ItemDownshelf",
        "ItemDelete",
        "ItemUpdate",
        "ItemZeroStock",
        "ItemSkuZeroStock",
        "ItemStockChanged",
    )
)
#: Every topic ``enable_events`` permits for a shop.
EVENT_TOPICS: tuple[str, ...] = TRADE_TOPICS + REFUND_TOPICS + ITEM_TOPICS


class UnknownTopic(MessageProblem):
    """A message whose topic this plugin does not map."""

    def __init__(self, topic: str, message_id: int | None = None) -> None:
        super().__init__(f"topic {topic!r} is not mapped", message_id)
        self.topic = topic


def topic_kind(topic: str) -> EventKind | None:
    """Return the event kind of ``topic`` by its prefix (``None``: not mapped)."""
    if topic.startswith(_TRADE):
        return EventKind.ORDER
    if topic.startswith(_REFUND):
        return EventKind.REFUND
    if topic.startswith(_ITEM):
        return EventKind.LISTING
    return None


def _content(message: DataMessage) -> Mapping[str, Any]:
    try:
        # Decimal for fractions: no value of the message ever passes through a float.
        document = json.loads(message.content, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise MessageProblem("content is not JSON", message.message_id) from None
    if not isinstance(document, dict):
        raise MessageProblem("content is not a JSON object", message.message_id)
    return document


def _id(content: Mapping[str, Any], name: str, message: DataMessage) -> str | None:
    value = content.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return str(int(value))
    raise MessageProblem(f"{name} is not a positive whole number", message.message_id)


def _required_id(content: Mapping[str, Any], name: str, message: DataMessage) -> str:
    value = _id(content, name, message)
    if value is None:
        raise MessageProblem(f"content has no {name}", message.message_id)
    return value


def to_event(message: DataMessage, *, delivery: str) -> ChannelEvent:
    """Map ``message`` to an event; raise :class:`MessageProblem` when it cannot be.

    ``delivery`` names the connection that received it (for the acknowledgement).
    """
    kind = topic_kind(message.topic)
    if kind is None:
        raise UnknownTopic(message.topic, message.message_id)
    content = _content(message)
    order_id: str | None = None
    if kind is EventKind.ORDER:
        key = _required_id(content, "tid", message)
        order_id = key
    elif kind is EventKind.REFUND:
        key = _required_id(content, "refund_id", message)
        order_id = _id(content, "tid", message)
    else:
        key = _required_id(content, "num_iid", message)
    occurred_at = message.published_at
    modified = content.get("modified")
    if isinstance(modified, str):
        # The publish time stands in for a modified time that cannot be read.
        with contextlib.suppress(ValueError):
            occurred_at = parse_local_time(modified)
    try:
        return ChannelEvent(
            kind=kind,
            message_id=str(message.message_id),
            key=key,
            topic=message.topic,
            order_id=order_id,
            occurred_at=occurred_at,
            delivery=delivery,
        )
    except ValidationError as exc:
        reason = "; ".join(str(error["msg"]) for error in exc.errors())
        raise MessageProblem(f"not a valid event: {reason}", message.message_id) from None
