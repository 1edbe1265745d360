from __future__ import annotations

import json

import httpx
import pytest
from channelsync_tmall import TmallChannel
from channelsync_tmall.codes import TopErrorDetail, ban_seconds, error_for
from channelsync_tmall.envelope import TopClassifier, nested_list, unwrap
from channelsync_tmall.fake import FakeTop

from channelsync.clock import FakeClock
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
from channelsync.http import RetryPolicy, UnreadableResponseError
from channelsync.testing.fakes import Fault

from .conftest import MakeChannel

PLATFORM = [
    (3, InvalidRequestError),
    (4, RateLimitedError),
    (5, RateLimitedError),
    (6, RateLimitedError),
    (7, RateLimitedError),
    (8, RateLimitedError),
    (9, InvalidRequestError),
    (10, TransientError),
    (11, AuthorizationError),
    (12, AuthorizationError),
    (13, AuthorizationError),
    (21, InvalidRequestError),
    (22, InvalidRequestError),
    (23, InvalidRequestError),
    (24, AuthenticationError),
    (25, AuthenticationError),
    (26, AuthenticationError),
    (27, AuthenticationError),
    (28, AuthenticationError),
    (29, AuthenticationError),
    (30, InvalidRequestError),
    (31, InvalidRequestError),
    (32, InvalidRequestError),
    (33, InvalidRequestError),
    (34, InvalidRequestError),
    (40, InvalidRequestError),
    (41, InvalidRequestError),
    (42, AuthorizationError),
    (43, InvalidRequestError),
]

SUB_CODES = [
    ("isp.top-remote-connection-timeout", TransientError),
    ("isp.top-remote-connection-timeout-tmall", TransientError),
    ("isp.top-remote-service-unavailable", TransientError),
    ("isp.top-remote-unknown-error", TransientError),
    ("isp.remote-connection-error", TransientError),
    ("isp.remote-connection-error-tmall", TransientError),
    ("isp.item-update-service-error:IC_SYSTEM_NOT_READY_TRY_AGAIN_LATER", TransientError),
    ("isp.item-update-service-error:GENERIC_FAILURE", TransientError),
    ("isp.something-new", TransientError),
    ("isv.item-not-exist:invalid-numIid-or-iid", NotFoundError),
    ("isv.item-not-exist:invalid-numIid-or-iid-tmall", NotFoundError),
    ("isv.item-is-delete:invalid-numIid-or-iid", NotFoundError),
    ("isv.item-is-delete:invalid-numIid-or-iid-tmall", NotFoundError),
    ("isv.invalid-parameter:sku-properties", NotFoundError),
    ("isv.invalid-parameter:sku-properties-tmall", NotFoundError),
    ("isv.invalid-parameter:quantity-tmall", InvalidRequestError),
    ("isv.logistics-offline-service-error:ORDER_NOT_FOUND_ERROR", NotFoundError),
    ("isv.logistics-offline-service-error:B150", TransientError),
    ("isv.logistics-offline-service-error:ORDER_ALREADY_SHIPPED", ConflictError),
    ("isv.invalid-parameter:num_iid", InvalidRequestError),
    ("isv.missing-parameter:num_iid", InvalidRequestError),
    ("isv.something-else", InvalidRequestError),
]


@pytest.mark.parametrize(("code", "expected"), PLATFORM)
def test_platform_codes(code: int, expected: type[ChannelError]) -> None:
    error = error_for(TopErrorDetail(code=code, msg="m", request_id="r1"), operation="op")
    assert type(error) is expected
    assert error.code == str(code)
    assert error.request_id == "r1"
    assert error.operation == "op"


@pytest.mark.parametrize("code", [15, 50])
@pytest.mark.parametrize(("sub_code", "expected"), SUB_CODES)
def test_business_sub_codes(code: int, sub_code: str, expected: type[ChannelError]) -> None:
    error = error_for(TopErrorDetail(code=code, msg="Remote service error", sub_code=sub_code))
    assert type(error) is expected
    assert error.code == f"{code}/{sub_code}"


@pytest.mark.parametrize("sub_code", ["invalid-sessionkey", "session-expired"])
def test_session_sub_codes(sub_code: str) -> None:
    error = error_for(TopErrorDetail(code=27, msg="Invalid session", sub_code=sub_code))
    assert isinstance(error, AuthenticationError)
    assert not error.retryable


@pytest.mark.parametrize(
    "sub_code",
    [
        "accesscontrol.limited-by-app-access-count",
        "accesscontrol.limited-by-api-access-count",
        "accesscontrol.limited-by-app-api-access-count",
    ],
)
def test_code_7_ban_carries_its_duration(sub_code: str) -> None:
    error = error_for(
        TopErrorDetail(
            code=7,
            msg="App Call Limited",
            sub_code=sub_code,
            sub_msg="This ban will last for 41 more seconds",
        )
    )
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 42.0  # N + 1: TOP states whole seconds left


def test_ban_seconds_reads_only_the_ban_phrase() -> None:
    assert ban_seconds("This ban will last for 1 more second") == 2.0
    assert ban_seconds("something else") is None
    assert ban_seconds(None) is None
    other = error_for(TopErrorDetail(code=8, msg="App Call Exceeds Limited Frequency"))
    assert isinstance(other, RateLimitedError)
    assert other.retry_after is None


def test_unknown_code_without_sub_code_is_permanent() -> None:
    assert isinstance(error_for(TopErrorDetail(code=999, msg="x")), InvalidRequestError)


def _response(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, request=httpx.Request("POST", "http://x"))


@pytest.mark.parametrize(
    "body",
    [
        b'{"error_response":{"code":"15","msg":"Remote service error",'
        b'"sub_code":"isv.item-not-exist:invalid-numIid-or-iid","request_id":"abc"}}',
        b'{"error_response":{"code":15,"msg":"Remote service error",'
        b'"sub_code":"isv.item-not-exist:invalid-numIid-or-iid","request_id":"abc"}}',
    ],
)
def test_classifier_reads_error_response_with_http_200(body: bytes) -> None:
    error = TopClassifier(FakeClock()).classify(_response(body), "taobao.item.seller.get")
    assert isinstance(error, NotFoundError)
    assert error.request_id == "abc"


def test_classifier_passes_success_and_non_json() -> None:
    classifier = TopClassifier(FakeClock())
    assert classifier.classify(_response(b'{"item_get_response":{}}'), "op") is None
    # Not JSON at all: a transport accident, retried by the transport.
    assert isinstance(classifier.classify(_response(b"<html>"), "op"), UnreadableResponseError)
    assert isinstance(classifier.classify(_response(b"", 503), "op"), TransientError)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"other_response": {}},
        {"item_seller_get_response": "text"},
        [],
        "string",
        {"error_response": "oops"},
    ],
)
def test_unwrap_never_raises_key_error(body: object) -> None:
    with pytest.raises(ChannelError):
        unwrap(body, "taobao.item.seller.get")


def test_nested_list_shapes() -> None:
    assert nested_list({}, "items", "item") == []
    assert nested_list({"items": {}}, "items", "item") == []
    assert nested_list({"items": {"item": {"a": 1}}}, "items", "item") == [{"a": 1}]
    assert nested_list({"items": {"item": [{"a": 1}]}}, "items", "item") == [{"a": 1}]
    with pytest.raises(DataError):
        nested_list({"items": []}, "items", "item")
    with pytest.raises(DataError):
        nested_list({"items": {"item": [1]}}, "items", "item")


@pytest.mark.parametrize("fault", [Fault.MALFORMED, Fault.TRUNCATED])
async def test_malformed_and_truncated_bodies_are_data_errors(
    channel: TmallChannel, fake: FakeTop, fault: Fault
) -> None:
    fake.faults.force(fault, times=5)  # on every attempt the retry policy allows
    async with channel:
        with pytest.raises(DataError) as raised:
            await channel.get_order("1")
    assert raised.value.channel == "tmall-main"
    assert raised.value.operation == "taobao.trade.fullinfo.get"


GOOD_TRADE = {
    "tid": 3725362658812595205,
    "tid_str": "3725362658812595205",
    "status": "WAIT_SELLER_SEND_GOODS",
    "created": "2024-03-01 12:00:00",
    "modified": "2024-03-01 12:05:00",
    "payment": "200.07",
    "orders": {"order": [{"oid": 1, "num_iid": 2, "num": 1, "price": "200.07"}]},
}


@pytest.mark.parametrize(
    "trade",
    [
        {**GOOD_TRADE, "payment": "two hundred"},
        {**GOOD_TRADE, "payment": 200.07},
        {**GOOD_TRADE, "modified": "2024-03-01T12:05:00Z"},
        {**GOOD_TRADE, "status": "SOMETHING_NEW"},
        {k: v for k, v in GOOD_TRADE.items() if k != "created"},
        {k: v for k, v in GOOD_TRADE.items() if k not in {"tid", "tid_str"}},
        {**GOOD_TRADE, "orders": {"order": [{"oid": 1, "num_iid": 2, "num": "x"}]}},
        {**GOOD_TRADE, "orders": {"order": []}},
        {**GOOD_TRADE, "orders": []},
    ],
)
async def test_unmappable_trades_are_data_errors(make_channel: MakeChannel, trade: object) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"trade_fullinfo_get_response": {"trade": trade}})

    channel = make_channel(transport=httpx.MockTransport(answer))
    async with channel:
        with pytest.raises(DataError) as raised:
            await channel.get_order("3725362658812595205")
    assert raised.value.channel == "tmall-main"


async def test_a_good_trade_maps(make_channel: MakeChannel) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"trade_fullinfo_get_response": {"trade": GOOD_TRADE}})

    async with make_channel(transport=httpx.MockTransport(answer)) as channel:
        order = await channel.get_order("3725362658812595205")
    assert order.order_id == "3725362658812595205"
    assert str(order.total) == "200.07 CNY"


async def test_throttle_waits_the_ban_then_succeeds(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    fake.faults.force(Fault.THROTTLE)
    async with channel:
        companies = await channel.carrier_companies()
    assert companies
    assert 2.0 in clock.sleeps  # "1 more seconds" + 1


@pytest.mark.parametrize("times", [1, 2])
async def test_server_errors_are_retried(channel: TmallChannel, fake: FakeTop, times: int) -> None:
    fake.faults.force(Fault.SERVER_ERROR, times)
    async with channel:
        assert await channel.carrier_companies()
    assert fake.calls["taobao.logistics.companies.get"] == times + 1


async def test_retries_give_up_with_a_transient_error(
    make_channel: MakeChannel, fake: FakeTop
) -> None:
    channel = make_channel(retry_policy=RetryPolicy(max_attempts=2))
    fake.faults.force(Fault.SERVER_ERROR, 2)
    async with channel:
        with pytest.raises(TransientError):
            await channel.carrier_companies()


def test_error_body_shape_from_the_fake(fake: FakeTop) -> None:
    client = httpx.Client(transport=fake.transport(), base_url="http://fake")
    answer = client.post("/router/rest", data={"method": "taobao.item.seller.get"})
    body = json.loads(answer.content)
    assert answer.status_code == 200
    assert set(body["error_response"]) >= {"code", "msg", "request_id"}
    assert body["error_response"]["code"] == 28
