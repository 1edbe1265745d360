"""The fake's TMC service holds to push.md §5.1, spoken to with a bare WebSocket client."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from channelsync_tmall.fake import FakeTop, TmcServer
from channelsync_tmall.tmc.codec import (
    Byte,
    Frame,
    Int32,
    Int64,
    MessageType,
    decode_frame,
    encode_frame,
)
from channelsync_tmall.tmc.protocol import confirm_frame, connect_frame, failed_frame, pull_frame
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from channelsync.clock import FakeClock
from channelsync.errors import InvalidRequestError
from channelsync.models import Carrier, Shipment

from .conftest import DEMO_CREDENTIALS, DEMO_SETTINGS, START, MakeChannel, until

APP_KEY = str(DEMO_SETTINGS["app_key"])
SECRET = DEMO_CREDENTIALS["app_secret"]


def _millis(clock: FakeClock) -> int:
    return int(clock.now().timestamp() * 1000)


async def _open(server: TmcServer) -> ClientConnection:
    return await connect(server.url, compression=None, ping_interval=None)


async def _handshake(
    server: TmcServer, clock: FakeClock, *, secret: str = SECRET, **changes: object
) -> tuple[ClientConnection, Frame]:
    websocket = await _open(server)
    options: dict[str, object] = {
        "app_key": APP_KEY,
        "secret": secret,
        "group_name": "default",
        "timestamp_ms": _millis(clock),
        "flag": 7,
        "sdk": "test",
        **changes,
    }
    await websocket.send(encode_frame(connect_frame(**options)))  # type: ignore[arg-type]
    raw = await websocket.recv()
    assert isinstance(raw, bytes)
    return websocket, decode_frame(raw)


async def _data(websocket: ClientConnection) -> Frame:
    raw = await websocket.recv()
    assert isinstance(raw, bytes)
    return decode_frame(raw)


def _content(frame: Frame) -> dict[str, object]:
    raw = frame.headers["content"]
    text = gzip.decompress(raw).decode() if isinstance(raw, bytes) else raw
    assert isinstance(text, str)
    document = json.loads(text)
    assert isinstance(document, dict)
    return document


@pytest.fixture
async def session(tmc: TmcServer, clock: FakeClock) -> AsyncIterator[tuple[ClientConnection, str]]:
    websocket, ack = await _handshake(tmc, clock)
    yield websocket, ack.token
    await websocket.close()


async def test_a_good_connect_gets_the_flag_back_and_a_fresh_token(
    tmc: TmcServer, clock: FakeClock
) -> None:
    first, ack = await _handshake(tmc, clock)
    second, other = await _handshake(tmc, clock)
    assert ack.message_type is MessageType.CONNECTACK
    assert ack.flag == 7
    assert not ack.is_error
    assert ack.token
    assert other.token != ack.token
    await first.close()
    await second.close()


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"secret": "wrong"}, "invalid sign"),
        ({"app_key": "99999999"}, "invalid app_key"),
        ({"group_name": "nightly"}, "group nightly does not exist"),
    ],
)
async def test_a_bad_connect_is_refused_with_a_status(
    tmc: TmcServer, clock: FakeClock, changes: dict[str, object], phrase: str
) -> None:
    websocket, ack = await _handshake(tmc, clock, **changes)
    assert ack.message_type is MessageType.CONNECTACK
    assert ack.flag == 7
    assert ack.status_code == 401
    assert ack.status_phrase == phrase
    assert not ack.token
    with pytest.raises(ConnectionClosed):
        await websocket.recv()
    assert tmc.counts["refused"] == 1


async def test_a_stale_timestamp_is_refused(tmc: TmcServer, clock: FakeClock) -> None:
    stale = _millis(clock) - int(timedelta(minutes=11).total_seconds() * 1000)
    websocket, ack = await _handshake(tmc, clock, timestamp_ms=stale)
    assert ack.status_phrase == "timestamp out of range"
    await websocket.close()
    within = _millis(clock) + int(timedelta(minutes=9).total_seconds() * 1000)
    websocket, ack = await _handshake(tmc, clock, timestamp_ms=within)
    assert not ack.is_error
    await websocket.close()


async def test_a_connect_missing_its_sign_is_refused(tmc: TmcServer) -> None:
    websocket = await _open(tmc)
    headers = {"app_key": APP_KEY, "group_name": "default", "timestamp": "1"}
    await websocket.send(encode_frame(Frame(MessageType.CONNECT, flag=2, headers=headers)))
    ack = await _data(websocket)
    assert (ack.status_code, ack.status_phrase, ack.flag) == (400, "missing sign", 2)
    await websocket.close()


async def test_data_frames_carry_the_token_and_the_reference_headers(
    fake: FakeTop, session: tuple[ClientConnection, str]
) -> None:
    websocket, token = session
    fake.push.permit(["taobao_trade_TradeCreate"])
    (order,) = fake.generate_orders(1)
    frame = await _data(websocket)
    assert frame.message_type is MessageType.SEND
    assert frame.token == token
    headers = frame.headers
    assert isinstance(headers["id"], Int64)
    assert headers["id"] > 2**53
    assert headers["topic"] == "taobao_trade_TradeCreate"
    assert isinstance(headers["userid"], Int64)
    assert headers["nick"] == "channelsync旗舰店"
    assert headers["time"] == order.created
    content = _content(frame)
    assert content["tid"] == int(order.order_id)
    assert content["oid"] == int(order.lines[0].line_id)
    assert isinstance(content["payment"], str)
    assert re.fullmatch(r"\d+\.\d\d", content["payment"])


async def test_custom_header_order_and_content_encoding_vary(
    fake: FakeTop, tmc: TmcServer, session: tuple[ClientConnection, str]
) -> None:
    websocket, _ = session
    fake.push.permit(["taobao_trade_TradeCreate"])
    fake.generate_orders(8)
    frames = [await _data(websocket) for _ in range(8)]
    assert len({tuple(frame.headers) for frame in frames}) > 1
    kinds = {type(frame.headers["content"]) for frame in frames}
    assert kinds == {str, bytes}


async def test_confirm_settles_failed_redelivers_and_pull_pushes_at_once(
    fake: FakeTop, tmc: TmcServer, clock: FakeClock, session: tuple[ClientConnection, str]
) -> None:
    websocket, token = session
    fake.push.permit(["taobao_trade_TradeCreate"])
    fake.generate_orders(2)
    first, second = await _data(websocket), await _data(websocket)
    first_id, second_id = int(first.headers["id"]), int(second.headers["id"])  # type: ignore[arg-type]
    await websocket.send(encode_frame(confirm_frame(token, first_id)))
    await websocket.send(encode_frame(failed_frame(token, second_id, "busy")))
    await until(lambda: tmc.counts["fails"] == 1)
    clock.advance(fake.push.redeliver_after + 1)
    await websocket.send(encode_frame(pull_frame(token)))
    again = await _data(websocket)
    assert int(again.headers["id"]) == second_id  # type: ignore[arg-type]
    # A Confirm after a Failed still settles the message.
    await websocket.send(encode_frame(confirm_frame(token, second_id)))
    await until(lambda: not fake.push.pending())
    assert tmc.counts["pulls"] == 1
    assert tmc.counts["protocol_errors"] == 0


async def test_a_confirm_whose_id_is_not_an_int64_does_not_count(
    fake: FakeTop, tmc: TmcServer, session: tuple[ClientConnection, str]
) -> None:
    websocket, token = session
    fake.push.permit(["taobao_trade_TradeCreate"])
    fake.generate_orders(1)
    frame = await _data(websocket)
    small = Frame(
        MessageType.SEND,
        token=token,
        headers={"__kind": Byte(2), "id": Int32(int(frame.headers["id"]) % 2**31)},  # type: ignore[arg-type]
    )
    await websocket.send(encode_frame(small))
    await until(lambda: tmc.counts["protocol_errors"] == 1)
    assert fake.push.pending()


async def test_a_send_with_another_token_closes_the_connection(
    tmc: TmcServer, session: tuple[ClientConnection, str]
) -> None:
    websocket, _ = session
    await websocket.send(encode_frame(pull_frame("not-my-token")))
    with pytest.raises(ConnectionClosed) as closed:
        await websocket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


async def test_messages_unconfirmed_on_a_dropped_connection_come_on_the_next(
    fake: FakeTop, tmc: TmcServer, clock: FakeClock
) -> None:
    fake.push.permit(["taobao_trade_TradeCreate"])
    websocket, _ = await _handshake(tmc, clock)
    fake.generate_orders(1)
    sent = await _data(websocket)
    await websocket.close()
    await until(lambda: tmc.connections == 0)
    websocket, _ = await _handshake(tmc, clock)
    again = await _data(websocket)
    assert again.headers["id"] == sent.headers["id"]
    await websocket.close()


async def test_the_auth_token_can_be_required(
    make_channel: MakeChannel, fake: FakeTop, clock: FakeClock
) -> None:
    with fake.serve_events(require_auth_token=True) as server:
        websocket, ack = await _handshake(server, clock)
        assert ack.status_phrase == "invalid token"
        await websocket.close()
        async with make_channel() as channel:
            token = await channel.tmc_auth_token()
        websocket, ack = await _handshake(server, clock, token=token)
        assert not ack.is_error
        await websocket.close()


async def test_announcements_follow_the_marketplace(
    make_channel: MakeChannel, fake: FakeTop
) -> None:
    (order,) = fake.generate_orders(1)
    refund = fake.request_refund(order.order_id, amount=Decimal("9.90"))
    fake.settle_refund(refund.refund_id)
    async with make_channel() as channel:
        await channel.push_shipment(_shipment(order.order_id))
    fake.close_by_taobao(order.order_id)
    topics = [m.topic for m in fake.push.messages()]
    assert topics == []  # the shop has not been opted in: nothing is queued

    fake.push.permit(None)
    (order,) = fake.generate_orders(1)
    refund = fake.request_refund(order.order_id, amount=Decimal("9.90"))
    fake.settle_refund(refund.refund_id)
    async with make_channel() as channel:
        await channel.push_shipment(_shipment(order.order_id))
    messages = fake.push.messages()
    topics = [m.topic for m in messages]
    assert topics[:2] == ["taobao_trade_TradeCreate", "taobao_trade_TradeBuyerPay"]
    assert "taobao_item_ItemStockChanged" in topics
    assert topics[-3:] == [
        "taobao_refund_RefundCreated",
        "taobao_refund_RefundSuccess",
        "taobao_trade_TradeSellerShip",
    ]
    created = next(m for m in messages if m.topic == "taobao_refund_RefundCreated")
    assert created.content["refund_id"] == int(refund.refund_id)
    assert created.content["tid"] == int(order.order_id)
    assert created.content["refund_fee"] == "9.90"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", str(created.content["modified"]))
    stock = next(m for m in messages if m.topic == "taobao_item_ItemStockChanged")
    assert stock.content["increment"] < 0
    assert isinstance(stock.content["num_iid"], int)


async def test_permit_replaces_and_refuses_topics_the_app_did_not_subscribe(
    make_channel: MakeChannel, fake: FakeTop
) -> None:
    async with make_channel() as channel:
        await channel.call("taobao.tmc.user.permit", {"topics": "taobao_trade_TradeCreate"})
        await channel.call("taobao.tmc.user.permit", {"topics": "taobao_item_ItemAdd"})
        assert fake.push.permitted == frozenset({"taobao_item_ItemAdd"})
        with pytest.raises(InvalidRequestError, match="taobao_trade_NoSuchTopic"):
            await channel.call("taobao.tmc.user.permit", {"topics": "taobao_trade_NoSuchTopic"})
        assert fake.push.permitted == frozenset({"taobao_item_ItemAdd"})
        await channel.call("taobao.tmc.user.permit", {})
        assert fake.push.permitted is None  # no list: every subscribed topic


def _shipment(order_id: str) -> Shipment:
    return Shipment(
        channel="tmall-main",
        order_id=order_id,
        carrier=Carrier.SF,
        tracking_number="SF1234567890",
        shipped_at=START,
    )
