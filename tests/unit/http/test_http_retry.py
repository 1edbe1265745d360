from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import ValidationError

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
from channelsync.http import RetryPolicy, TransportMetrics, build_retrying
from channelsync.http import client as client_module


class Counter:
    def __init__(self, statuses, *, headers=None, final=200):
        self.statuses = list(statuses)
        self.headers = headers or {}
        self.final = final
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.statuses:
            return httpx.Response(self.statuses.pop(0), headers=self.headers)
        return httpx.Response(self.final, json={"ok": True})


def expected_backoffs(policy: RetryPolicy, count: int, seed: int = 1234) -> list[float]:
    rng = random.Random(seed)
    return [policy.backoff(n, rng) for n in range(1, count + 1)]


def test_retries_503_then_succeeds_with_exponential_jittered_backoff(make_client, clock):
    handler = Counter([503, 503, 503])

    async def main():
        async with make_client(handler) as http:
            return await http.request("GET", "/items", operation="items.get")

    response = asyncio.run(main())
    assert response.status_code == 200
    assert handler.calls == 4
    assert len(clock.sleeps) == 3
    policy = RetryPolicy()
    for attempt, slept in enumerate(clock.sleeps, start=1):
        base = policy.initial_wait * policy.multiplier ** (attempt - 1)
        assert base * 0.5 <= slept <= base * 1.5
    assert clock.sleeps == pytest.approx(expected_backoffs(policy, 3))


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, AuthorizationError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, InvalidRequestError),
    ],
)
def test_permanent_errors_are_not_retried(make_client, clock, status, error_class):
    handler = Counter([status] * 5)

    async def main():
        async with make_client(handler) as http:
            await http.request("POST", "/items", operation="items.update")

    with pytest.raises(error_class) as info:
        asyncio.run(main())
    assert handler.calls == 1
    assert clock.sleeps == []
    assert info.value.status_code == status
    assert (info.value.channel, info.value.operation) == ("tmall", "items.update")


def test_a_body_cut_short_is_retried_per_policy_then_a_data_error(make_client, clock):
    calls = 0

    def handler(request):
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=b'{"items": [1, 2')

    async def main():
        async with make_client(handler) as http:
            await http.request_json("GET", "/items", operation="items.list")

    with pytest.raises(DataError) as info:
        asyncio.run(main())
    # A truncated body is a transport accident: retried like a timeout, then surfaced.
    assert calls == 5
    assert len(clock.sleeps) == 4
    assert info.value.operation == "items.list"


def test_data_error_from_classifier_is_not_retried(make_client, clock):
    class Broken:
        def classify(self, response, operation):
            return DataError("unexpected envelope")

    handler = Counter([])

    async def main():
        async with make_client(handler, classifier=Broken()) as http:
            await http.request("GET", "/x", operation="x")

    with pytest.raises(DataError):
        asyncio.run(main())
    assert handler.calls == 1


def test_gives_up_after_max_attempts_and_reraises_channel_error(make_client, clock):
    def handler(request):
        return httpx.Response(503, headers={"x-amzn-RequestId": "req-42"})

    calls = []

    def counting(request):
        calls.append(request)
        return handler(request)

    async def main():
        async with make_client(counting) as http:
            await http.request("GET", "/orders", operation="orders.search")

    with pytest.raises(TransientError) as info:
        asyncio.run(main())
    error = info.value
    assert len(calls) == 5
    assert len(clock.sleeps) == 4
    assert error.channel == "tmall"
    assert error.operation == "orders.search"
    assert error.status_code == 503
    assert error.request_id == "req-42"


def test_max_attempts_one_means_no_retry(make_client, clock):
    handler = Counter([503])

    async def main():
        async with make_client(handler, retry_policy=RetryPolicy(max_attempts=1)) as http:
            await http.request("GET", "/", operation="op")

    with pytest.raises(TransientError):
        asyncio.run(main())
    assert handler.calls == 1
    assert clock.sleeps == []


def test_retry_after_seconds_is_the_recorded_wait(make_client, clock):
    handler = Counter([429], headers={"Retry-After": "7"})

    async def main():
        async with make_client(handler) as http:
            return await http.request("GET", "/", operation="op")

    assert asyncio.run(main()).status_code == 200
    assert clock.sleeps == [7.0]
    assert handler.calls == 2


def test_retry_after_http_date_is_the_recorded_wait(make_client, clock):
    when = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    handler = Counter([429], headers={"Retry-After": when})

    async def main():
        async with make_client(handler) as http:
            return await http.request("GET", "/", operation="op")

    assert asyncio.run(main()).status_code == 200
    assert clock.sleeps == [30.0]


def test_retry_after_is_capped_by_max_server_wait(make_client, clock):
    handler = Counter([429], headers={"Retry-After": "5000"})
    policy = RetryPolicy(max_server_wait=900)

    async def main():
        async with make_client(handler, retry_policy=policy) as http:
            return await http.request("GET", "/", operation="op")

    asyncio.run(main())
    assert clock.sleeps == [900.0]


def test_throttle_without_retry_after_uses_backoff(make_client, clock):
    handler = Counter([429])

    async def main():
        async with make_client(handler) as http:
            return await http.request("GET", "/", operation="op")

    asyncio.run(main())
    assert clock.sleeps == pytest.approx(expected_backoffs(RetryPolicy(), 1))


def test_network_errors_become_transient_and_are_retried(make_client, clock):
    failures = [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError]
    calls = 0

    def handler(request):
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)("boom", request=request)
        return httpx.Response(200)

    async def main():
        async with make_client(handler) as http:
            return await http.request("GET", "/?app_secret=zzz", operation="op")

    assert asyncio.run(main()).status_code == 200
    assert calls == 4
    assert len(clock.sleeps) == 3


def test_persistent_network_error_raises_transient_error_naming_the_type(make_client, clock):
    def handler(request):
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    async def main():
        async with make_client(handler) as http:
            await http.request("GET", "/path", operation="op", params={"app_secret": "zzz"})

    with pytest.raises(TransientError) as info:
        asyncio.run(main())
    text = str(info.value)
    assert "ConnectError" in text
    assert "zzz" not in text
    assert "/path" not in text
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(clock.sleeps) == 4


def test_other_exceptions_are_not_retried(make_client, clock):
    calls = 0

    def handler(request):
        nonlocal calls
        calls += 1
        raise ValueError("bug in a handler")

    async def main():
        async with make_client(handler) as http:
            await http.request("GET", "/", operation="op")

    with pytest.raises(ValueError, match="bug in a handler"):
        asyncio.run(main())
    assert calls == 1


def test_each_backoff_is_logged_once_and_the_failure_once(make_client, clock, caplog):
    handler = Counter([503] * 10)

    async def main():
        async with make_client(handler, retry_policy=RetryPolicy(max_attempts=3)) as http:
            await http.request("GET", "/", operation="stock.update")

    caplog.set_level(logging.INFO, logger="channelsync.http")
    with pytest.raises(TransientError):
        asyncio.run(main())
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(infos) == 2
    assert len(warnings) == 1
    for record in infos + warnings:
        assert record.name == "channelsync.http"
        assert record.channel == "tmall"
        assert record.operation == "stock.update"
    assert "3 attempt(s)" in warnings[0].getMessage()


def test_build_retrying_directly_honours_policy(clock):
    policy = RetryPolicy(max_attempts=3, initial_wait=1.0, jitter=0.0)
    attempts = 0
    retried: list[float] = []

    async def main():
        nonlocal attempts
        retrying = build_retrying(
            policy,
            clock=clock,
            channel="jd",
            operation="op",
            on_retry=lambda error, wait: retried.append(wait),
        )
        async for attempt in retrying:
            with attempt:
                attempts += 1
                raise TransientError("down")

    with pytest.raises(TransientError):
        asyncio.run(main())
    assert attempts == 3
    assert clock.sleeps == [1.0, 2.0]
    assert retried == [1.0, 2.0]


def test_backoff_is_capped_by_max_wait():
    policy = RetryPolicy(initial_wait=10, max_wait=30, jitter=0.5)
    rng = random.Random(0)
    assert all(policy.backoff(n, rng) <= 30 for n in range(1, 20))
    assert RetryPolicy(jitter=0).backoff(4, rng) == 4.0


def test_rate_limited_wait_beats_backoff():
    policy = RetryPolicy()
    error = RateLimitedError("slow down", retry_after=12.5)
    assert policy.wait_for(error, 1, random.Random(0)) == 12.5
    assert policy.wait_for(ChannelError("x"), 1, random.Random(0)) != 12.5


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"jitter": 1.5}, {"initial_wait": 100, "max_wait": 10}, {"bogus": 1}],
)
def test_policy_rejects_bad_values(kwargs):
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)


def test_a_call_that_succeeds_at_once_builds_no_retry_controller(make_client, monkeypatch):
    built: list[str] = []
    real = client_module.build_retrying

    def spy(*args, **kwargs):
        built.append(kwargs["operation"])
        return real(*args, **kwargs)

    monkeypatch.setattr(client_module, "build_retrying", spy)
    handler = Counter([503])

    async def main():
        async with make_client(handler) as http:
            await http.request("GET", "/", operation="first.fails")
            await http.request("GET", "/", operation="succeeds")

    asyncio.run(main())
    assert built == ["first.fails"]
    assert handler.calls == 3


def test_the_failed_first_attempt_is_backed_off_logged_and_counted_as_before(
    make_client, clock, caplog
):
    handler = Counter([429, 429], headers={"Retry-After": "3"})
    metrics = TransportMetrics()

    async def main():
        async with make_client(handler, metrics=metrics) as http:
            return await http.request("GET", "/", operation="op")

    caplog.set_level(logging.INFO, logger="channelsync.http")
    assert asyncio.run(main()).status_code == 200
    assert clock.sleeps == [3.0, 3.0]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert [m.split(" failed")[0] for m in messages] == [
        "retrying in 3.00s after attempt 1/5",
        "retrying in 3.00s after attempt 2/5",
    ]
    assert metrics.retries("tmall", "op") == 2
    assert metrics.requests("tmall", "op") == 3


def test_a_permanent_failure_at_once_is_logged_once_with_one_attempt(make_client, caplog):
    async def main():
        async with make_client(Counter([404])) as http:
            await http.request("GET", "/", operation="op")

    caplog.set_level(logging.INFO, logger="channelsync.http")
    with pytest.raises(NotFoundError):
        asyncio.run(main())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "failed after 1 attempt(s)" in warnings[0]
