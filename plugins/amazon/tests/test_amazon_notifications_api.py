"""The fake's Notifications API and the channel's opt-in (``enable_events``) against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from channelsync_amazon import AmazonChannel, AmazonSettings
from channelsync_amazon.events import ORDER_CHANGE_TYPES
from channelsync_amazon.events.subscribe import grantless_token_fields, subscription_body
from channelsync_amazon.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeSellingPartner
from channelsync_amazon.fake.events import FakeEventsServer

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import ConflictError

BASE = "https://sellingpartnerapi-na.amazon.com"
ARN = "arn:aws:sqs:us-east-1:123456789012:other-queue"


def _token(fake: FakeSellingPartner, fields: dict[str, str]) -> str:
    response = fake(httpx.Request("POST", f"{BASE}/auth/o2/token", data=fields))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _grantless(fake: FakeSellingPartner, scope: str = "sellingpartnerapi::notifications") -> str:
    fields = grantless_token_fields(
        str(DEMO_SETTINGS["lwa_client_id"]), DEMO_CREDENTIALS["lwa_client_secret"], scope
    )
    return _token(fake, fields)


def _seller(fake: FakeSellingPartner) -> str:
    return _token(
        fake,
        {
            "grant_type": "refresh_token",
            "refresh_token": DEMO_CREDENTIALS["refresh_token"],
            "client_id": str(DEMO_SETTINGS["lwa_client_id"]),
            "client_secret": DEMO_CREDENTIALS["lwa_client_secret"],
        },
    )


def _call(
    fake: FakeSellingPartner, method: str, path: str, token: str, body: object = None
) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else None
    headers = {"x-amz-access-token": token}
    if content is not None:
        headers["Content-Type"] = "application/json"
    response = fake(httpx.Request(method, f"{BASE}{path}", headers=headers, content=content))
    response.read()
    return response


@pytest.fixture
def served(fake: FakeSellingPartner) -> Iterator[FakeEventsServer]:
    with fake.serve_events(subscribed=False) as server:
        yield server


def _channel(fake: FakeSellingPartner, clock: FakeClock, **settings: Any) -> AmazonChannel:
    store = CredentialStore(
        backend=MemorySecretBackend({("az", k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    values = {**DEMO_SETTINGS, "base_url": BASE, **settings}
    return AmazonChannel(
        "az",
        AmazonSettings.model_validate(values),
        store.for_channel("az"),
        transport=fake.transport(),
        clock=clock,
    )


# -- tokens -------------------------------------------------------------------------------


def test_destinations_take_only_a_grantless_token_with_the_notifications_scope(
    fake: FakeSellingPartner,
) -> None:
    body = {"name": "x", "resourceSpecification": {"sqs": {"arn": ARN}}}
    seller = _seller(fake)
    assert _call(fake, "POST", "/notifications/v1/destinations", seller, body).status_code == 403
    migration = _grantless(fake, "sellingpartnerapi::migration")
    assert _call(fake, "POST", "/notifications/v1/destinations", migration, body).status_code == 403
    grantless = _grantless(fake)
    created = _call(fake, "POST", "/notifications/v1/destinations", grantless, body)
    assert created.status_code == 200
    payload = created.json()["payload"]
    assert payload["resource"] == {"sqs": {"arn": ARN}}
    listed = _call(fake, "GET", "/notifications/v1/destinations", grantless).json()
    assert listed == {"payload": [payload]}
    again = _call(fake, "POST", "/notifications/v1/destinations", grantless, body)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "Conflict"


def test_an_unknown_grantless_scope_is_refused_by_lwa(fake: FakeSellingPartner) -> None:
    fields = grantless_token_fields(
        str(DEMO_SETTINGS["lwa_client_id"]), DEMO_CREDENTIALS["lwa_client_secret"], "everything"
    )
    response = fake(httpx.Request("POST", f"{BASE}/auth/o2/token", data=fields))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_subscriptions_take_the_sellers_token_and_conflict_when_repeated(
    fake: FakeSellingPartner,
) -> None:
    grantless, seller = _grantless(fake), _seller(fake)
    destination = _call(
        fake,
        "POST",
        "/notifications/v1/destinations",
        grantless,
        {"name": "x", "resourceSpecification": {"sqs": {"arn": ARN}}},
    ).json()["payload"]["destinationId"]
    body = subscription_body(destination, ["ATVPDKIKX0DER"])
    path = "/notifications/v1/subscriptions/ORDER_CHANGE"
    assert _call(fake, "POST", path, grantless, body).status_code == 403
    created = _call(fake, "POST", path, seller, body)
    assert created.status_code == 200
    subscription = created.json()["payload"]
    assert subscription["destinationId"] == destination
    assert subscription["payloadVersion"] == "1.0"
    conflict = _call(fake, "POST", path, seller, body)
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "StateConflict"
    assert _call(fake, "GET", path, seller).json()["payload"] == subscription
    by_id = f"{path}/{subscription['subscriptionId']}"
    assert _call(fake, "GET", by_id, seller).status_code == 403
    assert _call(fake, "GET", by_id, grantless).json()["payload"] == subscription
    assert _call(fake, "DELETE", by_id, grantless).status_code == 200
    assert _call(fake, "GET", path, seller).status_code == 404


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"payloadVersion": "2.0"}, "payloadVersion"),
        ({"destinationId": "nope"}, "Destination"),
        (
            {"processingDirective": {"eventFilter": {"eventFilterType": "ANY_OFFER_CHANGED"}}},
            "eventFilterType",
        ),
        (
            {
                "processingDirective": {
                    "eventFilter": {"eventFilterType": "ORDER_CHANGE", "orderChangeTypes": ["X"]}
                }
            },
            "orderChangeTypes",
        ),
    ],
)
def test_a_bad_subscription_is_invalid_input(
    fake: FakeSellingPartner, change: dict[str, Any], problem: str
) -> None:
    grantless, seller = _grantless(fake), _seller(fake)
    destination = _call(
        fake,
        "POST",
        "/notifications/v1/destinations",
        grantless,
        {"name": "x", "resourceSpecification": {"sqs": {"arn": ARN}}},
    ).json()["payload"]["destinationId"]
    body = {**subscription_body(destination, ["ATVPDKIKX0DER"]), **change}
    answer = _call(fake, "POST", "/notifications/v1/subscriptions/ORDER_CHANGE", seller, body)
    assert answer.status_code == 400
    assert problem in answer.json()["errors"][0]["message"]


# -- enable_events ------------------------------------------------------------------------


async def test_enable_events_registers_the_queue_and_subscribes_once(
    fake: FakeSellingPartner, clock: FakeClock, served: FakeEventsServer
) -> None:
    async with _channel(fake, clock, events_url=served.url) as channel:
        summary = await channel.enable_events()
        assert "created" in summary
        assert served.arn in summary
        [destination] = fake.destinations.values()
        assert destination.arn == served.arn
        subscription = fake.subscriptions["ORDER_CHANGE"]
        assert subscription.destination_id == destination.destination_id
        assert subscription.processing_directive == {
            "eventFilter": {
                "eventFilterType": "ORDER_CHANGE",
                "orderChangeTypes": list(ORDER_CHANGE_TYPES),
                "marketplaceIds": ["ATVPDKIKX0DER"],
            }
        }
        again = await channel.enable_events()
    assert "already registered" in again
    assert "already subscribed" in again
    assert subscription.subscription_id in again
    assert len(fake.destinations) == 1
    assert fake.calls["createDestination"] == 1
    assert fake.calls["createSubscription"] == 2
    assert fake.calls["getSubscription"] == 1
    # Now the fake publishes the seller's order changes to the queue.
    fake.generate_orders(1)
    assert fake.push.counts["published"] == 1


async def test_enable_events_refuses_a_subscription_to_another_queue(
    fake: FakeSellingPartner, clock: FakeClock, served: FakeEventsServer
) -> None:
    fake.subscribe("ORDER_CHANGE", ARN)
    async with _channel(fake, clock, events_url=served.url) as channel:
        with pytest.raises(ConflictError, match="deleteSubscriptionById"):
            await channel.enable_events()


async def test_the_grantless_token_never_reaches_a_log(
    fake: FakeSellingPartner,
    clock: FakeClock,
    served: FakeEventsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    async with _channel(fake, clock, events_url=served.url) as channel:
        await channel.enable_events()
    issued = [*fake.grantless_tokens, *fake.access_tokens]
    assert issued
    for token in issued:
        assert token not in caplog.text


# -- what the fake publishes ---------------------------------------------------------------


def test_the_event_filter_and_a_revoked_subscription_are_honoured(
    fake: FakeSellingPartner, served: FakeEventsServer
) -> None:
    subscription = fake.subscribe("ORDER_CHANGE", served.arn)
    [order] = fake.generate_orders(1)
    assert fake.push.counts["published"] == 1
    fake.request_cancellation(order.order_id)  # BuyerRequestedChange: in the filter
    assert fake.push.counts["published"] == 2
    subscription.processing_directive = {
        "eventFilter": {
            "eventFilterType": "ORDER_CHANGE",
            "orderChangeTypes": ["OrderStatusChange"],
            "marketplaceIds": ["A1PA6795UKMFR9"],
        }
    }
    fake.cancel_order(order.order_id)
    assert fake.notifier.counts["filtered"] == 1
    subscription.processing_directive = None
    grantless = _grantless(fake)
    path = f"/notifications/v1/subscriptions/ORDER_CHANGE/{subscription.subscription_id}"
    assert _call(fake, "DELETE", path, grantless).status_code == 200
    fake.generate_orders(1)
    assert fake.push.counts["published"] == 2
    assert fake.notifier.counts["unsubscribed"] >= 1


def test_published_envelopes_follow_the_schema(
    fake: FakeSellingPartner, served: FakeEventsServer
) -> None:
    fake.subscribe("ORDER_CHANGE", served.arn)
    fake.subscribe("LISTINGS_ITEM_MFN_QUANTITY_CHANGE", served.arn)
    [order] = fake.generate_orders(1)
    messages = fake.push.messages()
    kinds = [m.topic for m in messages]
    assert kinds[0] == "ORDER_CHANGE"
    assert set(kinds[1:]) == {"LISTINGS_ITEM_MFN_QUANTITY_CHANGE"}
    change = messages[0].content["Payload"]["OrderChangeNotification"]
    assert change["AmazonOrderId"] == order.order_id
    assert change["SellerId"] == fake.seller_id
    assert change["Summary"]["OrderStatus"] == "Unshipped"
    assert [i["SellerSKU"] for i in change["Summary"]["OrderItems"]] == [
        line.merchant_code for line in order.lines
    ]
    assert messages[0].content["NotificationMetadata"]["SubscriptionId"] == (
        fake.subscriptions["ORDER_CHANGE"].subscription_id
    )
