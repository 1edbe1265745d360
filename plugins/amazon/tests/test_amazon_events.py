"""The SQS listener against the fake's served queue (moto on loopback), end to end.

Every test talks to a real SQS wire (SigV4-signed HTTP on loopback) with short
timers: a 2 s visibility timeout and 1 s long polls. Backoff waits run on a
``FakeClock``; the queue's own timers are SQS's (wall clock, a few seconds at most).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channelsync_amazon import AmazonChannel, AmazonSettings
from channelsync_amazon.events import SqsConnection, SqsListener
from channelsync_amazon.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeSellingPartner, demo_fake
from channelsync_amazon.fake.aws_keys import AwsKey
from channelsync_amazon.fake.envelopes import envelope, listing_status_payload
from channelsync_amazon.fake.events import FakeEventsServer
from pydantic import ValidationError

from channelsync.channels import ChannelEvent, EventKind, ListenerState
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend

NAME = "amazon-us"


@pytest.fixture
def served(fake: FakeSellingPartner) -> Iterator[FakeEventsServer]:
    with fake.serve_events() as server:
        yield server


def _channel(
    server: FakeEventsServer,
    clock: FakeClock,
    secrets: dict[str, str] | None = None,
    **settings: Any,
) -> AmazonChannel:
    store = CredentialStore(
        backend=MemorySecretBackend(
            {(NAME, k): v for k, v in (secrets or DEMO_CREDENTIALS).items()}
        ),
        environ={},
    )
    settings = AmazonSettings.model_validate(
        {
            **DEMO_SETTINGS,
            "base_url": "http://127.0.0.1:9",
            "events": True,
            "events_url": server.url,
            **settings,
        }
    )
    return AmazonChannel(NAME, settings, store.for_channel(NAME), clock=clock)


def _listener(server: FakeEventsServer, clock: FakeClock, **secrets: str) -> SqsListener:
    listener = _channel(server, clock, {**DEMO_CREDENTIALS, **secrets}).listen()
    listener.wait_seconds = 1
    return listener


@asynccontextmanager
async def _stream(listener: SqsListener) -> AsyncIterator[AsyncIterator[ChannelEvent]]:
    events = listener.__aiter__()
    try:
        yield events
    finally:
        await listener.close()
        await events.aclose()  # type: ignore[attr-defined]


async def _take(events: AsyncIterator[ChannelEvent], count: int) -> list[ChannelEvent]:
    taken: list[ChannelEvent] = []
    async with asyncio.timeout(10):
        while len(taken) < count:
            taken.append(await anext(events))
    return taken


async def _until(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


# -- receiving and acknowledging ----------------------------------------------------------


async def test_an_order_change_arrives_and_its_ack_deletes_it(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    [order] = fake.generate_orders(1)
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        [event] = await _take(events, 1)
        assert (event.kind, event.key, event.topic) == (
            EventKind.ORDER,
            order.order_id,
            "ORDER_CHANGE",
        )
        assert event.occurred_at == order.modified
        assert event.delivery
        sent = fake.push.messages()[0].content["NotificationMetadata"]["NotificationId"]
        assert event.message_id == sent
        assert listener.status.state is ListenerState.CONNECTED
        assert await listener.ack(event) is True
    assert served.depth() == (0, 0)


async def test_an_unconfirmed_event_comes_back_after_a_reconnect(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    fake.generate_orders(1)
    async with _stream(_listener(served, clock)) as events:
        [first] = await _take(events, 1)
    # Closing released it at once: no wait for the visibility timeout.
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        [again] = await _take(events, 1)
        assert again.message_id == first.message_id
        assert again.delivery != first.delivery
        assert await listener.ack(again) is True
    assert served.depth() == (0, 0)


async def test_a_failed_event_is_delivered_again(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    fake.generate_orders(1)
    listener = _listener(served, clock)
    listener.fail_delay = 0
    async with _stream(listener) as events:
        [first] = await _take(events, 1)
        assert await listener.fail(first, "database busy") is True
        [again] = await _take(events, 1)
        assert again.message_id == first.message_id
        assert await listener.ack(again) is True


async def test_duplicates_and_reordering_reach_the_caller_as_separate_deliveries(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    served.duplicates = True
    served.reorder = True
    [older] = fake.generate_orders(1)
    clock.advance(5)
    [newer] = fake.generate_orders(1)
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        received = await _take(events, 4)
        for event in received:
            assert await listener.ack(event) is True
    keys = [e.key for e in received]
    assert keys.count(older.order_id) == keys.count(newer.order_id) == 2
    by_key = {k: {e.message_id for e in received if e.key == k} for k in keys}
    assert all(len(ids) == 1 for ids in by_key.values())  # the same id twice
    assert len({e.delivery for e in received}) == 4  # four deliveries
    # The newer change was sent first, the older one after it.
    assert keys[0] == newer.order_id
    assert received[-1].occurred_at is not None
    assert received[0].occurred_at is not None
    assert received[-1].occurred_at < received[0].occurred_at
    assert served.sent == 4


async def test_a_malformed_message_is_logged_once_deleted_and_skipped(
    fake: FakeSellingPartner,
    served: FakeEventsServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    served.send_raw("{not json")
    served.send_raw(json.dumps({"NotificationType": "ANY_OFFER_CHANGED"}))
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        taking = asyncio.ensure_future(_take(events, 1))
        await _until(lambda: served.depth() == (0, 0))
        [order] = fake.generate_orders(1)
        [event] = await taking
        assert event.key == order.order_id
        await listener.ack(event)
    skipped = [r for r in caplog.records if "can never be processed" in r.getMessage()]
    assert len(skipped) == 2
    assert all(f"channel {NAME}" in r.getMessage() for r in skipped)
    assert "not JSON" in skipped[0].getMessage()


async def test_listing_notifications_of_both_spellings_are_listing_events(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    for spelling in ("LISTINGS_ITEM_STATUS_CHANGE", "LISTINGS_ITEM_STATUS_CHANGED"):
        payload = listing_status_payload(
            fake, "CS-0001-1", ["DISCOVERABLE"], asin="B000000001", created=clock.now()
        )
        message = envelope(fake, spelling, payload, subscription_id="s-1", now=clock.now())
        served.send_raw(json.dumps(message))
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        received = await _take(events, 2)
        for event in received:
            await listener.ack(event)
    assert {(e.kind, e.key, e.topic) for e in received} == {
        (EventKind.LISTING, "CS-0001-1", "LISTINGS_ITEM_STATUS_CHANGE")
    }


async def test_a_notification_for_another_seller_is_left_on_the_queue(
    fake: FakeSellingPartner,
    served: FakeEventsServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = listing_status_payload(
        fake, "CS-0001-1", ["BUYABLE"], asin="B000000001", created=clock.now()
    )
    payload["SellerId"] = "A2OTHERSELLER"
    served.send_raw(
        json.dumps(
            envelope(
                fake, "LISTINGS_ITEM_STATUS_CHANGE", payload, subscription_id="s", now=clock.now()
            )
        )
    )
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        taking = asyncio.ensure_future(_take(events, 1))
        await _until(lambda: served.depth() == (0, 1))  # received, not deleted
        [order] = fake.generate_orders(1)
        [event] = await taking
        assert event.key == order.order_id
        await listener.ack(event)
    assert any("A2OTHERSELLER" in r.getMessage() for r in caplog.records)
    assert sum(served.depth()) == 1


# -- the visibility timeout ---------------------------------------------------------------


async def test_visibility_is_extended_while_an_event_is_processed(
    fake: FakeSellingPartner, clock: FakeClock
) -> None:
    with fake.serve_events(visibility_timeout=1) as served:
        fake.generate_orders(1)
        listener = _listener(served, clock)
        async with _stream(listener) as events:
            [event] = await _take(events, 1)
            await asyncio.sleep(2.2)  # twice the visibility timeout: the keeper extends it
            assert served.depth() == (0, 1)
            assert await listener.ack(event) is True
        assert served.depth() == (0, 0)


async def test_an_ack_after_the_visibility_deadline_is_not_confirmed(
    fake: FakeSellingPartner, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with fake.serve_events(visibility_timeout=1) as served:
        fake.generate_orders(1)
        listener = _listener(served, clock)
        listener.max_hold = 0.0  # never extended
        async with _stream(listener) as events:
            [event] = await _take(events, 1)
            await asyncio.sleep(1.3)
            assert await listener.ack(event) is False
    assert any("after its visibility deadline" in r.getMessage() for r in caplog.records)


# -- refusals, backoff, closing -----------------------------------------------------------


async def test_a_bad_signature_is_refused_and_the_listener_backs_off(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    listener = _listener(served, clock, aws_secret_access_key="not-the-secret")
    task = asyncio.ensure_future(anext(listener.__aiter__()))
    await _until(lambda: listener.status.reconnects >= 2)
    await listener.close()
    task.cancel()
    with pytest.raises((asyncio.CancelledError, StopAsyncIteration)):
        await task
    assert served.refused.get("SignatureDoesNotMatch", 0) >= 2
    assert "SignatureDoesNotMatch" in (listener.status.last_error or "")
    # A refusal waits the longest backoff (60 s, with jitter), on the fake clock.
    assert clock.sleeps
    assert min(clock.sleeps) >= 0.8 * listener.max_backoff


async def test_an_unknown_key_is_refused(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    listener = _listener(served, clock, aws_access_key_id="AKIAUNKNOWN000000000")
    task = asyncio.ensure_future(anext(listener.__aiter__()))
    await _until(lambda: listener.status.reconnects >= 1)
    await listener.close()
    task.cancel()
    with pytest.raises((asyncio.CancelledError, StopAsyncIteration)):
        await task
    assert "InvalidClientTokenId" in (listener.status.last_error or "")


async def test_an_sqs_outage_ends_the_connection_and_the_listener_reconnects(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        fake.generate_orders(1)
        [first] = await _take(events, 1)
        assert await listener.ack(first) is True
        served.outage(3)  # botocore tries each call three times
        [order] = fake.generate_orders(1)
        [event] = await _take(events, 1)
        assert event.key == order.order_id
        assert await listener.ack(event) is True
    assert served.refused["ServiceUnavailable"] == 3
    assert listener.status.reconnects == 1
    assert "ServiceUnavailable" in (listener.status.last_error or "")
    assert clock.sleeps  # the backoff, on the fake clock


async def test_closing_ends_a_long_poll_promptly(
    served: FakeEventsServer, clock: FakeClock
) -> None:
    listener = _listener(served, clock)
    listener.wait_seconds = 20
    task = asyncio.ensure_future(anext(listener.__aiter__()))
    await _until(lambda: listener.status.state is ListenerState.CONNECTED)
    await asyncio.sleep(0.1)  # inside the 20 s long poll
    async with asyncio.timeout(3):
        await listener.close()
        with pytest.raises(StopAsyncIteration):
            await task
    assert listener.status.state is ListenerState.CLOSED


async def test_a_reader_cancelled_mid_poll_leaves_no_poll_behind(
    served: FakeEventsServer, clock: FakeClock
) -> None:
    """A worker's step cancelled during a long poll: the poll ends with it.

    Left running, the poll outlived the client closed under it and failed with nobody
    to read its error ("Task exception was never retrieved").
    """
    listener = _listener(served, clock)
    listener.wait_seconds = 20
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(anext(listener.__aiter__()))
    await _until(lambda: listener.status.state is ListenerState.CONNECTED)
    await asyncio.sleep(0.1)  # inside the 20 s long poll
    started = asyncio.all_tasks() - before - {task}
    assert started  # the poll (and the visibility keeper) run as tasks of their own
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await listener.close()
    await asyncio.sleep(0.2)
    left = [t for t in started if not t.done() or (not t.cancelled() and t.exception())]
    assert left == []


async def test_without_a_long_poll_an_empty_queue_is_asked_once_a_second(
    fake: FakeSellingPartner,
    served: FakeEventsServer,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener = _channel(served, clock, events_wait_seconds=0).listen()
    assert listener.wait_seconds == 0
    asked: list[float] = []
    receive = SqsConnection._receive

    async def counted(self: SqsConnection) -> list[dict[str, Any]] | None:
        asked.append(time.monotonic())
        return await receive(self)

    monkeypatch.setattr(SqsConnection, "_receive", counted)
    async with _stream(listener) as events:
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(1.5)
        # Not a busy loop: one receive, a pause of a second, the next.
        assert 1 <= len(asked) <= 3
        [order] = fake.generate_orders(1)
        async with asyncio.timeout(5):
            event = await waiting
        assert event.key == order.order_id


def test_the_long_poll_is_at_most_what_sqs_allows(served: FakeEventsServer) -> None:
    with pytest.raises(ValidationError, match="events_wait_seconds"):
        _channel(served, FakeClock(), events_wait_seconds=21)


async def test_a_revoked_subscription_stops_delivery(
    fake: FakeSellingPartner, served: FakeEventsServer, clock: FakeClock
) -> None:
    del fake.subscriptions["ORDER_CHANGE"]
    fake.subscriptions_changed()
    [unseen] = fake.generate_orders(1)
    assert fake.push.counts["published"] == 0
    fake.subscribe("ORDER_CHANGE", served.arn)
    [seen] = fake.generate_orders(1)
    listener = _listener(served, clock)
    async with _stream(listener) as events:
        [event] = await _take(events, 1)
        assert await listener.ack(event) is True
    assert event.key == seen.order_id != unseen.order_id
    assert served.depth() == (0, 0)


async def test_secrets_never_reach_a_log(
    fake: FakeSellingPartner,
    served: FakeEventsServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.aws_keys["ASIATEMPORARY0000000"] = AwsKey(
        "ASIATEMPORARY0000000", "temporary-secret-value", "session-token-value"
    )
    fake.generate_orders(1)
    listener = _listener(
        served,
        clock,
        aws_access_key_id="ASIATEMPORARY0000000",
        aws_secret_access_key="temporary-secret-value",
        aws_session_token="session-token-value",
    )
    async with _stream(listener) as events:
        [event] = await _take(events, 1)
        assert await listener.ack(event) is True
    assert "X-Amz-Security-Token" in caplog.text or "x-amz-security-token" in caplog.text
    assert "temporary-secret-value" not in caplog.text
    assert "session-token-value" not in caplog.text


# -- the demo seam ------------------------------------------------------------------------


async def test_the_demo_settings_and_credentials_listen_to_the_served_fake() -> None:
    fake = demo_fake()
    http = fake.serve()
    try:
        with fake.serve_events() as served:
            store = CredentialStore(
                backend=MemorySecretBackend(
                    {("amazon-demo", k): v for k, v in DEMO_CREDENTIALS.items()}
                ),
                environ={},
            )
            settings = AmazonSettings.model_validate(
                {**DEMO_SETTINGS, "base_url": http.url, "events": True, "events_url": served.url}
            )
            channel = AmazonChannel("amazon-demo", settings, store.for_channel("amazon-demo"))
            async with channel:
                [order] = fake.generate_orders(1)
                listener = channel.listen()
                listener.wait_seconds = 1
                async with _stream(listener) as events:
                    [event] = await _take(events, 1)
                    assert event.key == order.order_id
                    assert await listener.ack(event) is True
                fetched = await channel.get_order(event.key)
                assert fetched.order_id == order.order_id
    finally:
        http.stop()
