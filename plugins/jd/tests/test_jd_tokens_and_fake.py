from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from channelsync_jd import JdChannel, JdSettings
from channelsync_jd.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeJos

from channelsync.clock import CHINA_STANDARD_TIME, FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import AuthenticationError
from channelsync.http import ParamDigest, sign_params
from channelsync.models import StockUpdate
from channelsync.testing.fakes import Fault, FaultInjector

NAME = "jd-shop"
GET = "jingdong.pop.order.get"


def _stock(fake: FakeJos, quantity: int = 5) -> list[StockUpdate]:
    _, sku = next(fake.store.iter_skus())
    return [StockUpdate(item_id="1", sku_id=sku.sku_id, quantity=quantity)]


async def test_expired_token_answer_refreshes_and_persists(
    channel: JdChannel, fake: FakeJos, backend: MemorySecretBackend
) -> None:
    fake.faults.force(Fault.EXPIRED_TOKEN)
    results = await channel.set_stock(_stock(fake))
    assert results[0].ok
    assert fake.refreshes == 1
    assert backend.secrets[(NAME, "access_token")] == "fake-jd-access-0-1"
    assert backend.secrets[(NAME, "refresh_token")] == "fake-jd-refresh-0-1"
    assert (NAME, "access_token_expires_at") in backend.secrets


async def test_refreshes_before_expiry(channel: JdChannel, fake: FakeJos, clock: FakeClock) -> None:
    fake.faults.force(Fault.EXPIRED_TOKEN)
    await channel.set_stock(_stock(fake))
    assert fake.refreshes == 1
    clock.advance((timedelta(days=7) - timedelta(hours=5)).total_seconds())
    await channel.set_stock(_stock(fake, 6))
    assert fake.refreshes == 2
    assert channel.tokens is not None
    assert channel.tokens.refresh_count == 2


async def test_a_stored_expiry_is_honoured_at_start(
    fake: FakeJos, clock: FakeClock, backend: MemorySecretBackend, make: Callable[..., JdChannel]
) -> None:
    soon = clock.now() + timedelta(hours=1)
    backend.secrets[(NAME, "access_token_expires_at")] = soon.isoformat()
    async with make() as channel:
        await channel.set_stock(_stock(fake))
    assert fake.refreshes == 1


async def test_an_expired_token_cannot_be_refreshed(
    fake: FakeJos, make: Callable[..., JdChannel]
) -> None:
    fake.expire_tokens()
    async with make() as channel:
        with pytest.raises(AuthenticationError, match="authorize"):
            await channel.get_order("2900000000001")


async def test_without_a_refresh_token_the_rejection_is_final(
    fake: FakeJos, clock: FakeClock, backend: MemorySecretBackend, make: Callable[..., JdChannel]
) -> None:
    del backend.secrets[(NAME, "refresh_token")]
    fake.faults.force(Fault.EXPIRED_TOKEN)
    async with make() as channel:
        with pytest.raises(AuthenticationError) as raised:
            await channel.get_order("2900000000001")
    assert raised.value.code == "19"
    assert fake.refreshes == 0


async def test_hmac_sha256_signing_is_accepted(
    fake: FakeJos, make: Callable[..., JdChannel]
) -> None:
    async with make(sign_method="hmacsha256") as channel:
        assert (await channel.set_stock(_stock(fake)))[0].ok
    async with make(sign_method="hmacmd5") as channel:
        assert (await channel.set_stock(_stock(fake)))[0].ok


def _signed(clock: FakeClock, **overrides: str) -> dict[str, str]:
    params = {
        "method": GET,
        "app_key": str(DEMO_SETTINGS["app_key"]),
        "access_token": DEMO_CREDENTIALS["access_token"],
        "timestamp": clock.now().astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S"),
        "v": "2.0",
        "360buy_param_json": '{"optional_fields":"orderId","order_id":1}',
    }
    params.update(overrides)
    params["sign"] = sign_params(params, DEMO_CREDENTIALS["app_secret"], ParamDigest.MD5)
    return params


def _error_code(response: httpx.Response) -> str | None:
    error = response.json().get("error_response")
    return None if error is None else str(error["code"])


def test_the_fake_checks_signature_timestamp_token_and_raw_json(
    fake: FakeJos, clock: FakeClock
) -> None:
    client = httpx.Client(transport=fake.transport(), base_url="http://jos.fake.test")
    good = _signed(clock)
    assert _error_code(client.post("/routerjson", data=good)) is None
    # Signed with the system parameters in the query and the JSON in the body, like the SDK.
    body = {"360buy_param_json": good.pop("360buy_param_json")}
    assert _error_code(client.post("/routerjson", params=good, data=body)) is None
    tampered = {**_signed(clock), "360buy_param_json": '{"order_id":1,"optional_fields":"orderId"}'}
    assert _error_code(client.post("/routerjson", data=tampered)) == "12"
    stale = (clock.now() - timedelta(minutes=7)).astimezone(CHINA_STANDARD_TIME)
    old = _signed(clock, timestamp=stale.strftime("%Y-%m-%d %H:%M:%S"))
    assert _error_code(client.post("/routerjson", data=old)) == "8"
    near = (clock.now() - timedelta(minutes=5)).astimezone(CHINA_STANDARD_TIME)
    fine = _signed(clock, timestamp=f"{near:%Y-%m-%d %H:%M:%S}.000+0800")
    assert _error_code(client.post("/routerjson", data=fine)) is None
    assert _error_code(client.post("/routerjson", data=_signed(clock, access_token="x"))) == "19"
    assert _error_code(client.post("/routerjson", data=_signed(clock, app_key="other"))) == "12"
    assert _error_code(client.post("/routerjson", data=_signed(clock, v="1.0"))) == "5"
    assert _error_code(client.post("/routerjson", data=_signed(clock, method="x.y"))) == "15"
    no_sign = {k: v for k, v in _signed(clock).items() if k != "sign"}
    assert _error_code(client.post("/routerjson", data=no_sign)) == "11"


def test_the_fake_throttles_with_code_2(clock: FakeClock) -> None:
    fake = FakeJos(
        clock=clock,
        app_key=str(DEMO_SETTINGS["app_key"]),
        app_secret=DEMO_CREDENTIALS["app_secret"],
        access_token=DEMO_CREDENTIALS["access_token"],
        daily_quota=2,
    )
    client = httpx.Client(transport=fake.transport(), base_url="http://jos.fake.test")
    codes = [_error_code(client.post("/routerjson", data=_signed(clock))) for _ in range(3)]
    assert codes == [None, None, "2"]


def test_the_fake_decrements_stock_when_buyers_order(fake: FakeJos) -> None:
    before = sum(fake.store.stock_by_merchant_code().values())
    orders = fake.generate_orders(3)
    sold = sum(line.quantity for order in orders for line in order.lines)
    assert sum(fake.store.stock_by_merchant_code().values()) == before - sold
    assert all(len(order.order_id) == 13 for order in orders)


async def test_served_on_loopback(fake: FakeJos, clock: FakeClock) -> None:
    store = CredentialStore(
        backend=MemorySecretBackend({(NAME, k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    with fake.serve() as server:
        settings = JdSettings(**DEMO_SETTINGS, base_url=f"{server.url}/routerjson")  # type: ignore[arg-type]
        async with JdChannel(NAME, settings, store.for_channel(NAME), clock=clock) as channel:
            carriers = await channel.list_carriers()
    assert any(carrier.code == "467" for carrier in carriers)


def test_demo_time_is_beijing() -> None:
    assert datetime(2024, 3, 1, 12, tzinfo=CHINA_STANDARD_TIME).utcoffset() == timedelta(hours=8)


async def test_seeded_random_faults_still_converge(
    fake: FakeJos, make: Callable[..., JdChannel]
) -> None:
    fake.faults = FaultInjector(
        0.3,
        seed=11,
        kinds={Fault.THROTTLE, Fault.SERVER_ERROR, Fault.RESET, Fault.EXPIRED_TOKEN},
    )
    updates = [
        StockUpdate(item_id=item.item_id, sku_id=sku.sku_id, quantity=3)
        for item, sku in fake.store.iter_skus()
    ]
    async with make() as channel:
        pending = updates
        for _ in range(3):
            results = await channel.set_stock(pending)
            pending = [u for u, r in zip(pending, results, strict=True) if not r.ok]
            if not pending:
                break
    assert pending == []
    assert set(fake.store.stock_by_merchant_code().values()) == {3}
    assert fake.faults.total > 0
