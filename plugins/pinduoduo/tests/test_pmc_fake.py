"""The fake's message service: handshake checks, acknowledgement rules, idle clients, topics.

A bare WebSocket client plays PMC's client here, so the fake's own rules are tested
apart from the plugin's listener; the last test is the demo's seam end to end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from channelsync_pinduoduo import PinduoduoChannel, PinduoduoSettings
from channelsync_pinduoduo.fake import (
    APP_TOPICS,
    DEMO_CREDENTIALS,
    DEMO_SETTINGS,
    FakePdd,
    FakePmcServer,
    demo_fake,
)
from channelsync_pinduoduo.fake.pmc import expected_sign
from channelsync_pinduoduo.pmc import PMC_TOPICS
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from channelsync.channels.events import EventKind
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.errors import InvalidRequestError
from channelsync.models import Carrier, Shipment
from channelsync.testing import MemorySecretBackend

from .conftest import START, MakeChannel
from .pmc_helpers import WAIT, Consumer, eventually

NOW_MS = int(START.timestamp() * 1000)


@pytest.fixture
def pmc(fake: FakePdd) -> Iterator[FakePmcServer]:
    with fake.serve_events(heartbeat_interval=0.05, idle_timeout=0.3) as server:
        yield server


def _url(server: FakePmcServer, fake: FakePdd, *, ts: int = NOW_MS, sign: str | None = None) -> str:
    sign = sign or expected_sign(fake.client_id, str(ts), fake.client_secret)
    return f"{server.url}/message/{fake.client_id}/{ts}/{sign}"


async def _common(ws: ClientConnection) -> dict[str, Any]:
    """Return the next Common frame (heartbeats skipped), decoded exactly."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT), parse_float=Decimal)
        if frame["commandType"] == "Common":
            return dict(frame)


async def _drain(ws: ClientConnection) -> None:
    """Read frames until the server closes the connection."""
    while True:
        await asyncio.wait_for(ws.recv(), WAIT)


def _answer(frame: dict[str, Any], command: str, **extra: Any) -> str:
    message = frame["message"]
    return json.dumps(
        {
            "id": frame["id"],
            "commandType": command,
            "time": NOW_MS,
            "sendTime": frame["sendTime"],
            "type": message["type"],
            "mallID": message["mallID"],
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"sign": "bm90LXRoZS1zaWdu"}, 403),
        ({"ts": NOW_MS - 11 * 60 * 1000}, 403),
        ({"ts": NOW_MS + 11 * 60 * 1000}, 403),
    ],
)
async def test_a_bad_handshake_is_refused_before_the_upgrade(
    fake: FakePdd, pmc: FakePmcServer, change: dict[str, Any], status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(_url(pmc, fake, **change), proxy=None)
    assert refused.value.response.status_code == status
    assert pmc.counts["handshakes_refused"] == 1
    with pytest.raises(InvalidStatus) as lost:
        await connect(f"{pmc.url}/somewhere/else", proxy=None)
    assert lost.value.response.status_code == 404


async def test_common_frames_carry_big_ids_and_content_as_a_json_string(
    fake: FakePdd, pmc: FakePmcServer
) -> None:
    (order,) = fake.generate_orders(1)
    async with connect(_url(pmc, fake), proxy=None) as ws:
        frame = await _common(ws)
    assert frame["id"] > 2**53
    assert frame["message"]["mallID"] == fake.mall_id > 2**53
    assert frame["message"]["type"] == "pdd_trade_TradeConfirmed"
    assert isinstance(frame["message"]["content"], str)
    assert json.loads(frame["message"]["content"]) == {
        "mall_id": fake.mall_id,
        "tid": order.order_id,
    }
    assert frame["sendTime"] == NOW_MS


async def test_only_an_exact_echo_settles_a_message(fake: FakePdd, pmc: FakePmcServer) -> None:
    fake.generate_orders(1)
    async with connect(_url(pmc, fake), proxy=None) as ws:
        frame = await _common(ws)
        as_float = json.loads(_answer(frame, "Ack"))
        as_float["id"] = float(frame["id"])  # what a JavaScript number would send back
        await ws.send(json.dumps(as_float))
        await ws.send(_answer(frame, "Ack", type="pdd_trade_TradeSuccess"))
        await ws.send(_answer(frame, "Ack", mallID=frame["message"]["mallID"] - 1))
        await eventually(lambda: pmc.counts["bad_acks"] == 3, "three refused acks")
        assert fake.push.counts["acked"] == 0
        await ws.send(_answer(frame, "Ack"))
        await eventually(lambda: fake.push.counts["acked"] == 1, "the exact ack")


async def test_fail_without_or_with_a_null_reason_is_tolerated(
    fake: FakePdd, pmc: FakePmcServer, clock: FakeClock
) -> None:
    fake.generate_orders(1)
    async with connect(_url(pmc, fake), proxy=None) as ws:
        frame = await _common(ws)
        await ws.send(_answer(frame, "Fail"))
        await eventually(lambda: fake.push.counts["failed"] == 1, "a Fail without a reason")
        clock.advance(fake.push.redeliver_after + 0.1)
        again = await _common(ws)
        assert again["id"] == frame["id"]
        await ws.send(_answer(again, "Fail", failReason=None))
        await eventually(lambda: fake.push.counts["failed"] == 2, "a Fail with a null reason")
    assert pmc.fail_reasons == [None, None]


async def test_idle_clients_are_disconnected_and_may_reconnect_at_once(
    fake: FakePdd, pmc: FakePmcServer
) -> None:
    fake.generate_orders(1)
    async with connect(_url(pmc, fake), proxy=None) as ws:
        await _common(ws)  # never acknowledged, never a heartbeat
        with pytest.raises(ConnectionClosed):
            await _drain(ws)
    assert pmc.counts["idle_disconnects"] == 1
    async with connect(_url(pmc, fake), proxy=None) as ws:
        frame = await _common(ws)  # what the dropped client held comes back
        await ws.send(_answer(frame, "Ack"))
        await eventually(lambda: fake.push.counts["acked"] == 1, "the ack")


async def test_the_fake_announces_its_changes_as_pmc_topics(
    fake: FakePdd, make_channel: MakeChannel, clock: FakeClock
) -> None:
    shipped, held, refunded, lost = fake.generate_orders(4)
    async with make_channel() as channel:
        shipment = Shipment(
            channel="shop",
            order_id=shipped.order_id,
            carrier=Carrier.SF,
            tracking_number="SF1001",
            shipped_at=START,
        )
        await channel.push_shipment(shipment)
    fake.buyer_confirms_receipt(shipped.order_id)
    fake.hold_for_risk_control(held.order_id)
    clock.advance(60)
    refund = fake.buyer_requests_refund(refunded.order_id, return_goods=True)
    fake.complete_refund(refund.refund_id)
    withdrawn = fake.buyer_requests_refund(held.order_id)
    fake.buyer_withdraws_refund(withdrawn.refund_id)
    fake.group_fails(lost.order_id)  # no topic is known for this one
    topics = [(m.topic, m.key) for m in fake.push.messages()]
    assert topics[4:] == [
        ("pdd_trade_TradeSellerShip", shipped.order_id),
        ("pdd_trade_TradeSuccess", shipped.order_id),
        ("pdd_trade_TradeRiskChanged", held.order_id),
        ("pdd_refund_RefundCreated", refund.refund_id),
        ("pdd_refund_RefundAgreeAgreement", refund.refund_id),
        ("pdd_refund_RefundCreated", withdrawn.refund_id),
        ("pdd_refund_RefundClosed", withdrawn.refund_id),
    ]
    created = fake.push.messages(lambda m: m.key == refund.refund_id)[0]
    assert created.content == {
        "mall_id": fake.mall_id,
        "tid": refunded.order_id,
        "refund_id": int(refund.refund_id),
        "refund_fee": int(refund.amount * 100),  # fen
        "bill_type": 2,  # return and refund
        "operation": 1000,
        "modified": NOW_MS + 60_000,
    }
    assert all(topic in PMC_TOPICS for topic, _ in topics)


async def test_permit_without_topics_inherits_the_apps_and_unknown_ones_are_refused(
    fake: FakePdd, make_channel: MakeChannel
) -> None:
    async with make_channel() as channel:
        await channel.call("pdd.pmc.user.permit", {"topics": "pdd_refund_RefundCreated"})
        assert fake.push.permitted == {"pdd_refund_RefundCreated"}
        await channel.call("pdd.pmc.user.permit", {})
        assert fake.push.permitted == frozenset(APP_TOPICS)
        with pytest.raises(InvalidRequestError, match="pdd_chat_Nope is not subscribed"):
            await channel.call("pdd.pmc.user.permit", {"topics": "pdd_chat_Nope"})
    assert fake.push.permitted == frozenset(APP_TOPICS)


async def test_the_demo_seam_delivers_an_event_with_the_demo_settings() -> None:
    """What the demo does: serve the demo fake's events and point the channel at them."""
    fake = demo_fake()
    backend = MemorySecretBackend({("pdd", k): v for k, v in DEMO_CREDENTIALS.items()})
    with fake.serve_events() as server:
        settings = PinduoduoSettings(
            **{**DEMO_SETTINGS, "events": True, "events_url": server.url}  # type: ignore[arg-type]
        )
        channel = PinduoduoChannel(
            "pdd",
            settings,
            CredentialStore(backend=backend, environ={}).for_channel("pdd"),
            transport=fake.transport(),
        )
        consumer = Consumer(channel.listen())
        try:
            (order,) = fake.generate_orders(1)
            (event,) = await consumer.take()
            assert event.kind is EventKind.ORDER
            assert event.key == order.order_id
            assert await consumer.listener.ack(event)
            await eventually(lambda: fake.push.counts["acked"] == 1, "the ack")
        finally:
            await consumer.stop()
