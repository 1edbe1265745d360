"""TMC's messages on top of the toplink frames: handshake, data, confirm, fail, pull.

Pure functions, no I/O: the listener and the fake both build and read their frames
here, so the wire rules live in one place.

* CONNECT carries ``app_key``, ``group_name``, ``timestamp`` (epoch milliseconds as
  text), ``sign`` (TOP's MD5 signature over exactly those three) and ``sdk``, plus
  ``token`` from ``taobao.tmc.auth.get`` where the newer SDK sends one.
* Every SEND after the CONNECTACK carries the session token; the ``__kind`` custom
  header (a Byte) says what a client SEND is: 1 PullRequest, 2 Confirm (``id``),
  20 Failed (``id``, ``msg``).
* A data message from the server has ``id`` (Int64), ``topic``, ``content`` (JSON
  text, or gzip of it as a ByteArray), ``time`` (Date), ``userid``, ``nick``,
  ``publisher``, ``dataid`` and ``outtime``; it need not carry ``__kind``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from channelsync.http import ParamDigest, sign_params
from channelsync_tmall.tmc.codec import (
    Byte,
    Frame,
    HeaderValue,
    Int64,
    MessageType,
)

__all__ = [
    "FAIL_REASON_LIMIT",
    "KIND",
    "MAX_CONTENT_BYTES",
    "DataMessage",
    "MessageKind",
    "MessageProblem",
    "confirm_frame",
    "connect_frame",
    "connect_sign",
    "failed_frame",
    "parse_data",
    "pull_frame",
]

#: The custom header naming a SEND's kind.
KIND = "__kind"
#: The SDK cuts a failure reason to 128 characters before sending it.
FAIL_REASON_LIMIT = 128
#: The largest unzipped ``content`` accepted (a gzip bomb stops here).
MAX_CONTENT_BYTES = 4 * 1024 * 1024


class MessageKind(IntEnum):
    """The ``__kind`` of a SEND."""

    NONE = 0
    PULL_REQUEST = 1
    CONFIRM = 2
    DATA = 3
    FAILED = 20


class MessageProblem(ValueError):
    """A data message that can never be processed; ``message_id`` when it was readable."""

    def __init__(self, reason: str, message_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message_id = message_id


def connect_sign(secret: str, *, app_key: str, group_name: str, timestamp: str) -> str:
    """Return the CONNECT ``sign``: TOP's MD5 signature of app key, group name and timestamp."""
    params = {"app_key": app_key, "group_name": group_name, "timestamp": timestamp}
    return sign_params(params, secret, ParamDigest.MD5)


def connect_frame(
    *,
    app_key: str,
    secret: str,
    group_name: str,
    timestamp_ms: int,
    flag: int,
    sdk: str,
    token: str | None = None,
) -> Frame:
    """Return a signed CONNECT frame (``token``: the ``taobao.tmc.auth.get`` result, if any)."""
    timestamp = str(timestamp_ms)
    headers: dict[str, HeaderValue] = {
        "app_key": app_key,
        "group_name": group_name,
        "timestamp": timestamp,
        "sign": connect_sign(secret, app_key=app_key, group_name=group_name, timestamp=timestamp),
        "sdk": sdk,
    }
    if token:
        headers["token"] = token
    return Frame(MessageType.CONNECT, flag=flag, headers=headers)


def pull_frame(token: str) -> Frame:
    """Return a PullRequest: ask the server to push what is pending now."""
    return Frame(MessageType.SEND, token=token, headers={KIND: Byte(MessageKind.PULL_REQUEST)})


def confirm_frame(token: str, message_id: int) -> Frame:
    """Return a Confirm of ``message_id``: the server will not deliver it again."""
    return Frame(
        MessageType.SEND,
        token=token,
        headers={KIND: Byte(MessageKind.CONFIRM), "id": Int64(message_id)},
    )


def failed_frame(token: str, message_id: int, reason: str) -> Frame:
    """Return a Failed for ``message_id`` (redeliver later), the reason cut to 128 characters."""
    return Frame(
        MessageType.SEND,
        token=token,
        headers={
            KIND: Byte(MessageKind.FAILED),
            "id": Int64(message_id),
            "msg": reason[:FAIL_REASON_LIMIT],
        },
    )


@dataclass(frozen=True)
class DataMessage:
    """A pushed message as the SDK's ``TmcHandler.parse`` reads it.

    ``content`` is the topic's JSON document as text (unzipped when it came as gzip).
    """

    message_id: int
    topic: str
    content: str
    published_at: datetime | None = None
    user_id: int | None = None
    nick: str | None = None
    publisher: str | None = None
    data_id: str | None = None
    sent_at: datetime | None = None


def _text(headers: Mapping[str, HeaderValue], name: str, message_id: int) -> str | None:
    value = headers.get(name)
    if value is None or isinstance(value, str):
        return value or None
    raise MessageProblem(f"{name} is a {type(value).__name__}, not a string", message_id)


def _date(headers: Mapping[str, HeaderValue], name: str, message_id: int) -> datetime | None:
    value = headers.get(name)
    if value is None or isinstance(value, datetime):
        return value
    raise MessageProblem(f"{name} is a {type(value).__name__}, not a Date", message_id)


def _unzip(data: bytes, message_id: int) -> str:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(data, MAX_CONTENT_BYTES)
    except zlib.error as exc:
        raise MessageProblem(f"content is not gzip ({exc})", message_id) from None
    if inflater.unconsumed_tail:
        raise MessageProblem(f"content unzips past {MAX_CONTENT_BYTES} bytes", message_id)
    if not inflater.eof:
        raise MessageProblem("content is a truncated gzip stream", message_id)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageProblem("unzipped content is not UTF-8", message_id) from None


def parse_data(frame: Frame) -> DataMessage:
    """Read a server SEND as a data message; raise :class:`MessageProblem` when it is not one.

    The id must be an Int64, as the SDK casts it; every later problem carries the id,
    so the caller can confirm a message that can never be processed.
    """
    headers = frame.headers
    raw_id = headers.get("id")
    if not isinstance(raw_id, Int64):
        found = "missing" if raw_id is None else f"a {type(raw_id).__name__}"
        raise MessageProblem(f"message id is {found}, not an Int64")
    message_id = int(raw_id)
    topic = _text(headers, "topic", message_id)
    if not topic:
        raise MessageProblem("the message has no topic", message_id)
    raw_content = headers.get("content")
    if isinstance(raw_content, str) and raw_content:
        content = raw_content
    elif isinstance(raw_content, bytes) and raw_content:
        content = _unzip(raw_content, message_id)
    else:
        raise MessageProblem("the message has no content", message_id)
    user_id = headers.get("userid")
    if user_id is not None and not isinstance(user_id, int):
        raise MessageProblem("userid is not an integer", message_id)
    data_id = headers.get("dataid")
    return DataMessage(
        message_id=message_id,
        topic=topic,
        content=content,
        published_at=_date(headers, "time", message_id),
        user_id=None if user_id is None else int(user_id),
        nick=_text(headers, "nick", message_id),
        publisher=_text(headers, "publisher", message_id),
        data_id=None if data_id is None or isinstance(data_id, bytes) else str(data_id),
        sent_at=_date(headers, "outtime", message_id),
    )
