from __future__ import annotations

import json
import logging

import httpx
import pytest
from channelsync_jd import JdChannel
from channelsync_jd.codes import GATEWAY_CODES, business_error, seconds_until_quota_reset
from channelsync_jd.envelope import JosClassifier, api_result_error
from channelsync_jd.fake import DEMO_CREDENTIALS, FakeJos

from channelsync.clock import FakeClock
from channelsync.errors import (
    AuthenticationError,
    ChannelError,
    ConflictError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from channelsync.models import StockUpdate
from channelsync.testing.fakes import Fault

METHOD = "jingdong.stock.write.updateSkuStock"


def _classify(body: object, status: int = 200, clock: FakeClock | None = None) -> object:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.Response(status, content=content)
    return JosClassifier(clock or FakeClock()).classify(response, METHOD)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("2", RateLimitedError),
        ("4", InvalidRequestError),
        ("5", InvalidRequestError),
        ("7", InvalidRequestError),
        ("8", InvalidRequestError),
        ("11", InvalidRequestError),
        ("12", AuthenticationError),
        ("14", InvalidRequestError),
        ("15", InvalidRequestError),
        ("19", AuthenticationError),
        ("67", InvalidRequestError),
    ],
)
def test_every_gateway_code_maps(code: str, error: type[ChannelError]) -> None:
    found = _classify({"error_response": {"code": code, "zh_desc": "错误", "en_desc": "error"}})
    assert type(found) is error
    assert isinstance(found, ChannelError)
    assert found.code == code
    assert found.operation == METHOD


def test_the_table_holds_every_code_of_the_reference() -> None:
    assert set(GATEWAY_CODES) == {"2", "4", "5", "7", "8", "11", "12", "14", "15", "19"}


def test_call_limit_waits_until_the_quota_resets() -> None:
    clock = FakeClock()  # 2026-01-01 00:00 UTC is 08:00 in Beijing
    found = _classify({"error_response": {"code": "2", "en_desc": "App Call Limited"}}, clock=clock)
    assert isinstance(found, RateLimitedError)
    assert found.retry_after == 16 * 3600
    assert seconds_until_quota_reset(clock.now()) == 16 * 3600


def test_unlisted_backend_failures_are_transient() -> None:
    found = _classify({"error_response": {"code": "66", "zh_desc": "服务超时"}})
    assert isinstance(found, TransientError)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("order not exist", NotFoundError),
        ("订单不存在", NotFoundError),
        ("order state does not allow outbound", ConflictError),
        ("订单已出库", ConflictError),
        ("backend busy", TransientError),
        ("logiNo is required", InvalidRequestError),
        ("", InvalidRequestError),
    ],
)
def test_business_failures_map_by_their_words(message: str, error: type[ChannelError]) -> None:
    assert type(business_error("10100", message, operation=METHOD)) is error


def test_api_result_flags() -> None:
    assert api_result_error({"success": True}, METHOD) is None
    assert api_result_error({"success": "true"}, METHOD) is None
    assert isinstance(api_result_error({"success": "false"}, METHOD), InvalidRequestError)
    assert isinstance(api_result_error({}, METHOD), DataError)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"jingdong_stock_write_updateSkuStock_responce":{"code":"0","succ',
        b"[1, 2]",
        b'{"something_else":{}}',
        b'{"error_response":"oops"}',
    ],
)
def test_unusable_bodies_are_data_errors(body: bytes) -> None:
    assert isinstance(_classify(body), DataError)


def test_success_roots_use_jds_spelling_and_string_codes() -> None:
    assert _classify({"jingdong_stock_write_updateSkuStock_responce": {"code": "0"}}) is None
    assert _classify({"jingdong_stock_write_updateSkuStock_response": {"code": "0"}}) is None
    failed = _classify({"jingdong_stock_write_updateSkuStock_responce": {"code": "19"}})
    assert isinstance(failed, AuthenticationError)


def test_http_status_comes_first() -> None:
    assert isinstance(_classify(b"busy", status=503), TransientError)


async def test_throttle_and_server_errors_are_retried(
    channel: JdChannel, fake: FakeJos, clock: FakeClock
) -> None:
    fake.faults.force(Fault.THROTTLE)
    fake.faults.force(Fault.SERVER_ERROR)
    fake.faults.force(Fault.RESET)
    _, sku = next(fake.store.iter_skus())
    results = await channel.set_stock([StockUpdate(item_id="1", sku_id=sku.sku_id, quantity=4)])
    assert results[0].ok
    assert sku.quantity == 4
    assert clock.sleeps  # waited between attempts on the fake clock, never the wall clock


@pytest.mark.parametrize("fault", [Fault.MALFORMED, Fault.TRUNCATED])
async def test_garbled_answers_fail_the_item_with_a_data_error(
    channel: JdChannel, fake: FakeJos, fault: Fault
) -> None:
    # Garbled on every attempt the retry policy allows (once is retried and survived).
    fake.faults.force(fault, times=5)
    _, sku = next(fake.store.iter_skus())
    results = await channel.set_stock([StockUpdate(item_id="1", sku_id=sku.sku_id, quantity=4)])
    assert not results[0].ok
    assert results[0].error is not None
    assert results[0].error.retryable
    fake.faults.force(fault, times=5)
    with pytest.raises(DataError):
        await channel.get_order("2900000000001")


async def test_secrets_stay_out_of_logs_and_errors(
    channel: JdChannel, fake: FakeJos, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.faults.force(Fault.THROTTLE)
    fake.faults.force(Fault.TRUNCATED, times=4)  # the other four attempts of the policy
    with pytest.raises(DataError):
        _ = [listing async for listing in channel.iter_listings()]
    fake.app_secret = "rotated-elsewhere"
    with pytest.raises(AuthenticationError) as raised:
        await channel.get_order("2900000000001")
    text = caplog.text + str(raised.value) + repr(raised.value)
    assert caplog.records
    for secret in DEMO_CREDENTIALS.values():
        assert secret not in text
