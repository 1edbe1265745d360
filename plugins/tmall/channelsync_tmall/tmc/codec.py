"""The binary frames of TMC's "toplink" protocol, version 2.

One WebSocket binary message is one frame, all integers little-endian::

    u8 protocolVersion (2)   u8 messageType (0 CONNECT, 1 CONNECTACK, 2 SEND, 3 SENDACK)
    repeat: i16 headerType, payload
        2 StatusCode i32 | 3 StatusPhrase CountedString | 4 Flag i32 | 5 Token CountedString
        1 Custom: CountedString name, u8 valueFormat, value
    until headerType 0 (EndOfHeaders)

A CountedString is an i32 byte length and that many UTF-8 bytes (length 0: empty,
nothing follows). Custom values carry their format: 0 Void, 1 CountedString,
2 Byte, 3 Int16, 4 Int32, 5 Int64, 6 Date (i64 milliseconds since the Unix epoch),
7 ByteArray (i32 length and the bytes).

Python's ``int`` has no width, so a custom integer is written with the width its
type names (:class:`Byte`, :class:`Int16`, :class:`Int32`, :class:`Int64`; a plain
``int`` is refused rather than guessed) and decoded into the same types. Message ids
are :class:`Int64`, exact beyond 2**53. A ``datetime`` is a Date (aware only),
``bytes`` a ByteArray, ``str`` a CountedString and ``None`` Void.

The decoder is stricter than the Java SDK's: it refuses a frame that is not
version 2, an unknown header type or value format, a negative length, a header name
given twice, bytes after EndOfHeaders and a frame cut short, where the SDK would
read past the problem. Custom headers come in any order (the SDK writes them from
a hash map) and are returned as a mapping.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import ClassVar, Self

__all__ = [
    "PROTOCOL_VERSION",
    "Byte",
    "Frame",
    "FrameError",
    "HeaderType",
    "HeaderValue",
    "Int16",
    "Int32",
    "Int64",
    "MessageType",
    "ValueFormat",
    "decode_frame",
    "encode_frame",
]

PROTOCOL_VERSION = 2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class FrameError(ValueError):
    """A frame that cannot be read or written; the message says what is wrong."""


class MessageType(IntEnum):
    """The frame's ``messageType``."""

    CONNECT = 0
    CONNECTACK = 1
    SEND = 2
    SENDACK = 3


class HeaderType(IntEnum):
    """A header's ``headerType``."""

    END_OF_HEADERS = 0
    CUSTOM = 1
    STATUS_CODE = 2
    STATUS_PHRASE = 3
    FLAG = 4
    TOKEN = 5


class ValueFormat(IntEnum):
    """The ``valueFormat`` byte of a custom header."""

    VOID = 0
    COUNTED_STRING = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    DATE = 6
    BYTE_ARRAY = 7


class _SizedInt(int):
    """An integer that remembers the wire width it is written with."""

    format: ClassVar[ValueFormat]
    code: ClassVar[str]
    bits: ClassVar[int]

    def __new__(cls, value: int) -> Self:
        low, high = -(2 ** (cls.bits - 1)), 2 ** (cls.bits - 1) - 1
        if isinstance(value, bool) or not isinstance(value, int):
            raise FrameError(f"{cls.__name__} needs an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise FrameError(f"{value} does not fit in {cls.__name__} ({low}..{high})")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"

    def __str__(self) -> str:
        return int.__repr__(self)


class Byte(_SizedInt):
    """A signed 8-bit custom value (``valueFormat`` 2), e.g. ``__kind``."""

    format = ValueFormat.BYTE
    code = "<b"
    bits = 8


class Int16(_SizedInt):
    """A signed 16-bit custom value (``valueFormat`` 3)."""

    format = ValueFormat.INT16
    code = "<h"
    bits = 16


class Int32(_SizedInt):
    """A signed 32-bit custom value (``valueFormat`` 4)."""

    format = ValueFormat.INT32
    code = "<i"
    bits = 32


class Int64(_SizedInt):
    """A signed 64-bit custom value (``valueFormat`` 5): message ids, user ids."""

    format = ValueFormat.INT64
    code = "<q"
    bits = 64


HeaderValue = str | bytes | datetime | Byte | Int16 | Int32 | Int64 | None

_SIZED: dict[ValueFormat, type[Byte] | type[Int16] | type[Int32] | type[Int64]] = {
    cls.format: cls for cls in (Byte, Int16, Int32, Int64)
}


@dataclass(frozen=True)
class Frame:
    """One toplink frame.

    ``flag`` pairs a CONNECT with its CONNECTACK; ``token`` is the session token the
    CONNECTACK hands out and every later SEND carries; ``status_code`` and
    ``status_phrase`` mark an error frame; ``headers`` are the custom headers.
    Zero and empty values are not written, as in the SDK's encoder.
    """

    message_type: MessageType
    flag: int = 0
    token: str = ""
    status_code: int = 0
    status_phrase: str = ""
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        """Whether the frame reports an error (a status code above 0 or a status phrase)."""
        return self.status_code > 0 or bool(self.status_phrase)


def _counted(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack("<i", len(data)) + data


def _custom(name: str, value: object) -> bytes:
    head = struct.pack("<h", HeaderType.CUSTOM) + _counted(name)
    if value is None:
        return head + bytes([ValueFormat.VOID])
    if isinstance(value, _SizedInt):
        return head + bytes([value.format]) + struct.pack(value.code, int(value))
    if isinstance(value, bool | int):
        raise FrameError(
            f"header {name!r}: a plain int has no wire width; use Byte, Int16, Int32 or Int64"
        )
    if isinstance(value, str):
        return head + bytes([ValueFormat.COUNTED_STRING]) + _counted(value)
    if isinstance(value, bytes):
        return head + bytes([ValueFormat.BYTE_ARRAY]) + struct.pack("<i", len(value)) + bytes(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise FrameError(f"header {name!r}: a Date must be timezone-aware")
        millis = (value - _EPOCH) // _MILLISECOND
        return head + bytes([ValueFormat.DATE]) + struct.pack("<q", millis)
    raise FrameError(f"header {name!r}: cannot write a {type(value).__name__}")


def encode_frame(frame: Frame) -> bytes:
    """Return the bytes of ``frame`` (custom headers in the mapping's order)."""
    parts = [bytes([PROTOCOL_VERSION, frame.message_type])]
    try:
        if frame.status_code > 0:
            parts.append(struct.pack("<hi", HeaderType.STATUS_CODE, frame.status_code))
        if frame.status_phrase:
            phrase = _counted(frame.status_phrase)
            parts.append(struct.pack("<h", HeaderType.STATUS_PHRASE) + phrase)
        if frame.flag > 0:
            parts.append(struct.pack("<hi", HeaderType.FLAG, frame.flag))
        if frame.token:
            parts.append(struct.pack("<h", HeaderType.TOKEN) + _counted(frame.token))
    except struct.error as exc:
        raise FrameError(f"status code or flag out of range: {exc}") from None
    parts.extend(_custom(name, value) for name, value in frame.headers.items())
    parts.append(struct.pack("<h", HeaderType.END_OF_HEADERS))
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int, what: str) -> bytes:
        if size < 0:
            raise FrameError(f"{what}: negative length {size}")
        end = self.at + size
        if end > len(self.data):
            raise FrameError(f"frame cut short in {what} (offset {self.at}, {size} bytes needed)")
        chunk, self.at = self.data[self.at : end], end
        return chunk

    def unpack(self, code: str, what: str) -> int:
        value: int = struct.unpack(code, self.take(struct.calcsize(code), what))[0]
        return value

    def counted(self, what: str) -> str:
        size = self.unpack("<i", what)
        try:
            return self.take(size, what).decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError(f"{what} is not UTF-8") from None

    def value(self, name: str) -> HeaderValue:
        raw = self.unpack("<B", f"format of {name!r}")
        try:
            fmt = ValueFormat(raw)
        except ValueError:
            raise FrameError(f"header {name!r} has unknown value format {raw}") from None
        if fmt is ValueFormat.VOID:
            return None
        if fmt is ValueFormat.COUNTED_STRING:
            return self.counted(f"value of {name!r}")
        if fmt is ValueFormat.BYTE_ARRAY:
            return self.take(self.unpack("<i", f"length of {name!r}"), f"value of {name!r}")
        if fmt is ValueFormat.DATE:
            millis = self.unpack("<q", f"value of {name!r}")
            try:
                return _EPOCH + millis * _MILLISECOND
            except OverflowError:
                raise FrameError(f"header {name!r}: Date {millis} ms is out of range") from None
        sized = _SIZED[fmt]
        return sized(self.unpack(sized.code, f"value of {name!r}"))


def decode_frame(data: bytes) -> Frame:
    """Read one frame; raise :class:`FrameError` naming what is wrong with it."""
    reader = _Reader(bytes(data))
    version = reader.unpack("<B", "protocol version")
    if version != PROTOCOL_VERSION:
        raise FrameError(f"protocol version {version} is not supported (only 2)")
    raw_type = reader.unpack("<B", "message type")
    try:
        message_type = MessageType(raw_type)
    except ValueError:
        raise FrameError(f"unknown message type {raw_type}") from None
    flag = status_code = 0
    token = status_phrase = ""
    headers: dict[str, HeaderValue] = {}
    while True:
        raw_header = reader.unpack("<h", "header type")
        try:
            header = HeaderType(raw_header)
        except ValueError:
            raise FrameError(f"unknown header type {raw_header}") from None
        if header is HeaderType.END_OF_HEADERS:
            break
        if header is HeaderType.CUSTOM:
            name = reader.counted("header name")
            if name in headers:
                raise FrameError(f"header {name!r} appears twice")
            headers[name] = reader.value(name)
        elif header is HeaderType.STATUS_CODE:
            status_code = reader.unpack("<i", "status code")
        elif header is HeaderType.STATUS_PHRASE:
            status_phrase = reader.counted("status phrase")
        elif header is HeaderType.FLAG:
            flag = reader.unpack("<i", "flag")
        else:
            token = reader.counted("token")
    if reader.at != len(reader.data):
        raise FrameError(f"{len(reader.data) - reader.at} bytes after the end of the headers")
    return Frame(
        message_type=message_type,
        flag=flag,
        token=token,
        status_code=status_code,
        status_phrase=status_phrase,
        headers=headers,
    )
