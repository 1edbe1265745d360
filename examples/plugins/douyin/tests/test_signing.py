"""Signing: the param_json text, the signature, the signer, and the fake's own checks."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import httpx
import pytest
from channelsync.clock import FakeClock
from channelsync.errors import AuthenticationError, UsageError
from channelsync.http import AccessToken, TokenCache

from channelsync_douyin.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeDouyin
from channelsync_douyin.signing import (
    DouyinSigner,
    format_timestamp,
    method_of_path,
    param_json,
    sign_text,
)

APP_KEY = "7000000000000000001"
SECRET = "demo-secret"
TS = "1709265600"


def _go_sdk_sign(method: str, body: str, digest: str = "hmac-sha256") -> str:
    """The official Go SDK's Sign(), transliterated: secret-wrapped, HMAC keyed by secret."""
    pattern = f"{SECRET}app_key{APP_KEY}method{method}param_json{body}timestamp{TS}v2{SECRET}"
    if digest == "md5":
        return hashlib.md5(pattern.encode()).hexdigest()
    return hmac.new(SECRET.encode(), pattern.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("method", "params", "sign_method", "expected"),
    [
        (
            "order.searchList",
            {"size": 10, "page": 0},
            "hmac-sha256",
            "fffca645ad6fac7de056efc13ffd72eb27518e45bae7f8a7eba29f1103caa01d",
        ),
        (
            "order.searchList",
            {"size": 10, "page": 0},
            "md5",
            "e7e7852a54e2d8f1e4ec4107aa020698",
        ),
        (
            "order.logisticsAdd",
            {
                "order_id": "6924030112000000010",
                "logistics_code": "SF1",
                "company_code": "shunfeng",
                "remark": "易碎",
            },
            "hmac-sha256",
            "b73fa81bda005c72557d1d3dc460933a5e0148e4911c58411151273619994b8a",
        ),
    ],
)
def test_signature_vectors(method, params, sign_method, expected) -> None:
    body = param_json(params)
    signed = sign_text(
        app_key=APP_KEY,
        method=method,
        body=body,
        timestamp=TS,
        secret=SECRET,
        sign_method=sign_method,
    )
    assert signed == expected
    assert signed == _go_sdk_sign(method, body, sign_method)


def test_param_json_is_sorted_compact_utf8_text() -> None:
    text = param_json({"b": 1, "a": {"z": True, "y": [2, "红色"]}, "c": None})
    assert text == '{"a":{"y":[2,"红色"],"z":true},"b":1,"c":null}'


def test_param_json_refuses_floats_even_nested() -> None:
    with pytest.raises(UsageError, match="float"):
        param_json({"items": [{"price": 19.9}]})


def test_method_of_path() -> None:
    assert method_of_path("/order/searchList") == "order.searchList"
    assert method_of_path("token/refresh") == "token.refresh"


def test_timestamp_is_unix_seconds_and_refuses_naive_times() -> None:
    assert format_timestamp(datetime(2024, 3, 1, 4, 0, tzinfo=UTC)) == TS
    with pytest.raises(UsageError, match="naive"):
        format_timestamp(datetime(2024, 3, 1))  # noqa: DTZ001


async def _signed(path: str, token: str = "tok-123") -> httpx.Request:
    clock = FakeClock(datetime(2024, 3, 1, 4, 0, tzinfo=UTC))
    signer = DouyinSigner(
        TokenCache(None, initial=AccessToken(token)),
        app_key=APP_KEY,
        secret=lambda: SECRET,
        sign_method="hmac-sha256",
        clock=clock,
    )
    request = httpx.Request("POST", f"https://gw{path}", content=b'{"page":0,"size":10}')
    flow = signer.async_auth_flow(request)
    return await flow.__anext__()


async def test_signer_puts_system_parameters_in_the_query_and_keeps_the_body() -> None:
    sent = await _signed("/order/searchList")
    query = dict(sent.url.params.items())
    assert query == {
        "app_key": APP_KEY,
        "method": "order.searchList",
        "access_token": "tok-123",
        "timestamp": TS,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": _go_sdk_sign("order.searchList", '{"page":0,"size":10}'),
    }
    assert sent.content == b'{"page":0,"size":10}'


async def test_token_calls_are_signed_without_a_token() -> None:
    sent = await _signed("/token/refresh")
    assert "access_token" not in dict(sent.url.params.items())
    assert sent.url.params["method"] == "token.refresh"


def _raw_call(fake: FakeDouyin, *, secret: str, timestamp: str) -> dict[str, object]:
    body = '{"page":1,"size":10}'
    sign = sign_text(
        app_key=str(DEMO_SETTINGS["app_key"]),
        method="product.listV2",
        body=body,
        timestamp=timestamp,
        secret=secret,
    )
    params = {
        "app_key": str(DEMO_SETTINGS["app_key"]),
        "method": "product.listV2",
        "access_token": DEMO_CREDENTIALS["access_token"],
        "timestamp": timestamp,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": sign,
    }
    client = httpx.Client(transport=fake.transport(), base_url="https://gw")
    return client.post("/product/listV2", params=params, content=body).json()


def test_fake_accepts_a_good_call(fake: FakeDouyin) -> None:
    answer = _raw_call(fake, secret=DEMO_CREDENTIALS["app_secret"], timestamp=TS)
    assert answer["code"] == 10000
    assert answer["data"]["total"] == 8


def test_fake_refuses_a_bad_signature(fake: FakeDouyin) -> None:
    answer = _raw_call(fake, secret="not-the-secret", timestamp=TS)
    assert (answer["code"], answer["sub_code"]) == (40003, "isv.signature-invalid")


def test_fake_refuses_a_stale_timestamp(fake: FakeDouyin) -> None:
    stale = str(int(TS) - 3600)
    answer = _raw_call(fake, secret=DEMO_CREDENTIALS["app_secret"], timestamp=stale)
    assert (answer["code"], answer["sub_code"]) == (40003, "isv.timestamp-invalid")


def test_fake_accepts_the_older_wall_clock_timestamp(fake: FakeDouyin) -> None:
    answer = _raw_call(fake, secret=DEMO_CREDENTIALS["app_secret"], timestamp="2024-03-01 12:00:00")
    assert answer["code"] == 10000


async def test_a_wrong_secret_is_a_permanent_authentication_error(make_channel, backend) -> None:
    backend.set("shop", "app_secret", "wrong-secret")
    async with make_channel(retries=3) as channel:
        with pytest.raises(AuthenticationError) as raised:
            await channel.get_order("6924030112000000010")
    assert raised.value.code == "isv.signature-invalid"
    assert not raised.value.retryable
