"""TMC messages mapped onto channel events at the plugin edge (push.md §1.8)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest
from channelsync_tmall.tmc.codec import Frame, Int64, MessageType, decode_frame, encode_frame
from channelsync_tmall.tmc.protocol import DataMessage, MessageProblem, parse_data
from channelsync_tmall.tmc.topics import (
    EVENT_TOPICS,
    ITEM_TOPICS,
    REFUND_TOPICS,
    TRADE_TOPICS,
    UnknownTopic,
    to_event,
    topic_kind,
)

from channelsync.channels import EventKind

PUBLISHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _message(topic: str, content: object, message_id: int = 7) -> DataMessage:
    text = content if isinstance(content, str) else json.dumps(content)
    return DataMessage(message_id=message_id, topic=topic, content=text, published_at=PUBLISHED)


def test_the_captured_trade_create_message() -> None:
    content = (
        '{"buyer_nick":"sandbox_cilai_c","payment":"120.00","oid":192364827791084,'
        '"tid":192364827791084,"type":"guarantee_trade","seller_nick":"sandbox_c_20"}'
    )
    event = to_event(_message("taobao_trade_TradeCreate", content), delivery="c1")
    assert event.kind is EventKind.ORDER
    assert event.key == event.order_id == "192364827791084"
    assert event.topic == "taobao_trade_TradeCreate"
    assert event.message_id == "7"
    assert event.occurred_at == PUBLISHED  # no modified: the publish time
    assert event.delivery == "c1"


def test_the_captured_refund_message_converts_its_beijing_time() -> None:
    content = (
        '{"buyer_nick":"英伦风格9848","refund_id":3290848379609938,"refund_fee":"59.78",'
        '"oid":54973839805603899,"tid":54973839805603899,"refund_phase":"onsale",'
        '"bill_type":"return_bill","seller_nick":"流行色彩坐标","modified":"2017-09-13 16:00:07"}'
    )
    event = to_event(_message("taobao_refund_RefundCreated", content), delivery="c1")
    assert event.kind is EventKind.REFUND
    assert event.key == "3290848379609938"
    assert event.order_id == "54973839805603899"
    assert event.occurred_at == datetime(2017, 9, 13, 8, 0, 7, tzinfo=UTC)


def test_item_messages_are_listing_events_keyed_by_num_iid() -> None:
    content = {"num_iid": 600000000001, "nick": "店", "sku_id": 5000000000001, "num": 3}
    event = to_event(_message("taobao_item_ItemStockChanged", content), delivery="c1")
    assert event.kind is EventKind.LISTING
    assert (event.key, event.order_id) == ("600000000001", None)


def test_ids_beyond_2_to_the_53_survive_the_wire_exactly() -> None:
    tid = 2918463734761365258
    frame = Frame(
        MessageType.SEND,
        token="tok",
        headers={
            "id": Int64(2**63 - 1),
            "topic": "taobao_trade_TradeBuyerPay",
            "content": gzip.compress(json.dumps({"tid": tid, "oid": tid + 1}).encode()),
        },
    )
    event = to_event(parse_data(decode_frame(encode_frame(frame))), delivery="c1")
    assert event.message_id == "9223372036854775807"
    assert event.key == "2918463734761365258"
    assert float(tid) != tid  # the same id through a float would have changed


def test_ids_given_as_text_are_accepted_and_normalised() -> None:
    event = to_event(_message("taobao_trade_TradeClose", {"tid": "0042"}), delivery="c1")
    assert event.key == "42"


@pytest.mark.parametrize(
    ("topic", "content", "problem"),
    [
        ("taobao_trade_TradeCreate", "{not json", "not JSON"),
        ("taobao_trade_TradeCreate", "[1, 2]", "not a JSON object"),
        ("taobao_trade_TradeCreate", {"oid": 1}, "no tid"),
        ("taobao_trade_TradeCreate", '{"tid": 2918463734761365258.0}', "tid is not"),
        ("taobao_trade_TradeCreate", {"tid": True}, "tid is not"),
        ("taobao_trade_TradeCreate", {"tid": -3}, "tid is not"),
        ("taobao_refund_RefundSuccess", {"tid": 1}, "no refund_id"),
        ("taobao_refund_RefundSuccess", {"refund_id": 1, "tid": "x1"}, "tid is not"),
        ("taobao_item_ItemAdd", {"title": "x"}, "no num_iid"),
    ],
)
def test_content_that_cannot_be_mapped_names_the_problem_and_the_message(
    topic: str, content: object, problem: str
) -> None:
    with pytest.raises(MessageProblem, match=problem) as caught:
        to_event(_message(topic, content, message_id=99), delivery="c1")
    assert caught.value.message_id == 99


def test_an_unknown_topic_is_its_own_problem() -> None:
    with pytest.raises(UnknownTopic) as caught:
        to_event(_message("taobao_fenxiao_FxOrderSuccess", {"tid": 1}), delivery="c1")
    assert caught.value.topic == "taobao_fenxiao_FxOrderSuccess"
    assert caught.value.message_id == 7


def test_an_unreadable_modified_time_falls_back_to_the_publish_time() -> None:
    content = {"refund_id": 5, "tid": 6, "modified": "yesterday"}
    event = to_event(_message("taobao_refund_RefundClosed", content), delivery="c1")
    assert event.occurred_at == PUBLISHED


def test_the_topic_lists_follow_the_reference() -> None:
    assert len(TRADE_TOPICS) == 14
    assert len(REFUND_TOPICS) == 7
    assert len(ITEM_TOPICS) == 8
    assert "taobao_refund_RefundCreated" in REFUND_TOPICS
    assert "taobao_refund_RefundCreate" not in REFUND_TOPICS
    assert len(set(EVENT_TOPICS)) == len(EVENT_TOPICS)
    assert {topic_kind(t) for t in TRADE_TOPICS} == {EventKind.ORDER}
    assert {topic_kind(t) for t in REFUND_TOPICS} == {EventKind.REFUND}
    assert {topic_kind(t) for t in ITEM_TOPICS} == {EventKind.LISTING}
    assert topic_kind("taobao_trade_TradeAlipayCreate") is EventKind.ORDER  # by prefix
    assert topic_kind("taobao_fenxiao_FxOrderSuccess") is None


def test_deeply_nested_content_is_a_problem_not_a_crash() -> None:
    with pytest.raises(MessageProblem, match="not JSON"):
        to_event(_message("taobao_trade_TradeCreate", "[" * 100_000), delivery="c1")
