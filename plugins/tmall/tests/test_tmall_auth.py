from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from channelsync_tmall import TmallChannel, TmallSettings
from channelsync_tmall.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeTop, demo_fake

from channelsync.clock import FakeClock, format_local_time
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import AuthenticationError
from channelsync.http import ParamDigest, sign_params
from channelsync.testing.fakes import Fault

from .conftest import CHANNEL, MakeChannel


def _signed(fake: FakeTop, clock: FakeClock, **overrides: str) -> dict[str, str]:
    params = {
        "method": "taobao.logistics.companies.get",
        "fields": "code,name",
        "app_key": "10000001",
        "session": DEMO_CREDENTIALS["session"],
        "timestamp": format_local_time(clock.now()),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
    }
    params.update(overrides)
    params["sign"] = sign_params(params, DEMO_CREDENTIALS["app_secret"], ParamDigest.MD5)
    return params


def _post(fake: FakeTop, params: dict[str, str]) -> dict[str, object]:
    client = httpx.Client(transport=fake.transport(), base_url="http://gw")
    body = client.post("/router/rest", data=params).json()
    assert isinstance(body, dict)
    return body


def test_the_fake_accepts_a_correct_call(fake: FakeTop, clock: FakeClock) -> None:
    assert "logistics_companies_get_response" in _post(fake, _signed(fake, clock))


def test_the_fake_accepts_epoch_millisecond_timestamps(fake: FakeTop, clock: FakeClock) -> None:
    millis = str(int(clock.now().timestamp() * 1000))
    assert "logistics_companies_get_response" in _post(fake, _signed(fake, clock, timestamp=millis))


def test_the_fake_rejects_a_bad_signature(fake: FakeTop, clock: FakeClock) -> None:
    params = _signed(fake, clock)
    params["fields"] = "code"  # changed after signing
    assert _post(fake, params)["error_response"]["code"] == 25  # type: ignore[index]


@pytest.mark.parametrize("minutes", [11, -11])
def test_the_fake_rejects_a_stale_timestamp(fake: FakeTop, clock: FakeClock, minutes: int) -> None:
    stale = format_local_time(clock.now() + timedelta(minutes=minutes))
    assert _post(fake, _signed(fake, clock, timestamp=stale))["error_response"]["code"] == 31  # type: ignore[index]


def test_the_fake_rejects_a_utc_timestamp(fake: FakeTop, clock: FakeClock) -> None:
    utc_wall_clock = clock.now().strftime("%Y-%m-%d %H:%M:%S")  # 8 hours off
    assert (
        _post(fake, _signed(fake, clock, timestamp=utc_wall_clock))["error_response"]["code"] == 31
    )  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"app_key": "999"}, 29),
        ({"session": "nope"}, 27),
        ({"v": "1.0"}, 34),
        ({"format": "xml"}, 23),
    ],
)
def test_the_fake_checks_the_system_parameters(
    fake: FakeTop, clock: FakeClock, overrides: dict[str, str], code: int
) -> None:
    assert _post(fake, _signed(fake, clock, **overrides))["error_response"]["code"] == code  # type: ignore[index]


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
async def test_every_sign_method_is_accepted(make_channel: MakeChannel, sign_method: str) -> None:
    async with make_channel(sign_method=sign_method) as channel:
        assert await channel.carrier_companies()


async def test_an_expired_session_is_refreshed_and_stored(
    channel: TmallChannel, fake: FakeTop, backend: MemorySecretBackend
) -> None:
    fake.expire_session()
    async with channel:
        assert await channel.carrier_companies()
        assert await channel.carrier_companies()
    assert channel.tokens is not None
    assert channel.tokens.refresh_count == 1
    assert backend.get(CHANNEL, "session") == "fake-session-1"
    assert backend.get(CHANNEL, "refresh_token") == "fake-refresh-1"
    assert fake.calls["taobao.top.auth.token.refresh"] == 1


async def test_injected_expired_token_is_refreshed(channel: TmallChannel, fake: FakeTop) -> None:
    fake.faults.force(Fault.EXPIRED_TOKEN)
    async with channel:
        assert await channel.carrier_companies()
    assert channel.tokens is not None
    assert channel.tokens.refresh_count == 1


async def test_the_refreshed_session_is_renewed_before_it_expires(
    channel: TmallChannel, fake: FakeTop, clock: FakeClock
) -> None:
    fake.expire_session()
    async with channel:
        await channel.carrier_companies()
        clock.advance(fake.token_lifetime - 60)  # inside the refresh margin
        await channel.carrier_companies()
    assert channel.tokens is not None
    assert channel.tokens.refresh_count == 2


async def test_without_a_refresh_token_an_expired_session_is_an_authentication_error(
    make_channel: MakeChannel, fake: FakeTop
) -> None:
    fake.expire_session()
    async with make_channel(without=("refresh_token",)) as channel:
        with pytest.raises(AuthenticationError) as raised:
            await channel.carrier_companies()
    assert raised.value.code == "27/session-expired"


async def test_a_refused_refresh_asks_to_authorize_again(
    channel: TmallChannel, fake: FakeTop
) -> None:
    fake.expire_session()
    fake.refresh_tokens.clear()
    async with channel:
        with pytest.raises(AuthenticationError, match="authorize the shop again"):
            await channel.carrier_companies()


async def test_secrets_never_reach_logs_or_errors(
    make_channel: MakeChannel, fake: FakeTop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.expire_session()
    fake.faults.force(Fault.SERVER_ERROR)
    async with make_channel() as channel:
        await channel.carrier_companies()
        fake.expire_session()
        fake.refresh_tokens.clear()
        with pytest.raises(AuthenticationError) as raised:
            await channel.carrier_companies()
    text = caplog.text + str(raised.value) + repr(raised.value)
    secrets = [*DEMO_CREDENTIALS.values(), "fake-session-1", "fake-refresh-1"]
    assert caplog.records
    for secret in secrets:
        assert secret not in text


async def test_served_on_loopback_answers_a_real_call(clock: FakeClock) -> None:
    fake = demo_fake(clock=clock)
    store = CredentialStore(
        backend=MemorySecretBackend({(CHANNEL, k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    with fake.serve() as server:
        settings = TmallSettings.model_validate(
            {**DEMO_SETTINGS, "base_url": f"{server.url}/router/rest"}
        )
        async with TmallChannel(
            CHANNEL, settings, store.for_channel(CHANNEL), clock=clock
        ) as channel:
            listings = [listing async for listing in channel.iter_listings()]
    assert len(listings) == 16
    assert fake.calls["taobao.items.onsale.get"] == 1
