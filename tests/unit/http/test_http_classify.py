from __future__ import annotations

import asyncio
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from channelsync.http import (
    HttpStatusClassifier,
    ResponseClassifier,
    parse_json,
    parse_retry_after,
    transport_error,
)

CANARY = "CANARY-s3cr3t-9f8e"


def response(status, *, headers=None, content=b"", url=None):
    request = httpx.Request("GET", url or f"https://gw.test/x?app_secret={CANARY}")
    return httpx.Response(status, headers=headers, content=content, request=request)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, RateLimitedError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (504, TransientError),
        (401, AuthenticationError),
        (403, AuthorizationError),
        (404, NotFoundError),
        (409, ConflictError),
        (400, InvalidRequestError),
        (422, InvalidRequestError),
        (418, InvalidRequestError),
        (501, InvalidRequestError),
    ],
)
def test_status_mapping(clock, status, expected):
    error = HttpStatusClassifier(clock).classify(
        response(status, headers={"Authorization": CANARY}), "op"
    )
    assert type(error) is expected
    assert error.status_code == status
    assert error.operation == "op"
    assert f"HTTP {status}" in str(error)
    assert CANARY not in str(error)
    assert "app_secret" not in str(error)


@pytest.mark.parametrize("status", [200, 201, 204, 302])
def test_success_statuses(clock, status):
    assert HttpStatusClassifier(clock).classify(response(status), "op") is None


def test_429_carries_retry_after(clock):
    error = HttpStatusClassifier(clock).classify(response(429, headers={"Retry-After": "3"}), "o")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 3.0
    error = HttpStatusClassifier(clock).classify(response(429), "o")
    assert error.retry_after is None


def test_parse_retry_after(clock):
    later = format_datetime(clock.now() + timedelta(seconds=90), usegmt=True)
    earlier = format_datetime(clock.now() - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("120", clock) == 120.0
    assert parse_retry_after(" 1.5 ", clock) == 1.5
    assert parse_retry_after("-3", clock) == 0.0
    assert parse_retry_after(later, clock) == 90.0
    assert parse_retry_after(earlier, clock) == 0.0
    for useless in (None, "", "soon", "nan", "Mon, 99 Foo 2026"):
        assert parse_retry_after(useless, clock) is None


@pytest.mark.parametrize(
    "exc_class",
    [
        httpx.ConnectError,
        httpx.ReadTimeout,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
    ],
)
def test_transport_errors_are_transient(exc_class):
    request = httpx.Request("GET", f"https://gw.test/x?sign={CANARY}")
    error = transport_error(
        exc_class(f"failed {request.url}", request=request), channel="jd", operation="op"
    )
    assert isinstance(error, TransientError)
    assert exc_class.__name__ in str(error)
    assert CANARY not in str(error)
    assert (error.channel, error.operation) == ("jd", "op")


def test_unsupported_protocol_is_not_transient():
    error = transport_error(httpx.UnsupportedProtocol("ftp"), operation="op")
    assert isinstance(error, InvalidRequestError)


def test_parse_json_turns_truncated_body_into_data_error():
    with pytest.raises(DataError) as info:
        parse_json(
            response(200, content=b'{"items": [1, 2'),
            channel="pdd",
            operation="op",
            request_id="r1",
        )
    error = info.value
    assert (error.channel, error.operation, error.request_id) == ("pdd", "op", "r1")
    assert "malformed JSON" in str(error)
    assert error.__suppress_context__
    assert error.__cause__ is None


@pytest.mark.parametrize("body", [b"", b"   ", b"\xff\xfe\xfa{", b"<html>oops</html>"])
def test_parse_json_rejects_other_garbage(body):
    with pytest.raises(DataError):
        parse_json(response(200, content=body))


def test_parse_json_returns_data():
    assert parse_json(response(200, content=b'{"a": [1, "\xc3\xa9"]}')) == {"a": [1, "é"]}


class TopClassifier(HttpStatusClassifier):
    """A gateway answering HTTP 200 with an error envelope (shape of TOP's)."""

    def classify(self, response, operation):
        failure = self.classify_status(response, operation)
        if failure is not None:
            return failure
        body = parse_json(response, operation=operation)
        envelope = body.get("error_response")
        if envelope is None:
            return None
        code = str(envelope["code"])
        if code == "7":
            return RateLimitedError(
                "app call limited",
                code=code,
                retry_after=5.0,
                request_id=envelope.get("request_id"),
            )
        return InvalidRequestError(
            envelope["msg"], code=code, request_id=envelope.get("request_id")
        )


def test_envelope_classifier_through_the_client(make_client, clock):
    answers = [
        {"error_response": {"code": 7, "msg": "App Call Limited", "request_id": "t1"}},
        {"error_response": {"code": 15, "msg": "Remote service error", "request_id": "t2"}},
    ]

    def handler(request):
        return httpx.Response(200, json=answers.pop(0))

    async def main():
        async with make_client(handler, classifier=TopClassifier(clock)) as http:
            await http.request("POST", "/router/rest", operation="taobao.item.get")

    assert isinstance(TopClassifier(clock), ResponseClassifier)
    with pytest.raises(InvalidRequestError) as info:
        asyncio.run(main())
    assert clock.sleeps == [5.0]
    assert info.value.code == "15"
    assert info.value.request_id == "t2"
    assert info.value.status_code == 200
    assert info.value.channel == "tmall"
