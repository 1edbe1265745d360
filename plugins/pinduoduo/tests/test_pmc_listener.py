"""The PMC listener against the fake's message service over real loopback WebSockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from channelsync_pinduoduo import PinduoduoChannel, PinduoduoSettings
from channelsync_pinduoduo.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakePdd, FakePmcServer
from channelsync_pinduoduo.pmc import PMC_TOPICS, PmcListener, pmc_sign
from channelsync_pinduoduo.pmc.frames import millis

from channelsync.channels.events import EventKind, ListenerState
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.errors import InvalidRequestError
from channelsync.testing import MemorySecretBackend

from .conftest import START, MakeChannel
from .pmc_helpers import FAST, Consumer, eventually


@pytest.fixture
def pmc(fake: FakePdd) -> Iterator[FakePmcServer]:
    with fake.serve_events(heartbeat_interval=0.02) as server:
        yield server


def _channel(make_channel: MakeChannel, server: FakePmcServer, **store: object) -> PinduoduoChannel:
    channel = make_channel(settings={"events": True, "events_url": server.url}, **store)
    channel.pmc_timers = FAST
    return channel


def _listen(make_channel: MakeChannel, server: FakePmcServer) -> PmcListener:
    return _channel(make_channel, server).listen()


async def test_receives_an_order_event_and_an_ack_settles_it(
    fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel, clock: FakeClock
) -> None:
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        (order,) = fake.generate_orders(1)
        (event,) = await consumer.take()
        assert event.kind is EventKind.ORDER
        assert event.key == event.order_id == order.order_id
        assert event.topic == "pdd_trade_TradeConfirmed"
        assert event.occurred_at == START
        assert consumer.listener.status.state is ListenerState.CONNECTED
        assert await consumer.listener.ack(event)
        await eventually(lambda: fake.push.counts["acked"] == 1, "the ack")
        assert not fake.push.pending()
        assert pmc.counts["bad_acks"] == 0
        clock.advance(fake.push.redeliver_after * 2)
        await eventually(lambda: pmc.counts["heartbeats_sent"] > 5, "more polls")
        assert fake.push.counts["redelivered"] == 0
        assert len(consumer.events) == 1
    finally:
        await consumer.stop()


async def test_the_client_sends_heartbeats(pmc: FakePmcServer, make_channel: MakeChannel) -> None:
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        await eventually(lambda: pmc.counts["heartbeats_received"] >= 3, "client heartbeats")
        assert pmc.counts["malformed_received"] == 0
    finally:
        await consumer.stop()


async def test_ids_past_2_53_survive_the_round_trip(
    fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel
) -> None:
    fake.mall_id = 2**63 - 25
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        fake.generate_orders(1)
        (event,) = await consumer.take()
        (sent,) = fake.push.messages()
        assert sent.message_id > 2**53
        assert event.message_id == str(sent.message_id)
        assert await consumer.listener.ack(event)
        await eventually(lambda: sent.settled, "the ack of a 64-bit id")
        assert pmc.counts["bad_acks"] == 0
    finally:
        await consumer.stop()


async def test_an_unconfirmed_message_comes_back_after_a_reconnect(
    fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel
) -> None:
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        fake.generate_orders(1)
        (first,) = await consumer.take()
        pmc.drop_connections()
        (again,) = await consumer.take()
        assert again.message_id == first.message_id
        assert again.delivery != first.delivery
        status = consumer.listener.status
        assert status.reconnects == 1
        assert status.last_error is not None
        assert "PMC closed the connection" in status.last_error
        assert not await consumer.listener.ack(first)  # its connection is gone
        assert await consumer.listener.ack(again)
        await eventually(lambda: fake.push.counts["acked"] == 1, "the ack")
    finally:
        await consumer.stop()


async def test_fail_and_a_missing_ack_bring_the_message_back(
    fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel, clock: FakeClock
) -> None:
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        fake.generate_orders(1)
        (event,) = await consumer.take()
        assert await consumer.listener.fail(event, "database busy " + "x" * 1500)
        await eventually(lambda: fake.push.counts["failed"] == 1, "the Fail")
        (reason,) = pmc.fail_reasons
        assert reason is not None
        assert len(reason) == 1000
        assert reason.startswith("database busy ")
        clock.advance(fake.push.redeliver_after + 0.1)
        (retried,) = await consumer.take()
        assert retried.message_id == event.message_id
        # Not acknowledged either: due again after the same delay, on the same connection.
        clock.advance(fake.push.redeliver_after + 0.1)
        (third,) = await consumer.take()
        assert third.message_id == event.message_id
        assert consumer.listener.status.reconnects == 0
    finally:
        await consumer.stop()


async def test_duplicates_and_reordering_reach_the_caller_as_separate_deliveries(
    fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel
) -> None:
    fake.push.shuffle = True
    orders = fake.generate_orders(6)
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        events = await consumer.take(6)
        assert {e.key for e in events} == {o.order_id for o in orders}
        published = [str(m.message_id) for m in fake.push.messages()]
        received = [e.message_id for e in events]
        assert sorted(received) == sorted(published)
        assert received != published  # shuffled
        for event in events:
            assert await consumer.listener.ack(event)
        await eventually(lambda: fake.push.counts["acked"] == 6, "six acks")
        fake.push.duplicate_rate = 1.0
        (duplicate,) = await consumer.take()
        assert duplicate.message_id in published
        original = next(e for e in events if e.message_id == duplicate.message_id)
        assert duplicate.delivery != original.delivery
        assert fake.push.counts["duplicated"] >= 1
    finally:
        await consumer.stop()


async def test_a_malformed_frame_is_skipped_and_logged_with_the_channel(
    fake: FakePdd,
    pmc: FakePmcServer,
    make_channel: MakeChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="channelsync.pinduoduo.events")
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        await eventually(lambda: pmc.connections == 1, "a connection")
        pmc.send_malformed()
        pmc.send_raw(b"\x00\x01binary")
        pmc.send_raw('{"commandType": "Surprise"}')
        pmc.send_raw('{"commandType": "Fail", "message": "quota exceeded"}')
        (order,) = fake.generate_orders(1)
        (event,) = await consumer.take()
        assert event.key == order.order_id
        skipped = [r.getMessage() for r in caplog.records if "skipped a PMC frame" in r.message]
        assert len(skipped) == 3
        assert all("channel shop" in line for line in skipped)
        assert any("not JSON" in line for line in skipped)
        notices = [r.getMessage() for r in caplog.records if "reported a failure" in r.message]
        assert notices == ["PMC reported a failure to channel shop: quota exceeded"]
        assert consumer.listener.status.reconnects == 0
    finally:
        await consumer.stop()


async def test_unknown_topics_are_acknowledged_and_logged_once(
    fake: FakePdd,
    pmc: FakePmcServer,
    make_channel: MakeChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="channelsync.pinduoduo.events")
    for goods_id in (1, 2):
        fake.push.publish("pdd_goods_GoodsCheckReject", str(goods_id), {"goods_id": goods_id})
    fake.push.publish("pdd_refund_RefundCreated", "9", {"tid": "1-1", "refund_id": "x"})
    fake.push.publish("pdd_refund_RefundCreated", "8", {"tid": "1-1"})  # no refund_id
    (order,) = fake.generate_orders(1)
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        events = await consumer.take(2)
        assert [e.key for e in events if e.kind is EventKind.ORDER] == [order.order_id]
        await eventually(lambda: fake.push.counts["acked"] == 3, "unmapped messages acked")
        unmapped = [r for r in caplog.records if "is not mapped" in r.getMessage()]
        assert len(unmapped) == 1
        assert "channel shop" in unmapped[0].getMessage()
        unreadable = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(unreadable) == 1
        assert "refund_id is missing" in unreadable[0].getMessage()
    finally:
        await consumer.stop()


async def test_a_bad_signature_is_refused_and_the_listener_backs_off(
    fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel, clock: FakeClock
) -> None:
    wrong = {**DEMO_CREDENTIALS, "client_secret": "not-the-secret-0000"}
    backend = MemorySecretBackend({("shop", k): v for k, v in wrong.items()})
    channel = _channel(make_channel, pmc, store=CredentialStore(backend=backend, environ={}))
    consumer = Consumer(channel.listen())
    try:
        await eventually(lambda: consumer.listener.status.reconnects >= 2, "two refusals")
        status = consumer.listener.status
        assert status.state is not ListenerState.CONNECTED
        assert status.last_error is not None
        assert "PMC refused the connection" in status.last_error
        assert "HTTP 403" in status.last_error
        assert "not-the-secret" not in status.last_error
        assert pmc.counts["handshakes_refused"] >= 2
        assert pmc.counts["handshakes_accepted"] == 0
        # A refusal waits the longest backoff (60 s, with jitter) on the fake clock.
        assert clock.sleeps
        assert min(clock.sleeps) >= 0.8 * 60
    finally:
        await consumer.stop()


async def test_a_stale_timestamp_is_refused(fake: FakePdd, pmc: FakePmcServer) -> None:
    # A day behind: each refusal waits a minute on this clock, which must not catch up.
    behind = FakeClock(START - timedelta(days=1))
    backend = MemorySecretBackend({("shop", k): v for k, v in DEMO_CREDENTIALS.items()})
    channel = PinduoduoChannel(
        "shop",
        PinduoduoSettings(**DEMO_SETTINGS, events=True, events_url=pmc.url),  # type: ignore[arg-type]
        CredentialStore(backend=backend, environ={}).for_channel("shop"),
        transport=fake.transport(),
        clock=behind,
    )
    channel.pmc_timers = FAST
    consumer = Consumer(channel.listen())
    try:
        await eventually(lambda: consumer.listener.status.reconnects >= 1, "a refusal")
        assert "HTTP 403" in (consumer.listener.status.last_error or "")
        assert pmc.counts["handshakes_accepted"] == 0
    finally:
        await consumer.stop()


async def _server_beats(pmc: FakePmcServer, count: int) -> None:
    sent = pmc.counts["heartbeats_sent"]
    await eventually(lambda: pmc.counts["heartbeats_sent"] >= sent + count, "server heartbeats")


async def test_no_server_heartbeat_for_3_minutes_reconnects(
    pmc: FakePmcServer, make_channel: MakeChannel, clock: FakeClock
) -> None:
    consumer = Consumer(_listen(make_channel, pmc))
    try:
        await eventually(lambda: pmc.connections == 1, "a connection")
        # Server heartbeats keep it up however much time passes.
        for _ in range(3):
            clock.advance(100)
            await _server_beats(pmc, 3)
        assert consumer.listener.status.reconnects == 0
        pmc.stall_heartbeats()
        await asyncio.sleep(0.05)  # a heartbeat already on its way is read
        clock.advance(170)
        beats = pmc.counts["heartbeats_received"]
        await eventually(lambda: pmc.counts["heartbeats_received"] >= beats + 3, "some checks")
        assert consumer.listener.status.reconnects == 0
        clock.advance(11)
        await eventually(lambda: consumer.listener.status.reconnects == 1, "a reconnect")
        assert "no HeartBeat from PMC" in (consumer.listener.status.last_error or "")
        await eventually(lambda: pmc.counts["handshakes_accepted"] == 2, "the new connection")
    finally:
        await consumer.stop()


async def test_a_revoked_permit_stops_delivery_of_those_topics(
    fake: FakePdd, pmc: FakePmcServer, make_channel: MakeChannel
) -> None:
    channel = _channel(make_channel, pmc)
    consumer = Consumer(channel.listen())
    try:
        async with channel:
            await channel.enable_events()
            (kept,) = fake.generate_orders(1)
            (event,) = await consumer.take()
            assert event.key == kept.order_id
            await consumer.listener.ack(event)
            # The shop narrows its permit to refunds only (permit replaces, never merges).
            await channel.call("pdd.pmc.user.permit", {"topics": "pdd_refund_RefundCreated"})
        refused = fake.push.counts["refused_topic"]
        fake.generate_orders(1)
        assert fake.push.counts["refused_topic"] == refused + 1
        refund = fake.buyer_requests_refund(kept.order_id)
        (next_event,) = await consumer.take()
        assert next_event.kind is EventKind.REFUND
        assert next_event.key == refund.refund_id
        assert next_event.order_id == kept.order_id
    finally:
        await consumer.stop()


async def test_enable_events_permits_the_mapped_topics_and_is_idempotent(
    fake: FakePdd, make_channel: MakeChannel
) -> None:
    fake.push.permit([])  # a shop that was never opted in
    fake.generate_orders(1)
    assert fake.push.counts["published"] == 0
    channel = make_channel()
    async with channel:
        summary = await channel.enable_events()
        again = await channel.enable_events()
    assert summary == again
    assert summary.startswith("pdd.pmc.user.permit: shop opted in to 9 PMC topics")
    assert fake.push.permitted == frozenset(PMC_TOPICS)
    permits = [params for method, params in fake.received if method == "pdd.pmc.user.permit"]
    assert len(permits) == 2
    assert permits[0]["topics"] == ",".join(PMC_TOPICS)
    fake.generate_orders(1)
    assert fake.push.counts["published"] == 1


async def test_enable_events_names_a_topic_the_app_did_not_subscribe(
    fake: FakePdd, make_channel: MakeChannel
) -> None:
    channel = make_channel()
    channel.event_topics = ("pdd_trade_TradeConfirmed", "pdd_trade_NoSuchTopic")
    async with channel:
        with pytest.raises(InvalidRequestError, match="pdd_trade_NoSuchTopic"):
            await channel.enable_events()


async def test_neither_the_secret_nor_the_signature_reaches_the_logs(
    fake: FakePdd,
    pmc: FakePmcServer,
    make_channel: MakeChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the WebSocket library's frame and handshake logs too
    listener = _listen(make_channel, pmc)
    consumer = Consumer(listener)
    try:
        fake.generate_orders(1)
        (event,) = await consumer.take()
        await listener.ack(event)
        await eventually(lambda: fake.push.counts["acked"] == 1, "the ack")
    finally:
        await consumer.stop()
    secret = DEMO_CREDENTIALS["client_secret"]
    sign = pmc_sign(fake.client_id, millis(START), secret)
    # The client's side only: the fake's server logs are the marketplace's.
    client = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("channelsync.fake")
    )
    assert "/message/" in client  # the handshake was logged, masked
    assert "/***" in client
    assert sign not in client
    assert secret not in client
    assert secret not in repr(listener)
