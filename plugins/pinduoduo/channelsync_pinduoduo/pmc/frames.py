"""The PMC wire format: the signed URL, the JSON frames and events from business messages.

Pinduoduo's message service (PMC) is a WebSocket of JSON text frames. The client
connects to ``{events_url}/message/{client_id}/{timestamp_ms}/{sign}`` with
``sign = base64(lowercase hex MD5(client_id + timestamp_ms + client_secret))``; the
server sends ``Common`` frames (one business message each, whose ``message.content``
is a JSON string inside the JSON) and ``HeartBeat`` frames; the client answers each
message with ``Ack`` or ``Fail``, echoing ``id``, ``sendTime``, ``type`` and ``mallID``
exactly, and sends its own ``HeartBeat`` every 5 seconds.

Everything here is free of I/O. Ids are 64-bit integers (often past 2**53): frames
are decoded with Python's exact integers and numbers with a fraction as ``Decimal``,
so no id ever passes through a float, and the echoed values are the received ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from channelsync.channels.events import ChannelEvent, EventKind
from channelsync.clock import parse_local_time

__all__ = [
    "MAX_FAIL_REASON",
    "ORDER_TOPICS",
    "PMC_TOPICS",
    "REFUND_TOPICS",
    "BusinessMessage",
    "CommandType",
    "FrameError",
    "UnknownTopicError",
    "ack_frame",
    "event_from",
    "fail_frame",
    "from_millis",
    "heartbeat_frame",
    "millis",
    "pmc_sign",
    "pmc_url",
    "read_common",
    "read_frame",
]

#: The SDK cuts a ``Fail`` frame's reason to this many characters.
MAX_FAIL_REASON = 1000

#: Order topics (``pdd_trade_*``): the content's ``tid`` is the order_sn.
ORDER_TOPICS: tuple[str, ...] = (
    "pdd_trade_TradeConfirmed",
    "pdd_trade_TradeSellerShip",
    "pdd_trade_TradeSuccess",
    "pdd_trade_TradeRiskChanged",
    "pdd_trade_TradeLogisticsAddressChanged",
)

#: After-sales topics (``pdd_refund_*``): ``refund_id`` and the order's ``tid``.
REFUND_TOPICS: tuple[str, ...] = (
    "pdd_refund_RefundCreated",
    "pdd_refund_RefundAgreeAgreement",
    "pdd_refund_RefundBuyerReturnGoods",
    "pdd_refund_RefundClosed",
)

#: Every topic the channel maps, the list ``pdd.pmc.user.permit`` is called with.
PMC_TOPICS: tuple[str, ...] = ORDER_TOPICS + REFUND_TOPICS

_ORDER_PREFIX = "pdd_trade_"
_REFUND_PREFIX = "pdd_refund_"


class CommandType(StrEnum):
    """A frame's ``commandType``."""

    COMMON = "Common"
    HEARTBEAT = "HeartBeat"
    ACK = "Ack"
    FAIL = "Fail"


class FrameError(ValueError):
    """A frame or message that cannot be read; the text names the problem, never the content."""


class UnknownTopicError(FrameError):
    """A readable message on a topic the channel does not map."""


def millis(moment: datetime) -> int:
    """Return an aware datetime as UNIX milliseconds (what PMC's clocks speak)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)


def from_millis(value: int) -> datetime:
    """Return UNIX milliseconds as an aware UTC datetime, exactly."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)


def pmc_sign(client_id: str, timestamp_ms: int, client_secret: str) -> str:
    """Return the handshake signature: base64 of the lowercase hex MD5, not of the digest."""
    text = f"{client_id}{timestamp_ms}{client_secret}".encode()
    hex_digest = hashlib.md5(text, usedforsecurity=False).hexdigest()
    return base64.b64encode(hex_digest.encode("ascii")).decode("ascii")


def pmc_url(events_url: str, client_id: str, timestamp_ms: int, client_secret: str) -> str:
    """Return the URL a connection opens; the sign is only ``[A-Za-z0-9=]``, sent as is."""
    sign = pmc_sign(client_id, timestamp_ms, client_secret)
    return f"{events_url.rstrip('/')}/message/{quote(client_id, safe='')}/{timestamp_ms}/{sign}"


def _dumps(frame: Mapping[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def read_frame(text: str) -> dict[str, Any]:
    """Decode one text frame to a JSON object (exact integers, ``Decimal`` fractions)."""
    try:
        frame = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise FrameError(f"not JSON ({exc.msg} at character {exc.pos} of {len(text)})") from None
    if not isinstance(frame, dict):
        raise FrameError(f"a JSON {type(frame).__name__}, not an object")
    return frame


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _echoable(value: Any) -> bool:
    # What the SDK's Long fields can hold, as JSON gives it: an integer, text or null.
    return value is None or _is_integer(value) or isinstance(value, str)


@dataclass(frozen=True)
class BusinessMessage:
    """A ``Common`` frame's message, with the values an ``Ack`` or ``Fail`` echoes.

    ``frame_id``, ``send_time`` and ``mall_id`` are kept exactly as they arrived
    (Python integers, or text where the server sent text). ``content`` is the decoded
    ``message.content``; ``content_error`` says why it could not be decoded.
    """

    frame_id: int | str
    send_time: int | str | None
    topic: str
    mall_id: int | str | None
    content: dict[str, Any] | None
    content_error: str | None = None

    @property
    def message_id(self) -> str:
        """The frame id as text: the deduplication key."""
        return str(self.frame_id)


def read_common(frame: Mapping[str, Any]) -> BusinessMessage:
    """Read a ``Common`` frame; :class:`FrameError` when it cannot even be acknowledged."""
    frame_id = frame.get("id")
    if not isinstance(frame_id, int | str) or not (
        _is_integer(frame_id) or (isinstance(frame_id, str) and frame_id.isdigit())
    ):
        raise FrameError("a Common frame without an integer id")
    message = frame.get("message")
    if not isinstance(message, Mapping):
        raise FrameError(f"Common frame {frame_id} has no message object")
    topic = message.get("type")
    if not isinstance(topic, str) or not topic:
        raise FrameError(f"Common frame {frame_id} has no message type")
    send_time, mall_id = frame.get("sendTime"), message.get("mallID")
    if not _echoable(send_time) or not _echoable(mall_id):
        raise FrameError(f"Common frame {frame_id}: sendTime or mallID is not an integer")
    content, problem = _content(message.get("content"))
    return BusinessMessage(frame_id, send_time, topic, mall_id, content, problem)


def _content(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(raw, Mapping):
        return dict(raw), None
    if not isinstance(raw, str):
        return None, "message.content is missing or not a JSON string"
    try:
        content = json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return None, f"message.content is not JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(content, dict):
        return None, "message.content is not a JSON object"
    return content, None


def _answer(message: BusinessMessage, command: CommandType, now_ms: int) -> dict[str, Any]:
    return {
        "id": message.frame_id,
        "commandType": command.value,
        "time": now_ms,
        "sendTime": message.send_time,
        "type": message.topic,
        "mallID": message.mall_id,
    }


def ack_frame(message: BusinessMessage, now_ms: int) -> str:
    """Return the ``Ack`` for ``message``: its id, sendTime, type and mallID, ``time`` now."""
    return _dumps(_answer(message, CommandType.ACK, now_ms))


def fail_frame(message: BusinessMessage, now_ms: int, reason: str) -> str:
    """Return the ``Fail`` for ``message``, its ``failReason`` cut to 1000 characters."""
    frame = _answer(message, CommandType.FAIL, now_ms)
    frame["failReason"] = reason[:MAX_FAIL_REASON]
    return _dumps(frame)


def heartbeat_frame(now_ms: int) -> str:
    """Return the client's ``HeartBeat`` (sent every 5 seconds)."""
    return _dumps({"id": now_ms, "commandType": CommandType.HEARTBEAT.value, "time": now_ms})


def _text_id(value: Any, name: str, message: BusinessMessage) -> str:
    if _is_integer(value) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise FrameError(
        f"message {message.message_id} on {message.topic}: {name} is missing or not an id"
    )


def _moment(value: Any) -> datetime | None:
    """Read a PMC time: UNIX milliseconds (as a number or digits) or a GMT+8 wall time."""
    if _is_integer(value):
        return from_millis(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return from_millis(int(text))
        try:
            return parse_local_time(text)
        except ValueError:
            return None
    return None


def event_from(message: BusinessMessage, *, delivery: str) -> ChannelEvent:
    """Map a business message to a :class:`ChannelEvent`.

    ``pdd_trade_*`` topics are order events keyed by ``tid`` (the order_sn);
    ``pdd_refund_*`` topics are refund events keyed by ``refund_id`` with the order's
    ``tid``. ``occurred_at`` is the content's ``modified`` where it has one, else the
    frame's ``sendTime``, both as aware UTC. Raises :class:`UnknownTopicError` for
    any other topic and :class:`FrameError` for unreadable content.
    """
    if not message.topic.startswith((_ORDER_PREFIX, _REFUND_PREFIX)):
        raise UnknownTopicError(f"topic {message.topic} is not mapped")
    if message.content is None:
        raise FrameError(f"message {message.message_id}: {message.content_error}")
    content = message.content
    occurred = _moment(content.get("modified")) or _moment(message.send_time)
    if message.topic.startswith(_ORDER_PREFIX):
        kind, key = EventKind.ORDER, _text_id(content.get("tid"), "tid", message)
        order_id: str | None = key
    else:
        kind = EventKind.REFUND
        key = _text_id(content.get("refund_id"), "refund_id", message)
        tid = content.get("tid")
        order_id = _text_id(tid, "tid", message) if tid not in (None, "") else None
    return ChannelEvent(
        kind=kind,
        message_id=message.message_id,
        key=key,
        topic=message.topic,
        order_id=order_id,
        occurred_at=occurred,
        delivery=delivery,
    )
