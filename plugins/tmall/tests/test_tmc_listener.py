"""The TMC listener against the fake's TMC server over real loopback WebSockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from channelsync_tmall import TmallChannel
from channelsync_tmall.fake import FakeTop, TmcServer
from channelsync_tmall.tmc.listener import TmcListener
from channelsync_tmall.tmc.topics import EVENT_TOPICS

from channelsync.channels import EventKind, ListenerState
from channelsync.clock import FakeClock
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.http import ParamDigest, sign_params

from .conftest import CHANNEL, EventStream, MakeChannel, until

TRADE_ONLY = "taobao_trade_TradeCreate,taobao_trade_TradeBuyerPay"


@pytest.fixture
async def channel(make_channel: MakeChannel, tmc: TmcServer) -> AsyncIterator[TmallChannel]:
    async with make_channel(events_url=tmc.url, events=True) as opened:
        yield opened


def _listener(channel: TmallChannel, **options: float) -> TmcListener:
    listener = channel.listen()
    for name, value in options.items():
        setattr(listener, name, value)
    return listener


@pytest.fixture
async def stream(channel: TmallChannel) -> AsyncIterator[EventStream]:
    events = EventStream(channel.listen())
    yield events
    await events.close()


async def test_an_order_arrives_as_events_and_ack_settles_it(
    channel: TmallChannel, fake: FakeTop, tmc: TmcServer, stream: EventStream
) -> None:
    (order,) = fake.generate_orders(1)
    created, paid = await stream.take(2)
    assert {created.topic, paid.topic} == {
        "taobao_trade_TradeCreate",
        "taobao_trade_TradeBuyerPay",
    }
    assert created.kind is EventKind.ORDER
    assert created.key == created.order_id == order.order_id  # 3725362658812595305: > 2**53
    published = {m.message_id: m for m in fake.push.messages()}
    assert int(created.message_id) in published
    assert int(created.message_id) > 2**53
    assert published[int(created.message_id)].key == order.order_id
    assert created.occurred_at is not None
    assert created.occurred_at.utcoffset() is not None
    assert stream.listener.status.state is ListenerState.CONNECTED

    assert await stream.listener.ack(created)
    await until(lambda: published[int(created.message_id)].settled)
    assert not published[int(paid.message_id)].settled
    assert tmc.counts["protocol_errors"] == 0

    (connect,) = tmc.connect_headers
    assert connect["app_key"] == channel.settings.app_key
    assert connect["group_name"] == "default"
    assert isinstance(connect["timestamp"], str)
    assert connect["timestamp"].isdigit()
    assert connect["sign"] == sign_params(
        {k: str(connect[k]) for k in ("app_key", "group_name", "timestamp")},
        channel.credentials.require("app_secret"),
        ParamDigest.MD5,
    )
    assert str(connect["sdk"]).startswith("channelsync-tmall")
    assert "token" not in connect  # the host is not mc.api.taobao.com


async def test_unconfirmed_message_comes_back_after_a_reconnect(
    fake: FakeTop, tmc: TmcServer, stream: EventStream
) -> None:
    fake.generate_orders(1)
    first = await stream.next()
    tmc.drop_connections()
    # Frames that arrived before the drop may still be read; then the new connection
    # delivers everything that was not confirmed, the first message included.
    redelivered = await stream.next()
    while redelivered.delivery == first.delivery:
        redelivered = await stream.next()
    assert redelivered.message_id == first.message_id
    assert stream.listener.status.reconnects >= 1
    assert len(tmc.connect_headers) == 2
    # Every connect is signed afresh.
    assert tmc.connect_headers[0]["timestamp"] != tmc.connect_headers[1]["timestamp"]
    assert tmc.connect_headers[0]["sign"] != tmc.connect_headers[1]["sign"]
    # The old delivery's connection is gone: only the new one can confirm it.
    assert not await stream.listener.ack(first)
    assert await stream.listener.ack(redelivered)
    await until(lambda: int(first.message_id) in tmc.confirmed)


async def test_duplicates_reach_the_caller_as_separate_deliveries(
    fake: FakeTop, stream: EventStream
) -> None:
    fake.push.duplicate_rate = 1.0
    fake.push.permit(["taobao_trade_TradeCreate"])
    fake.generate_orders(1)
    first = await stream.next()
    assert await stream.listener.ack(first)
    await until(lambda: fake.push.counts["acked"] >= 1)
    fake.generate_orders(1)  # the next push also re-sends what was confirmed
    later = await stream.take(2)
    assert first.message_id in {e.message_id for e in later}
    assert {e.message_id for e in later} != {first.message_id}
    assert fake.push.counts["duplicated"] >= 1


async def test_reordered_messages_arrive_in_another_order(
    make_channel: MakeChannel, fake: FakeTop, tmc: TmcServer
) -> None:
    fake.push.shuffle = True
    fake.push.permit(["taobao_trade_TradeCreate"])
    orders = fake.generate_orders(6)
    published = [m.message_id for m in fake.push.messages()]
    async with make_channel(events_url=tmc.url) as channel:
        stream = EventStream(channel.listen())
        try:
            received = await stream.take(len(orders))
        finally:
            await stream.close()
    ids = [int(e.message_id) for e in received]
    assert sorted(ids) == sorted(published)
    assert ids != published
    assert [e.key for e in received] != [o.order_id for o in orders]


async def test_malformed_frames_are_skipped_and_logged_with_the_channel(
    fake: FakeTop, tmc: TmcServer, stream: EventStream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="channelsync.tmall.events")
    fake.push.permit(["taobao_trade_TradeCreate"])
    fake.generate_orders(1)
    await stream.next()  # connected
    for kind in ("garbage", "truncated", "text"):
        assert tmc.inject(kind) is None
    bad = tmc.inject("bad_content")
    unknown = tmc.inject("unknown_topic")
    stranger = tmc.inject("unknown_token")
    waiting = asyncio.ensure_future(stream.next())
    await until(lambda: {bad, unknown} <= set(tmc.confirmed))
    await until(lambda: len(caplog.records) >= 6)
    assert not waiting.done()  # none of them became an event
    fake.generate_orders(1)
    event = await waiting
    assert event.topic == "taobao_trade_TradeCreate"
    assert stranger not in tmc.confirmed  # dropped, never confirmed
    messages = [r.getMessage() for r in caplog.records]
    assert all(CHANNEL in m for m in messages)
    assert any("malformed frame" in m for m in messages)
    assert any("text frame" in m for m in messages)
    assert any("unknown token" in m for m in messages)
    assert any("content is not JSON" in m for m in messages)
    assert any("taobao_fenxiao_FxOrderSuccess" in m for m in messages)
    assert stream.listener.status.reconnects == 0
    assert tmc.counts["protocol_errors"] == 0


async def test_a_bad_signature_is_refused_and_the_listener_backs_off(
    make_channel: MakeChannel,
    backend: MemorySecretBackend,
    clock: FakeClock,
    tmc: TmcServer,
) -> None:
    backend.set(CHANNEL, "app_secret", "not-the-app-secret")
    async with make_channel(events_url=tmc.url) as channel:
        listener = channel.listen()
        stream = EventStream(listener)
        waiting = asyncio.ensure_future(stream.next())
        await until(lambda: listener.status.reconnects >= 2)
        assert not waiting.done()  # refused every time: no event, only waits
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await stream.close()
    assert tmc.counts["refused"] >= 2
    assert tmc.counts["connects"] == 0
    assert listener.status.last_error is not None
    assert "invalid sign" in listener.status.last_error
    # A refusal waits the longest backoff (60 s, jittered), on the injected clock.
    assert clock.sleeps
    assert min(clock.sleeps) >= 0.8 * listener.max_backoff


async def test_a_revoked_permit_stops_those_topics(
    channel: TmallChannel, fake: FakeTop, stream: EventStream
) -> None:
    await channel.enable_events()
    await channel.call("taobao.tmc.user.permit", {"topics": TRADE_ONLY})
    (order,) = fake.generate_orders(1)
    fake.request_refund(order.order_id)
    fake.generate_orders(1)
    received = await stream.take(4)
    assert {e.kind for e in received} == {EventKind.ORDER}
    assert fake.push.counts["refused_topic"] >= 3  # stock changes and the refund
    assert not fake.push.messages(lambda m: not m.topic.startswith("taobao_trade_"))


async def test_failed_message_is_redelivered_after_the_delay(
    fake: FakeTop, clock: FakeClock, tmc: TmcServer, stream: EventStream
) -> None:
    fake.push.permit(["taobao_trade_TradeCreate"])
    fake.generate_orders(1)
    event = await stream.next()
    assert await stream.listener.fail(event, "the store is busy " * 20)
    await until(lambda: tmc.counts["fails"] == 1)
    clock.advance(fake.push.redeliver_after + 1)
    again = await stream.next()
    assert again.message_id == event.message_id
    assert await stream.listener.ack(again)
    await until(lambda: not fake.push.pending())


async def test_pull_requests_are_sent_on_their_interval(
    channel: TmallChannel, fake: FakeTop, tmc: TmcServer
) -> None:
    fake.push.permit(["taobao_trade_TradeCreate"])
    fake.generate_orders(1)
    default = EventStream(channel.listen())
    await default.next()
    assert tmc.counts["pulls"] == 0  # the first pull comes 15 s after connecting
    await default.close()
    quick = EventStream(_listener(channel, pull_interval=0.02))
    await quick.next()  # the unconfirmed message again, on the new connection
    await until(lambda: tmc.counts["pulls"] >= 2)
    await quick.close()


async def test_stalled_heartbeats_end_the_connection_and_it_is_replaced(
    channel: TmallChannel, fake: FakeTop, tmc: TmcServer
) -> None:
    fake.push.permit(["taobao_trade_TradeCreate"])
    stream = EventStream(
        _listener(channel, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.1)
    )
    try:
        fake.generate_orders(1)
        first = await stream.next()
        tmc.stall_heartbeats()
        waiting = asyncio.ensure_future(stream.next())
        # The pings go unanswered: the listener gives the connection up and opens another.
        await until(lambda: tmc.counts["connects"] >= 2)
        assert "keepalive" in (stream.listener.status.last_error or "")
        # The server recovers, finds the first connection gone and redelivers its message.
        tmc.stall_heartbeats(False)
        again = await waiting
        while again.delivery == first.delivery:
            again = await stream.next()
        assert again.message_id == first.message_id
    finally:
        await stream.close()


async def test_an_idle_connection_is_closed_by_the_server(
    make_channel: MakeChannel, fake: FakeTop
) -> None:
    fake.push.permit(["taobao_trade_TradeCreate"])
    with fake.serve_events(idle_timeout=0.1) as server:
        async with make_channel(events_url=server.url) as channel:
            stream = EventStream(channel.listen())  # pings every 45 s: idle for the server
            try:
                waiting = asyncio.ensure_future(stream.next())
                await until(lambda: server.counts["idle_closed"] >= 1)
                fake.generate_orders(1)
                await waiting
            finally:
                await stream.close()
        assert server.counts["connects"] >= 2


class _AuthTokenChannel(TmallChannel):
    tmc_auth_hosts: ClassVar[frozenset[str]] = frozenset({"127.0.0.1"})


async def test_the_auth_token_is_fetched_for_every_connect_where_required(
    make_channel: MakeChannel, fake: FakeTop
) -> None:
    fake.push.permit(["taobao_trade_TradeCreate"])
    with fake.serve_events(require_auth_token=True) as server:
        async with make_channel(events_url=server.url) as plain:
            stream = EventStream(plain.listen())
            waiting = asyncio.ensure_future(stream.next())
            await until(lambda: stream.listener.status.reconnects >= 1)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await stream.close()
        assert server.counts["refused"] >= 1
        assert "invalid token" in (stream.listener.status.last_error or "")

        async with make_channel(_AuthTokenChannel, events_url=server.url) as channel:
            stream = EventStream(channel.listen())
            try:
                fake.generate_orders(1)
                await stream.next()
                server.drop_connections()
                await stream.next()
            finally:
                await stream.close()
    tokens = [h["token"] for h in server.connect_headers if "token" in h]
    assert len(tokens) == 2
    assert len(set(tokens)) == 2
    assert set(tokens) <= fake.tmc_auth_tokens
    assert fake.calls["taobao.tmc.auth.get"] == 2


async def test_enable_events_permits_every_mapped_topic(
    channel: TmallChannel, fake: FakeTop
) -> None:
    fake.push.permit(["taobao_item_ItemAdd"])
    summary = await channel.enable_events()
    assert fake.push.permitted == frozenset(EVENT_TOPICS)
    assert "29 TMC topics" in summary
    assert "replaced" in summary
    again = await channel.enable_events()  # already permitted: the same success
    assert again == summary
    got = await channel.call(
        "taobao.tmc.user.get", {"fields": "topics,is_valid,user_nick", "nick": "channelsync旗舰店"}
    )
    assert set(got["tmc_user"]["topics"]["string"]) == set(EVENT_TOPICS)
    assert got["tmc_user"]["is_valid"] is True
