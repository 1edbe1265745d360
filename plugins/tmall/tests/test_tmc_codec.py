"""The toplink v2 frames and TMC messages against the reference's vectors (push.md §1.3-1.5)."""

from __future__ import annotations

import gzip
import json
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from channelsync_tmall.tmc.codec import (
    Byte,
    Frame,
    FrameError,
    Int16,
    Int32,
    Int64,
    MessageType,
    decode_frame,
    encode_frame,
)
from channelsync_tmall.tmc.protocol import (
    MAX_CONTENT_BYTES,
    MessageKind,
    MessageProblem,
    confirm_frame,
    connect_frame,
    connect_sign,
    failed_frame,
    parse_data,
    pull_frame,
)

CONNECTACK = bytes.fromhex("02 01 04 00 01 00 00 00 05 00 03 00 00 00 74 6f 6b 00 00")
CONFIRM = bytes.fromhex(
    "02 02 05 00 03 00 00 00 74 6f 6b"
    " 01 00 06 00 00 00 5f 5f 6b 69 6e 64 02 02"
    " 01 00 02 00 00 00 69 64 05 79 df 0d 86 48 70 00 00"
    " 00 00"
)
PULL = bytes.fromhex(
    "02 02 05 00 03 00 00 00 74 6f 6b 01 00 06 00 00 00 5f 5f 6b 69 6e 64 02 01 00 00"
)


def test_connect_sign_vector() -> None:
    sign = connect_sign(
        "test_secret", app_key="12345678", group_name="default", timestamp="1700000000000"
    )
    assert sign == "0817D5DA9A361347F7AD4574C6950661"


def test_connectack_vector_encodes_and_decodes() -> None:
    frame = Frame(MessageType.CONNECTACK, flag=1, token="tok")
    assert encode_frame(frame) == CONNECTACK
    assert decode_frame(CONNECTACK) == frame


def test_confirm_vector_encodes_and_decodes() -> None:
    assert encode_frame(confirm_frame("tok", 123456789012345)) == CONFIRM
    decoded = decode_frame(CONFIRM)
    assert decoded.token == "tok"
    assert decoded.headers == {"__kind": Byte(MessageKind.CONFIRM), "id": 123456789012345}
    assert type(decoded.headers["__kind"]) is Byte
    assert type(decoded.headers["id"]) is Int64


def test_pull_request_vector() -> None:
    assert encode_frame(pull_frame("tok")) == PULL
    assert decode_frame(PULL).headers == {"__kind": Byte(MessageKind.PULL_REQUEST)}


def test_decoder_does_not_depend_on_custom_header_order() -> None:
    swapped = bytes.fromhex(
        "02 02 05 00 03 00 00 00 74 6f 6b"
        " 01 00 02 00 00 00 69 64 05 79 df 0d 86 48 70 00 00"
        " 01 00 06 00 00 00 5f 5f 6b 69 6e 64 02 02"
        " 00 00"
    )
    assert decode_frame(swapped) == decode_frame(CONFIRM)
    # The status and token headers may come after the custom ones, too.
    late_token = bytes.fromhex(
        "02 02 01 00 06 00 00 00 5f 5f 6b 69 6e 64 02 01 05 00 03 00 00 00 74 6f 6b 00 00"
    )
    assert decode_frame(late_token) == decode_frame(PULL)


def test_every_value_format_round_trips() -> None:
    moment = datetime(2026, 12, 3, 8, 37, 15, 123000, tzinfo=UTC)
    headers = {
        "void": None,
        "text": "淘宝 nick",
        "empty": "",
        "byte": Byte(-128),
        "short": Int16(32767),
        "int": Int32(-(2**31)),
        "long": Int64(2**63 - 1),
        "date": moment,
        "blob": b"\x00\x01\xff",
    }
    frame = Frame(MessageType.SEND, token="t", headers=headers)
    decoded = decode_frame(encode_frame(frame))
    assert decoded.headers == headers
    assert {name: type(value) for name, value in decoded.headers.items()} == {
        name: type(value) for name, value in headers.items()
    }


def test_strings_are_counted_in_utf8_bytes_and_empty_is_an_i32_zero() -> None:
    # tmcpy counts characters and writes an empty string as one 0x00 byte: not here.
    encoded = encode_frame(Frame(MessageType.SEND, headers={"n": "店", "e": ""}))
    assert b"\x01\x00\x01\x00\x00\x00n\x01\x03\x00\x00\x00\xe5\xba\x97" in encoded
    assert b"\x01\x00\x01\x00\x00\x00e\x01\x00\x00\x00\x00" in encoded


def test_integers_keep_their_declared_width() -> None:
    # tmcpy picks the smallest width; an id must be an Int64 even when small.
    encoded = encode_frame(Frame(MessageType.SEND, headers={"id": Int64(5)}))
    assert encoded.endswith(b"id\x05" + struct.pack("<q", 5) + b"\x00\x00")
    with pytest.raises(FrameError, match="plain int"):
        encode_frame(Frame(MessageType.SEND, headers={"id": 5}))  # type: ignore[dict-item]
    with pytest.raises(FrameError, match="does not fit"):
        Byte(200)
    assert str(Int64(2**62)) == str(2**62)


def test_dates_are_utc_milliseconds_and_decode_aware() -> None:
    beijing = datetime(2024, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    encoded = encode_frame(Frame(MessageType.SEND, headers={"time": beijing}))
    assert struct.pack("<q", 1709265600000) in encoded
    decoded = decode_frame(encoded).headers["time"]
    assert decoded == beijing
    assert isinstance(decoded, datetime)
    assert decoded.utcoffset() == timedelta(0)
    with pytest.raises(FrameError, match="timezone-aware"):
        encode_frame(Frame(MessageType.SEND, headers={"time": datetime(2024, 3, 1)}))  # noqa: DTZ001


def test_status_headers_and_error_frames() -> None:
    refusal = Frame(MessageType.CONNECTACK, flag=3, status_code=401, status_phrase="bad sign")
    decoded = decode_frame(encode_frame(refusal))
    assert decoded == refusal
    assert decoded.is_error
    assert not decode_frame(CONNECTACK).is_error


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "cut short"),
        (b"\x01\x02\x00\x00", "version 1"),
        (b"\x02\x09\x00\x00", "message type 9"),
        (b"\x02\x02\x09\x00", "header type 9"),
        (CONFIRM[:-5], "cut short"),
        (CONFIRM + b"\x00", "after the end"),
        (b"\x02\x02\x05\x00\xff\xff\xff\xff", "negative length"),
        (b"\x02\x02\x01\x00\x01\x00\x00\x00a\x09\x00\x00", "unknown value format 9"),
        (b"\x02\x02\x05\x00\x02\x00\x00\x00\xff\xfe\x00\x00", "not UTF-8"),
        (
            b"\x02\x02\x01\x00\x01\x00\x00\x00a\x00\x01\x00\x01\x00\x00\x00a\x00\x00\x00",
            "appears twice",
        ),
        (
            b"\x02\x02\x01\x00\x01\x00\x00\x00d\x06" + struct.pack("<q", 2**62) + b"\x00\x00",
            "out of range",
        ),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(data: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        decode_frame(data)


def test_connect_frame_carries_the_signed_headers() -> None:
    frame = connect_frame(
        app_key="12345678",
        secret="test_secret",
        group_name="default",
        timestamp_ms=1700000000000,
        flag=1,
        sdk="channelsync-tmall-test",
    )
    decoded = decode_frame(encode_frame(frame))
    assert decoded.message_type is MessageType.CONNECT
    assert decoded.flag == 1
    assert decoded.headers == {
        "app_key": "12345678",
        "group_name": "default",
        "timestamp": "1700000000000",
        "sign": "0817D5DA9A361347F7AD4574C6950661",
        "sdk": "channelsync-tmall-test",
    }
    with_token = connect_frame(
        app_key="1",
        secret="s",
        group_name="default",
        timestamp_ms=1,
        flag=2,
        sdk="x",
        token="auth-token",
    )
    assert with_token.headers["token"] == "auth-token"


def test_failed_frame_cuts_the_reason_to_128_characters() -> None:
    decoded = decode_frame(encode_frame(failed_frame("tok", 2**60, "原因" * 100)))
    assert decoded.headers["__kind"] == MessageKind.FAILED
    assert decoded.headers["id"] == 2**60
    assert decoded.headers["msg"] == ("原因" * 100)[:128]


def _data(**headers: object) -> Frame:
    return decode_frame(encode_frame(Frame(MessageType.SEND, token="tok", headers=headers)))  # type: ignore[arg-type]


def test_data_message_with_plain_and_gzip_content() -> None:
    document = '{"tid": 2918463734761365258, "payment": "120.00"}'
    published = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    plain = parse_data(
        _data(
            topic="taobao_trade_TradeCreate",
            content=document,
            time=published,
            userid=Int64(2232897825),
            nick="卖家",
            publisher="4272",
            dataid=Int64(2918463734761365258),
            id=Int64(2**63 - 2),
        )
    )
    assert plain.message_id == 2**63 - 2
    assert plain.content == document
    assert plain.published_at == published
    assert plain.user_id == 2232897825
    assert plain.data_id == "2918463734761365258"
    packed = gzip.compress(document.encode())
    zipped = parse_data(_data(id=Int64(7), topic="taobao_trade_TradeCreate", content=packed))
    assert zipped.content == document
    assert json.loads(zipped.content)["tid"] == 2918463734761365258


@pytest.mark.parametrize(
    ("headers", "problem", "has_id"),
    [
        ({"topic": "t", "content": "{}"}, "missing", False),
        ({"id": Int32(5), "topic": "t", "content": "{}"}, "Int32, not an Int64", False),
        ({"id": Int64(5), "content": "{}"}, "no topic", True),
        ({"id": Int64(5), "topic": "t"}, "no content", True),
        ({"id": Int64(5), "topic": "t", "content": b"not gzip"}, "not gzip", True),
        ({"id": Int64(5), "topic": "t", "content": "{}", "time": "today"}, "not a Date", True),
    ],
)
def test_data_message_problems_name_the_message(
    headers: dict[str, object], problem: str, has_id: bool
) -> None:
    with pytest.raises(MessageProblem, match=problem) as caught:
        parse_data(_data(**headers))
    assert (caught.value.message_id == 5) is has_id


def test_gzip_content_is_bounded() -> None:
    bomb = gzip.compress(b"{" + b" " * (MAX_CONTENT_BYTES + 10) + b"}")
    with pytest.raises(MessageProblem, match="unzips past"):
        parse_data(_data(id=Int64(9), topic="t", content=bomb))
