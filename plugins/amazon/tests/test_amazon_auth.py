"""Login with Amazon: the refresh grant, caching, refresh before expiry, under concurrency."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest
from channelsync_amazon import AmazonChannel
from channelsync_amazon.auth import (
    ACCESS_TOKEN_HEADER,
    SpApiAuth,
    parse_token_response,
    token_request_fields,
)
from channelsync_amazon.fake import DEMO_CREDENTIALS, FakeSellingPartner

from channelsync.clock import FakeClock
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import AuthenticationError, AuthorizationError, DataError
from channelsync.http import AccessToken
from channelsync.testing.fakes import Fault

NAME = "amazon-us"


def test_token_request_vector_from_the_reference() -> None:
    fields = token_request_fields(
        "Atzr|IwEBtest", "amzn1.application-oa2-client.test", "secret-test"
    )
    assert urlencode(fields) == (
        "grant_type=refresh_token&refresh_token=Atzr%7CIwEBtest"
        "&client_id=amzn1.application-oa2-client.test&client_secret=secret-test"
    )


def test_token_answer_parsing() -> None:
    token, rotated = parse_token_response(
        {
            "access_token": "Atza|x",
            "refresh_token": "Atzr|y",
            "token_type": "bearer",
            "expires_in": 3600,
        }
    )
    assert token == AccessToken("Atza|x", 3600.0)
    assert rotated == "Atzr|y"
    for bad in ({}, {"access_token": "Atza|x"}, {"access_token": "", "expires_in": 1}, []):
        with pytest.raises(DataError):
            parse_token_response(bad)


async def test_the_access_token_header_and_one_token_call(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    await channel.get_order(fake.generate_orders(1)[0].order_id)
    await channel.get_order(next(iter(fake.store.orders)))
    assert wire.checked["lwaToken"] == 1
    assert channel.auth is not None
    assert channel.auth.header_name == ACCESS_TOKEN_HEADER == "x-amz-access-token"


async def test_concurrent_calls_share_one_refresh(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    order_id = fake.generate_orders(1)[0].order_id
    await asyncio.gather(*(channel.get_order(order_id) for _ in range(8)))
    assert wire.checked["lwaToken"] == 1
    fake.expire_access_tokens()
    await asyncio.gather(*(channel.get_order(order_id) for _ in range(8)))
    assert wire.checked["lwaToken"] == 2


async def test_refreshes_a_minute_before_expiry(
    channel: AmazonChannel, fake: FakeSellingPartner, clock: FakeClock, wire
) -> None:
    order_id = fake.generate_orders(1)[0].order_id
    await channel.get_order(order_id)
    clock.advance(3600 - 61)
    await channel.get_order(order_id)
    assert wire.checked["lwaToken"] == 1
    clock.advance(2)  # now inside the last minute: refreshed before Amazon would refuse it
    await channel.get_order(order_id)
    assert wire.checked["lwaToken"] == 2
    assert wire.checked["getOrder"] == 3  # no call was refused and replayed


async def test_expired_token_answer_refreshes_and_replays_once(
    channel: AmazonChannel, fake: FakeSellingPartner, wire
) -> None:
    order_id = fake.generate_orders(1)[0].order_id
    await channel.get_order(order_id)
    fake.faults.force(Fault.EXPIRED_TOKEN)
    order = await channel.get_order(order_id)
    assert order.order_id == order_id
    assert wire.checked["lwaToken"] == 2


async def test_a_denied_call_after_refresh_is_an_authorization_error(
    make: Callable[..., AmazonChannel], fake: FakeSellingPartner
) -> None:
    async with make(seller_id="ANOTHERSELLER") as channel:
        with pytest.raises(AuthorizationError) as caught:
            _ = [listing async for listing in channel.iter_listings()]
    assert caught.value.code == "Unauthorized"
    assert caught.value.status_code == 403


async def test_rotated_refresh_token_is_persisted(
    channel: AmazonChannel, fake: FakeSellingPartner, backend: MemorySecretBackend
) -> None:
    fake.rotate_refresh_tokens = True
    await channel.get_order(fake.generate_orders(1)[0].order_id)
    stored = backend.get(NAME, "refresh_token")
    assert stored is not None
    assert stored != DEMO_CREDENTIALS["refresh_token"]
    assert stored in fake.refresh_tokens


async def test_revoked_refresh_token_is_an_authentication_error_without_secrets(
    make: Callable[..., AmazonChannel],
    fake: FakeSellingPartner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.refresh_tokens = {"Atzr|someone-else"}
    caplog.set_level(logging.DEBUG)
    async with make() as channel:
        with pytest.raises(AuthenticationError) as caught:
            await channel.get_order("111-1111111-1111111")
    assert caught.value.code == "invalid_grant"
    text = str(caught.value) + caplog.text
    for secret in DEMO_CREDENTIALS.values():
        assert secret not in text
        assert secret.replace("|", "%7C") not in text


async def test_access_tokens_never_reach_logs(
    channel: AmazonChannel, fake: FakeSellingPartner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.faults.force(Fault.SERVER_ERROR)
    await channel.get_order(fake.generate_orders(1)[0].order_id)
    assert fake.access_tokens
    for token in fake.access_tokens:
        assert token not in caplog.text
    for secret in DEMO_CREDENTIALS.values():
        assert secret not in caplog.text


async def test_wrong_client_secret_is_refused(
    make: Callable[..., AmazonChannel], backend: MemorySecretBackend
) -> None:
    backend.set(NAME, "lwa_client_secret", "not-the-secret")
    async with make() as channel:
        with pytest.raises(AuthenticationError) as caught:
            await channel.get_order("111-1111111-1111111")
    assert caught.value.code == "invalid_client"


async def test_token_url_may_be_a_path_on_the_base_url(make: Callable[..., AmazonChannel]) -> None:
    channel = make(token_url="/auth/o2/token", base_url="http://127.0.0.1:8080")
    assert channel.token_url == "http://127.0.0.1:8080/auth/o2/token"
    assert make().token_url == "https://api.amazon.com/auth/o2/token"


def test_only_unauthorized_403_and_401_count_as_expired() -> None:
    auth = SpApiAuth(lambda: asyncio.sleep(0, AccessToken("x", 1)))
    denied = httpx.Response(403, json={"errors": [{"code": "Unauthorized", "message": "no"}]})
    assert auth.is_token_expired(denied)
    assert auth.is_token_expired(httpx.Response(401))
    assert not auth.is_token_expired(httpx.Response(403, text="<html>"))
    assert not auth.is_token_expired(
        httpx.Response(400, json={"errors": [{"code": "InvalidInput", "message": "x"}]})
    )
