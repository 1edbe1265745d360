"""PMC wire vectors from push.md §2: the signed URL, frames, acknowledgements, event mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from channelsync_pinduoduo import PinduoduoSettings
from channelsync_pinduoduo.fake.pmc import expected_sign
from channelsync_pinduoduo.pmc.frames import (
    MAX_FAIL_REASON,
    PMC_TOPICS,
    FrameError,
    UnknownTopicError,
    ack_frame,
    event_from,
    fail_frame,
    from_millis,
    heartbeat_frame,
    millis,
    pmc_sign,
    pmc_url,
    read_common,
    read_frame,
)
from channelsync_pinduoduo.pmc.listener import mask_sign
from pydantic import ValidationError

from channelsync.channels.events import EventKind

BIG_ID = 2**53 + 1  # 9007199254740993: a float would read it as ...992
BIG_MALL = 2**62 + 7

REFUND_FRAME = (
    '{"id": 1234567890123, "appId": 123, "commandType": "Common", "time": 1625637425100, '
    '"sendTime": 1625637425016, "message": {"type": "pdd_refund_RefundCreated", '
    '"mallID": 171504183, "content": "{\\"mall_id\\":171504183,\\"refund_fee\\":1990,'
    '\\"bill_type\\":1,\\"modified\\":1625637425016,\\"refund_id\\":7381745730,'
    '\\"operation\\":1000,\\"tid\\":\\"210707-339507978993455\\"}"}}'
)


def _common(frame_id: object = BIG_ID, *, topic: str = "pdd_trade_TradeConfirmed") -> str:
    content = json.dumps({"mall_id": BIG_MALL, "tid": "210822-038440825871540"})
    return (
        f'{{"id": {frame_id}, "commandType": "Common", "time": 1700000000200, '
        f'"sendTime": 1700000000123, "message": {{"type": "{topic}", '
        f'"mallID": {BIG_MALL}, "content": {json.dumps(content)}}}}}'
    )


def test_the_reference_sign_vector() -> None:
    sign = pmc_sign("test_client", 1700000000000, "test_secret")
    assert sign == "YWVmMjM2Mzg1YzJkNTViNmYwNGY1OTE3MGQzNzdhMzc="
    # The fake computes it on its own, from the same reference.
    assert expected_sign("test_client", "1700000000000", "test_secret") == sign


def test_the_reference_url_vector() -> None:
    url = pmc_url("wss://message-api.pinduoduo.com", "test_client", 1700000000000, "test_secret")
    assert url == (
        "wss://message-api.pinduoduo.com/message/test_client/1700000000000/"
        "YWVmMjM2Mzg1YzJkNTViNmYwNGY1OTE3MGQzNzdhMzc="
    )
    assert mask_sign(f"GET {url.split('.com')[1]} HTTP/1.1") == (
        "GET /message/test_client/1700000000000/*** HTTP/1.1"
    )


def test_events_url_defaults_to_pmc_and_rejects_other_schemes() -> None:
    settings = PinduoduoSettings(client_id="c")
    assert settings.events_url == "wss://message-api.pinduoduo.com"
    backup = PinduoduoSettings(client_id="c", events_url="wss://message-api.yangkeduo.com/")
    assert backup.events_url == "wss://message-api.yangkeduo.com"
    with pytest.raises(ValidationError, match="events_url 'https://message-api"):
        PinduoduoSettings(client_id="c", events_url="https://message-api.pinduoduo.com")
    with pytest.raises(ValidationError, match="query or a fragment"):
        PinduoduoSettings(client_id="c", events_url="wss://h.example/?a=1")


def test_the_reference_refund_frame_maps_to_a_refund_event() -> None:
    message = read_common(read_frame(REFUND_FRAME))
    assert message.content is not None
    assert message.content["refund_fee"] == 1990  # fen, an integer
    event = event_from(message, delivery="1:1")
    assert event.kind is EventKind.REFUND
    assert event.message_id == "1234567890123"
    assert event.key == "7381745730"
    assert event.order_id == "210707-339507978993455"
    assert event.topic == "pdd_refund_RefundCreated"
    # modified is UNIX milliseconds: 2021-07-07 13:57:05.016 in Beijing.
    assert event.occurred_at == datetime(2021, 7, 7, 5, 57, 5, 16000, tzinfo=UTC)


def test_an_order_event_is_keyed_by_tid_and_dated_by_send_time() -> None:
    event = event_from(read_common(read_frame(_common())), delivery="1:1")
    assert event.kind is EventKind.ORDER
    assert event.key == event.order_id == "210822-038440825871540"
    assert event.message_id == str(BIG_ID)
    assert event.occurred_at == from_millis(1700000000123)


def test_a_beijing_wall_time_in_content_becomes_utc() -> None:
    frame = read_frame(_common())
    frame["message"]["content"] = json.dumps({"tid": "1-2", "modified": "2024-03-01 12:00:00"})
    event = event_from(read_common(frame), delivery="1:1")
    assert event.occurred_at == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)


def test_ack_echoes_ids_past_2_53_exactly() -> None:
    message = read_common(read_frame(_common()))
    ack = json.loads(ack_frame(message, 1700000001000))
    assert ack == {
        "id": BIG_ID,
        "commandType": "Ack",
        "time": 1700000001000,
        "sendTime": 1700000000123,
        "type": "pdd_trade_TradeConfirmed",
        "mallID": BIG_MALL,
    }
    assert f'"id":{BIG_ID},' in ack_frame(message, 1)
    assert f'"mallID":{BIG_MALL}' in ack_frame(message, 1)


def test_fail_carries_a_reason_cut_to_1000_characters() -> None:
    message = read_common(read_frame(_common()))
    fail = json.loads(fail_frame(message, 5, "x" * 1500))
    assert fail["commandType"] == "Fail"
    assert fail["id"] == BIG_ID
    assert fail["failReason"] == "x" * MAX_FAIL_REASON


def test_heartbeat_frame() -> None:
    assert json.loads(heartbeat_frame(1700000000000)) == {
        "id": 1700000000000,
        "commandType": "HeartBeat",
        "time": 1700000000000,
    }


def test_millis_round_trip_is_exact() -> None:
    moment = datetime(2024, 3, 1, 4, 0, 0, 123000, tzinfo=UTC)
    assert millis(moment) == 1709265600123
    assert from_millis(1709265600123) == moment


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"commandType": "Common", "id": 1.5, "message": {}}', "integer id"),
        ('{"commandType": "Common", "id": true, "message": {}}', "integer id"),
        ('{"commandType": "Common", "id": 7}', "no message object"),
        ('{"commandType": "Common", "id": 7, "message": {"mallID": 1}}', "no message type"),
        (
            '{"commandType": "Common", "id": 7, "sendTime": 1.0e12, '
            '"message": {"type": "pdd_trade_TradeSuccess", "mallID": 1}}',
            "not an integer",
        ),
    ],
)
def test_unreadable_frames_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        read_common(read_frame(text))


def test_unreadable_content_and_unknown_topics_are_told_apart() -> None:
    frame = read_frame(_common())
    frame["message"]["content"] = "{broken"
    message = read_common(frame)
    assert message.content is None
    with pytest.raises(FrameError, match="content is not JSON") as caught:
        event_from(message, delivery="1:1")
    assert not isinstance(caught.value, UnknownTopicError)
    with pytest.raises(UnknownTopicError):
        event_from(read_common(read_frame(_common(topic="pdd_chat_Message"))), delivery="1:1")
    frame = read_frame(_common())
    frame["message"]["content"] = json.dumps({"mall_id": 1})
    with pytest.raises(FrameError, match="tid is missing"):
        event_from(read_common(frame), delivery="1:1")


def test_the_permitted_topics_are_trade_and_refund_topics() -> None:
    assert all(t.startswith(("pdd_trade_", "pdd_refund_")) for t in PMC_TOPICS)
    assert "pdd_trade_TradeConfirmed" in PMC_TOPICS
    assert "pdd_refund_RefundCreated" in PMC_TOPICS
