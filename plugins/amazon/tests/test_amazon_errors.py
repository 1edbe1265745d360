"""Every error of the reference mapped to the core classes; bad bodies; 429 and rate headers."""

from __future__ import annotations

import httpx
import pytest
from channelsync_amazon import AmazonChannel, AmazonSettings
from channelsync_amazon.errors import LWA_ERRORS, SP_API_ERRORS, SpApiClassifier
from channelsync_amazon.fake import DEMO_SETTINGS, FakeSellingPartner

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    ConflictError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from channelsync.testing.fakes import Fault, ThrottleRule

# (HTTP status, code) -> class, from the reference's error table (§4).
REFERENCE_ERRORS = [
    (400, "InvalidInput", InvalidRequestError),
    (403, "Unauthorized", AuthorizationError),
    (404, "NotFound", NotFoundError),
    (413, "RequestEntityTooLarge", InvalidRequestError),
    (415, "UnsupportedMediaType", InvalidRequestError),
    (429, "QuotaExceeded", RateLimitedError),
    (500, "InternalFailure", TransientError),
    (503, "ServiceUnavailable", TransientError),
]
LWA_REFERENCE = [
    ("access_denied", AuthorizationError),
    ("invalid_grant", AuthenticationError),
    ("invalid_request", InvalidRequestError),
    ("invalid_scope", InvalidRequestError),
    ("server_error", TransientError),
    ("temporarily_unavailable", TransientError),
    ("unauthorized_client", AuthorizationError),
    ("invalid_client", AuthenticationError),
]


@pytest.mark.parametrize(("status", "code", "expected"), REFERENCE_ERRORS)
def test_sp_api_errors_map_to_core_classes(
    status: int, code: str, expected: type[ChannelError]
) -> None:
    response = httpx.Response(
        status,
        json={"errors": [{"code": code, "message": f"{code} happened", "details": ""}]},
    )
    error = SpApiClassifier(FakeClock()).classify(response, "getOrders")
    assert type(error) is expected
    assert error is not None
    assert error.code == code
    assert error.status_code == status
    assert error.retryable is (status in (429, 500, 503))
    assert SP_API_ERRORS[code] is expected


@pytest.mark.parametrize(("code", "expected"), LWA_REFERENCE)
def test_lwa_errors_map_to_core_classes(code: str, expected: type[ChannelError]) -> None:
    response = httpx.Response(400, json={"error": code, "error_description": "nope"})
    error = SpApiClassifier(FakeClock()).classify(response, "lwaToken")
    assert type(error) is expected
    assert LWA_ERRORS[code] is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, AuthenticationError),
        (403, AuthorizationError),
        (502, TransientError),
        (409, ConflictError),
        (418, InvalidRequestError),
    ],
)
def test_unreadable_error_bodies_fall_back_to_the_status(
    status: int, expected: type[Exception]
) -> None:
    for body in (b"", b"<Error><Code>AccessDenied</Code></Error>", b'{"errors": [{"co'):
        error = SpApiClassifier(FakeClock()).classify(httpx.Response(status, content=body), "x")
        assert isinstance(error, expected)


def test_unknown_code_uses_the_status_class() -> None:
    response = httpx.Response(503, json={"errors": [{"code": "Brownout", "message": "later"}]})
    error = SpApiClassifier(FakeClock()).classify(response, "getOrders")
    assert isinstance(error, TransientError)
    assert error.code == "Brownout"


def test_success_statuses_are_not_errors() -> None:
    classifier = SpApiClassifier(FakeClock())
    for status in (200, 201, 202, 204):
        assert classifier.classify(httpx.Response(status), "x") is None


async def test_not_found_through_the_fake(channel: AmazonChannel) -> None:
    with pytest.raises(NotFoundError) as caught:
        await channel.get_order("111-0000000-0000000")
    assert caught.value.code == "NotFound"
    assert caught.value.request_id  # x-amzn-RequestId carried into the error
    assert caught.value.channel == "amazon-us"
    assert caught.value.operation == "getOrder"


@pytest.mark.parametrize("fault", [Fault.MALFORMED, Fault.TRUNCATED])
async def test_malformed_and_truncated_bodies_are_data_errors(
    channel: AmazonChannel, fake: FakeSellingPartner, fault: Fault
) -> None:
    order_id = fake.generate_orders(1)[0].order_id
    await channel.get_order(order_id)  # token fetched
    fake.faults.force(fault)  # once: a transport accident, retried
    assert (await channel.get_order(order_id)).order_id == order_id
    fake.faults.force(fault, times=5)  # on every attempt the policy allows
    with pytest.raises(DataError):
        await channel.get_order(order_id)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"payload": []},
        {"payload": {"AmazonOrderId": 5}},
        {"payload": {"AmazonOrderId": "1", "OrderStatus": "Teleported"}},
        {"payload": {"AmazonOrderId": "1", "OrderStatus": "Shipped", "OrderTotal": {"Amount": 1}}},
    ],
)
async def test_wrong_shapes_are_data_errors_not_key_errors(body: object, clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "Atza|t", "expires_in": 3600})
        if request.url.path.endswith("/orderItems"):
            return httpx.Response(
                200,
                json={
                    "payload": {
                        "AmazonOrderId": "1",
                        "OrderItems": [{"ASIN": "B0", "OrderItemId": "1", "QuantityOrdered": 1}],
                    }
                },
            )
        return httpx.Response(200, json=body)

    store = CredentialStore(
        backend=MemorySecretBackend({("a", "lwa_client_secret"): "s", ("a", "refresh_token"): "r"}),
        environ={},
    )
    channel = AmazonChannel(
        "a",
        AmazonSettings.model_validate(DEMO_SETTINGS),
        store.for_channel("a"),
        transport=httpx.MockTransport(handler),
        clock=clock,
    )
    async with channel:
        with pytest.raises(DataError):
            await channel.get_order("1")


async def test_throttle_is_retried_with_backoff(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock, wire
) -> None:
    order_id = fake.generate_orders(1)[0].order_id
    await channel.get_order(order_id)
    fake.faults.force(Fault.THROTTLE, times=2)
    before = len(clock.sleeps)
    order = await channel.get_order(order_id)
    assert order.order_id == order_id
    assert len(clock.sleeps) > before  # backed off on the fake clock
    assert channel.metrics.throttles(channel.name, "getOrder") == 2
    assert fake.faults.injected[Fault.THROTTLE] == 2


async def test_server_errors_are_retried(channel: AmazonChannel, fake: FakeSellingPartner) -> None:
    order_id = fake.generate_orders(1)[0].order_id
    fake.faults.force(Fault.SERVER_ERROR)
    fake.faults.force(Fault.RESET)
    assert (await channel.get_order(order_id)).order_id == order_id


async def test_the_rate_limit_header_tightens_the_limiter(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock
) -> None:
    fake.usage_plans["getOrder2026"] = ThrottleRule(0.1, 30)
    order_id = fake.generate_orders(1)[0].order_id
    await channel.get_order(order_id)
    bucket = channel.http.rate_limiter.bucket(channel.name, "getOrder")
    assert bucket.declared_rate == 0.5
    assert bucket.rate == pytest.approx(0.1)


async def test_a_seller_granted_more_than_the_default_plan_is_paced_at_the_grant(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    fake.usage_plans["getOrder2026"] = ThrottleRule(2.0, 30)
    order_id = fake.generate_orders(1)[0].order_id
    await channel.get_order(order_id)
    bucket = channel.http.rate_limiter.bucket(channel.name, "getOrder")
    assert bucket.declared_rate == 0.5
    assert bucket.rate == pytest.approx(2.0)


async def test_a_real_throttle_answer_from_the_usage_plan(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock, wire
) -> None:
    # A plan smaller than the declared one, and no header seen yet: the fake throttles.
    fake.usage_plans["getOrder2026"] = ThrottleRule(0.5, 1)
    order_id = fake.generate_orders(1)[0].order_id
    await channel.get_order(order_id)
    await channel.get_order(order_id)
    assert channel.metrics.throttles(channel.name, "getOrder") == 1
    assert wire.checked["getOrder"] == 3
