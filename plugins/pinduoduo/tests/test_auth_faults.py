"""Token refresh, secrets kept out of logs and errors, faults, throttling, loopback serving."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

import pytest
from channelsync_pinduoduo import PinduoduoChannel, PinduoduoSettings
from channelsync_pinduoduo.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakePdd, demo_fake

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.errors import (
    AuthenticationError,
    DataError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
)
from channelsync.http import RetryPolicy
from channelsync.models import StockUpdate
from channelsync.testing import MemorySecretBackend
from channelsync.testing.fakes import Fault, FaultInjector, ThrottleRule, demo_catalogue

from .conftest import MakeChannel

NO_RETRY = RetryPolicy(max_attempts=1)


async def test_an_expired_token_is_refreshed_persisted_and_the_call_resent(
    make_channel: MakeChannel, fake: FakePdd, backend: MemorySecretBackend
) -> None:
    fake.expire_access_token()
    async with make_channel() as channel:
        carriers = await channel.carriers()
        await channel.get_order(fake.generate_orders(1)[0].order_id)
    assert carriers
    assert fake.refreshes == 1
    new_token = next(iter(fake.access_tokens))
    assert backend.secrets[("shop", "access_token")] == new_token
    assert backend.secrets[("shop", "refresh_token")] == next(iter(fake.refresh_tokens))
    refresh_calls = [f for m, f in fake.received if m == "pdd.pop.auth.token.refresh"]
    assert len(refresh_calls) == 1
    assert "access_token" not in refresh_calls[0]
    assert refresh_calls[0]["refresh_token"] == DEMO_CREDENTIALS["refresh_token"]


async def test_the_refreshed_token_is_renewed_ahead_of_its_expiry(
    make_channel: MakeChannel, fake: FakePdd, clock: FakeClock
) -> None:
    fake.faults.force(Fault.EXPIRED_TOKEN)
    async with make_channel() as channel:
        await channel.carriers()
        assert fake.refreshes == 1
        clock.advance(fake.token_lifetime.total_seconds() - 200)
        channel._carriers = None
        await channel.carriers()
    # Refreshed inside the 300 s margin, before PDD could answer 10019.
    assert fake.refreshes == 2
    assert fake.calls["pdd.logistics.companies.get"] == 3


async def test_without_a_refresh_token_an_expired_token_is_an_authentication_error(
    make_channel: MakeChannel, fake: FakePdd, clock: FakeClock
) -> None:
    secrets = {("shop", k): v for k, v in DEMO_CREDENTIALS.items() if k != "refresh_token"}
    store = CredentialStore(backend=MemorySecretBackend(secrets), environ={})
    fake.expire_access_token()
    async with make_channel(store=store) as channel:
        with pytest.raises(AuthenticationError) as caught:
            await channel.carriers()
    assert caught.value.code == "10019"
    assert fake.refreshes == 0


async def test_secrets_never_reach_logs_or_error_text(
    make_channel: MakeChannel, fake: FakePdd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.expire_access_token()
    fake.faults.force(Fault.THROTTLE)
    async with make_channel() as channel:
        await channel.carriers()
        fake.client_secret = "rotated-on-the-platform"
        with pytest.raises(AuthenticationError) as caught:
            await channel.get_order("240301-000000000000001")
    text = caplog.text + str(caught.value) + repr(caught.value) + repr(channel._tokens)
    secrets = [*DEMO_CREDENTIALS.values(), *fake.access_tokens, *fake.refresh_tokens]
    assert caplog.records
    for secret in secrets:
        assert secret not in text


async def test_throttles_and_gateway_errors_are_retried(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    fake.faults.force(Fault.THROTTLE)
    fake.faults.force(Fault.SERVER_ERROR)
    fake.faults.force(Fault.TIMEOUT)
    fake.faults.force(Fault.RESET)
    async with channel:
        carriers = await channel.carriers()
    assert carriers
    assert fake.calls["pdd.logistics.companies.get"] == 5
    assert len(clock.sleeps) >= 4


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.THROTTLE, RateLimitedError),
        (Fault.SERVER_ERROR, TransientError),
        (Fault.TIMEOUT, TransientError),
        (Fault.MALFORMED, DataError),
        (Fault.TRUNCATED, DataError),
    ],
)
async def test_each_fault_becomes_a_channel_error(
    make_channel: MakeChannel, fake: FakePdd, fault: Fault, error: type[Exception]
) -> None:
    fake.faults.force(fault)
    async with make_channel(retry=NO_RETRY) as channel:
        with pytest.raises(error) as caught:
            await channel.get_order(fake.generate_orders(1)[0].order_id)
    assert caught.value.channel == "shop"  # type: ignore[attr-defined]


class _StrictShop(FakePdd):
    # One page every 4 s: slower than the channel's pace and than the price reads between
    # two pages (a hundred goods at PDD's 50 a second), so the fake must answer 70031.
    throttle_rules: ClassVar[Mapping[str, ThrottleRule]] = {
        "pdd.goods.list.get": ThrottleRule(rate=0.25, burst=1)
    }


async def test_the_fakes_own_rate_limit_answers_70031_and_the_channel_waits(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    shop = _StrictShop(clock=clock)
    shop.seed_catalogue(demo_catalogue(250, skus_per_item=1))
    async with make_channel(target=shop) as channel:
        listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == 250
    assert shop.calls["pdd.goods.list.get"] > 3
    async with make_channel(target=shop, retry=NO_RETRY) as channel:
        with pytest.raises(RateLimitedError) as caught:
            await channel.call("pdd.goods.list.get", {"page": 1, "page_size": 1})
    assert caught.value.code == "70031"


async def test_page_size_over_100_is_refused_by_the_fake(channel: PinduoduoChannel) -> None:
    async with channel:
        with pytest.raises(InvalidRequestError) as caught:
            await channel.call("pdd.goods.list.get", {"page": 1, "page_size": 101})
    assert caught.value.code == "21001"


async def test_random_faults_with_a_seed_still_converge(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    kinds = {Fault.THROTTLE, Fault.SERVER_ERROR, Fault.RESET, Fault.EXPIRED_TOKEN}
    shop = demo_fake(clock=clock, faults=FaultInjector(0.3, seed=11, kinds=kinds))
    async with make_channel(target=shop, retry=RetryPolicy(max_attempts=8)) as channel:
        listings = [listing async for listing in channel.iter_listings()]
        updates = [StockUpdate(item_id=x.item_id, sku_id=x.sku_id, quantity=5) for x in listings]
        results = await channel.set_stock(updates)
    assert len(listings) == 16
    assert all(result.ok for result in results)
    assert set(shop.store.stock_by_merchant_code().values()) == {5}
    assert shop.faults.total > 0


async def test_the_fake_serves_on_loopback(clock: FakeClock) -> None:
    shop = demo_fake()
    store = CredentialStore(
        backend=MemorySecretBackend({("shop", k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    with shop.serve() as server:
        settings = PinduoduoSettings(**DEMO_SETTINGS, base_url=server.url)  # type: ignore[arg-type]
        channel = PinduoduoChannel("shop", settings, store.for_channel("shop"))
        assert channel.router_url == f"{server.url}/api/router"
        async with channel:
            carriers = await channel.carriers()
    assert len(carriers) == 9
    assert shop.calls["pdd.logistics.companies.get"] == 1
