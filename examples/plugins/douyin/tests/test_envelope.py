"""Envelopes and errors: every gateway code maps to the right core error; bad bodies are clear."""

from __future__ import annotations

import httpx
import pytest
from channelsync.errors import (
    AuthenticationError,
    ChannelError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

from channelsync_douyin.codes import (
    CODE_ERRORS,
    SUB_CODE_ERRORS,
    THROTTLE_WAIT,
    error_class,
)
from channelsync_douyin.envelope import (
    DouyinClassifier,
    get_int,
    get_list,
    get_record,
    get_str,
)

EXPECTED_CODES = {
    10001: InvalidRequestError,
    20000: TransientError,
    20001: TransientError,
    30000: InvalidRequestError,
    30001: "AuthorizationError",
    30002: "AuthorizationError",
    40001: InvalidRequestError,
    40002: InvalidRequestError,
    40003: InvalidRequestError,
    40004: InvalidRequestError,
    50000: TransientError,
    50001: TransientError,
    50002: InvalidRequestError,
    60000: RateLimitedError,
    70000: InvalidRequestError,
    80000: "AuthorizationError",
    90000: TransientError,
}


def _answer(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def _classify(response: httpx.Response) -> ChannelError | None:
    return DouyinClassifier().classify(response, "order.searchList")


def test_every_documented_code_is_in_the_table() -> None:
    assert set(CODE_ERRORS) == set(EXPECTED_CODES)


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED_CODES.items()))
def test_codes_map_to_core_errors(code: int, expected: object) -> None:
    error = _classify(_answer({"code": code, "msg": "m", "sub_code": "", "log_id": "L1"}))
    name = expected if isinstance(expected, str) else expected.__name__  # type: ignore[attr-defined]
    assert type(error).__name__ == name
    assert error is not None
    assert error.code == str(code)
    assert error.request_id == "L1"


@pytest.mark.parametrize(("sub_code", "expected"), sorted(SUB_CODE_ERRORS.items()))
def test_sub_codes_win_over_codes(sub_code: str, expected: type[ChannelError]) -> None:
    error = _classify(_answer({"code": 50002, "msg": "m", "sub_code": sub_code, "sub_msg": "s"}))
    assert type(error) is expected
    assert error is not None
    assert error.code == sub_code
    assert error.message == "s"


@pytest.mark.parametrize(
    ("sub_code", "expected"),
    [
        ("isv.access-token-expired", AuthenticationError),
        ("isv.signature-invalid", AuthenticationError),
        ("isv.parameter-invalid:5", NotFoundError),
        ("isp.service-error:10005", TransientError),
        ("isp.service-error", TransientError),
        ("isv.something-new:1", InvalidRequestError),
    ],
)
def test_error_class_lookup(sub_code: str, expected: type[ChannelError]) -> None:
    assert error_class(40003, sub_code) is expected


def test_unknown_code_is_an_invalid_request() -> None:
    assert error_class(12345, "") is InvalidRequestError


def test_throttle_is_retryable_with_a_wait() -> None:
    error = _classify(_answer({"code": 60000, "msg": "触发限流", "sub_code": "x"}))
    assert isinstance(error, RateLimitedError)
    assert error.retryable
    assert error.retry_after == THROTTLE_WAIT


def test_success_is_none_and_code_may_be_text() -> None:
    assert _classify(_answer({"code": 10000, "data": {}})) is None
    assert _classify(_answer({"code": "10000", "data": {}})) is None


@pytest.mark.parametrize(
    "content",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"code":10000,"data":{"shop_order_li',
        b"",
        b"[1,2]",
        b'{"msg":"no code"}',
        b'{"code":true}',
        b'{"code":"abc"}',
    ],
)
def test_broken_bodies_are_data_errors(content: bytes) -> None:
    response = httpx.Response(200, content=content)
    try:
        error = _classify(response)
    except DataError as raised:
        error = raised
    assert isinstance(error, DataError)
    assert "Bad Gateway" not in str(error)


@pytest.mark.parametrize(("status", "expected"), [(502, TransientError), (429, RateLimitedError)])
def test_http_statuses(status: int, expected: type[ChannelError]) -> None:
    assert isinstance(_classify(httpx.Response(status, content=b"x")), expected)


def test_field_readers_raise_data_errors_not_key_errors() -> None:
    record = {"a": 1, "b": "2", "c": None, "d": [1], "e": {"x": 1}, "f": True}
    assert get_int(record, "a", "r") == 1
    assert get_int(record, "b", "r") == 2
    assert get_int(record, "c", "r", default=0) == 0
    assert get_str(record, "a", "r") == "1"
    assert get_list(record, "c", "r", default_empty=True) == []
    assert get_record(record, "e", "r") == {"x": 1}
    for call in (
        lambda: get_int(record, "missing", "r"),
        lambda: get_int(record, "f", "r"),
        lambda: get_int(record, "d", "r"),
        lambda: get_str(record, "e", "r"),
        lambda: get_list(record, "a", "r"),
        lambda: get_record(record, "d", "r"),
        lambda: get_record([], "x", "r"),
        lambda: get_list("text", "x", "r", default_empty=True),
    ):
        with pytest.raises(DataError):
            call()
