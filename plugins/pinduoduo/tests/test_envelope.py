"""Envelopes and the error table: every published code maps to the right channelsync class."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from channelsync_pinduoduo.codes import ERROR_CODES, RETRYABLE_CODES, THROTTLE_CODES, rule_for
from channelsync_pinduoduo.envelope import (
    RESPONSE_KEYS,
    PddClassifier,
    decode_body,
    error_from_envelope,
    success_root,
)

from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    DataError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
)

EXPECTED: dict[int, type[ChannelError]] = {
    10000: InvalidRequestError,
    10001: InvalidRequestError,
    10016: AuthenticationError,
    10017: InvalidRequestError,
    10018: InvalidRequestError,
    10019: AuthenticationError,
    20004: AuthenticationError,
    20005: AuthorizationError,
    20031: AuthorizationError,
    20032: AuthenticationError,
    20034: InvalidRequestError,
    20035: InvalidRequestError,
    21001: InvalidRequestError,
    21002: InvalidRequestError,
    30000: AuthorizationError,
    30001: AuthorizationError,
    50000: TransientError,
    50001: TransientError,
    50002: TransientError,
    52001: TransientError,
    52002: TransientError,
    52004: InvalidRequestError,
    52101: RateLimitedError,
    52102: TransientError,
    52103: TransientError,
    70031: RateLimitedError,
    70032: AuthorizationError,
    70033: TransientError,
    70034: AuthorizationError,
    70035: AuthorizationError,
    70036: AuthorizationError,
}


def _answer(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "http://gw/api/router"))


def test_the_table_covers_every_published_code() -> None:
    assert set(ERROR_CODES) == set(EXPECTED)
    assert {52101, 70031} == THROTTLE_CODES
    assert {52101, 52102, 52103, 70031} <= RETRYABLE_CODES


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED.items()))
def test_each_code_maps_to_its_class(code: int, expected: type[ChannelError]) -> None:
    response = _answer(
        {
            "error_response": {
                "error_code": code,
                "error_msg": "消息",
                "sub_code": None,
                "sub_msg": "",
                "request_id": "15440104776643887",
            }
        }
    )
    error = PddClassifier().classify(response, "pdd.goods.list.get")
    assert type(error) is expected
    assert error is not None
    assert error.code == str(code)
    assert error.request_id == "15440104776643887"
    assert error.operation == "pdd.goods.list.get"
    assert error.retryable is (code in RETRYABLE_CODES)
    if isinstance(error, RateLimitedError):
        assert error.retry_after is None


def test_sub_code_joins_the_code_and_string_codes_are_read() -> None:
    error = error_from_envelope(
        {"error_code": "21001", "error_msg": "业务参数错误", "sub_code": 7, "sub_msg": "bad sku"}
    )
    assert isinstance(error, InvalidRequestError)
    assert error.code == "21001/7"
    assert "bad sku" in str(error)


def test_unlisted_codes_fall_back_by_range() -> None:
    assert rule_for(59999).error is TransientError
    assert rule_for(12345).error is InvalidRequestError
    assert rule_for(None).error is InvalidRequestError


def test_success_roots_come_from_the_table() -> None:
    assert RESPONSE_KEYS["pdd.goods.sku.price.update"] == "goods_update_sku_price_response"
    assert RESPONSE_KEYS["pdd.order.number.list.increment.get"] == "order_sn_increment_get_response"
    assert RESPONSE_KEYS["pdd.goods.skus.get"] == "goods_sku_get_response"
    body = {"goods_update_sku_price_response": {"is_success": True}}
    assert success_root(body, "pdd.goods.sku.price.update") == {"is_success": True}
    with pytest.raises(DataError, match="goods_update_sku_price_response"):
        success_root({"goods_sku_price_update_response": {}}, "pdd.goods.sku.price.update")
    with pytest.raises(DataError, match="no success root key"):
        success_root({}, "pdd.unknown.method")


def test_numbers_decode_as_decimals() -> None:
    body = decode_body(_answer({"pay_amount": 0.1}))
    assert body == {"pay_amount": Decimal("0.1")}


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>502 Bad Gateway</html>", b'{"order_info_get_response":{"order_in', b"\xff\xfe"],
    ids=["empty", "html", "truncated", "not-utf8"],
)
def test_bad_bodies_are_data_errors(content: bytes) -> None:
    response = httpx.Response(200, content=content)
    error = PddClassifier().classify(response, "pdd.order.information.get")
    assert isinstance(error, DataError)
    assert error.operation == "pdd.order.information.get"
    with pytest.raises(DataError):
        decode_body(response)


def test_http_failures_come_first() -> None:
    error = PddClassifier().classify(httpx.Response(503, content=b"<html/>"), "x")
    assert isinstance(error, TransientError)


def test_an_answer_that_is_not_an_object_is_a_data_error() -> None:
    with pytest.raises(DataError):
        success_root(["not", "an", "object"], "pdd.goods.list.get")
