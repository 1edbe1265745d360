"""Unreadable answers are retried like timeouts; answers that break the model are not.

And a token refresh that failed is not asked again before its backoff has passed.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from channelsync.errors import AuthenticationError, DataError, TransientError
from channelsync.http import AccessToken, TokenCache, UnreadableResponseError
from channelsync.http.classify import parse_json

ORDER = {"order": {"id": "A-1", "total": "12.50"}}
ORDER_BODY = json.dumps(ORDER).encode()


def answers(*bodies: bytes, content_type: str = "application/json"):
    """A handler answering HTTP 200 with each body in turn (then the last one for ever)."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = bodies[min(len(calls), len(bodies)) - 1]
        return httpx.Response(200, content=body, headers={"Content-Type": content_type})

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="html-error-page"),
        pytest.param(ORDER_BODY[: len(ORDER_BODY) // 2], id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{", id="not-utf8"),
    ],
)
def test_an_unreadable_body_is_retried_then_the_answer_is_used(make_client, clock, bad):
    handler = answers(bad, bad, ORDER_BODY)

    async def main():
        async with make_client(handler) as http:
            return await http.request_json("GET", "/order", operation="getOrder")

    assert asyncio.run(main()) == ORDER
    assert len(handler.calls) == 3
    assert len(clock.sleeps) == 2  # the same backoff as any other retryable failure


def test_an_unreadable_body_gives_up_after_the_policy_s_attempts(make_client, clock):
    handler = answers(b"<html>gateway</html>")

    async def main():
        async with make_client(handler) as http:
            await http.request_json("GET", "/order", operation="getOrder")

    with pytest.raises(UnreadableResponseError) as info:
        asyncio.run(main())
    assert len(handler.calls) == 5
    # Still a DataError for code that handles bad answers, and retryable for the engine.
    assert isinstance(info.value, DataError)
    assert isinstance(info.value, TransientError)
    assert info.value.retryable
    assert (info.value.channel, info.value.operation) == ("tmall", "getOrder")
    assert "<html>" not in str(info.value)


def test_a_body_that_parses_is_not_retried_even_if_the_caller_rejects_it(make_client):
    # JSON of the wrong shape is the marketplace's real answer: asking again repeats it.
    handler = answers(b'["not", "an", "object"]')

    async def main():
        async with make_client(handler) as http:
            return await http.request_json("GET", "/order", operation="getOrder")

    assert asyncio.run(main()) == ["not", "an", "object"]
    assert len(handler.calls) == 1


def test_a_plain_request_does_not_judge_the_body(make_client):
    # A download of a GZIP document is not JSON; only callers that expect JSON say so.
    handler = answers(b"\x1f\x8b\x08\x00binary", content_type="application/octet-stream")

    async def main():
        async with make_client(handler) as http:
            return await http.request("GET", "/doc", operation="download")

    assert asyncio.run(main()).content.startswith(b"\x1f\x8b")
    assert len(handler.calls) == 1


def test_a_write_with_an_unreadable_answer_is_sent_again_like_a_timed_out_one(make_client):
    handler = answers(ORDER_BODY[:7], ORDER_BODY)

    async def main():
        async with make_client(handler) as http:
            return await http.request_json(
                "POST", "/stock", operation="setStock", json={"sku": "A", "quantity": 3}
            )

    assert asyncio.run(main()) == ORDER
    # Sent twice, as after a timeout: the write must be one that is safe to repeat
    # (absolute stock levels; shipments check the order's state before a resend).
    assert [r.content for r in handler.calls] == [handler.calls[0].content] * 2


def test_parse_json_names_the_position_never_the_body():
    response = httpx.Response(200, content=b'{"buyer": "Alice Example", "n": ')
    with pytest.raises(UnreadableResponseError) as info:
        parse_json(response, channel="tmall", operation="getOrder")
    assert "Alice" not in str(info.value)
    assert "byte" in str(info.value)


class _Refresher:
    def __init__(self, *outcomes: Exception | str) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> AccessToken:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return AccessToken(outcome, expires_in=3600)


def test_a_failed_refresh_is_not_repeated_before_its_backoff(clock):
    refresher = _Refresher(TransientError("timed out"), TransientError("timed out"), "fresh")
    cache = TokenCache(
        refresher, initial=AccessToken("old", 3600), clock=clock, failure_backoff=5.0
    )

    async def rejected() -> str:
        return await cache.token(rejected="old")

    for _ in range(20):  # a busy channel: every request saw its token rejected
        with pytest.raises(TransientError):
            asyncio.run(rejected())
    assert refresher.calls == 1
    clock.advance(5.0)
    with pytest.raises(TransientError):
        asyncio.run(rejected())
    assert refresher.calls == 2
    clock.advance(5.0)  # the backoff doubled after the second failure
    with pytest.raises(TransientError):
        asyncio.run(rejected())
    assert refresher.calls == 2
    clock.advance(5.0)
    assert asyncio.run(rejected()) == "fresh"
    assert (refresher.calls, cache.refresh_count, cache.failed_refreshes) == (3, 1, 2)
    # Once refreshed, the new token is handed out without asking again.
    assert asyncio.run(cache.token(rejected="old")) == "fresh"
    assert refresher.calls == 3


def test_a_refused_refresh_keeps_its_clear_error_and_is_not_hammered(clock):
    refused = AuthenticationError(
        "token refresh refused: refresh_token invalid; authorize the shop again", channel="jd"
    )
    refresher = _Refresher(refused, refused)
    cache = TokenCache(
        refresher,
        initial=AccessToken("old", 3600),
        clock=clock,
        failure_backoff=5.0,
        max_failure_backoff=300.0,
    )
    for _ in range(100):
        with pytest.raises(AuthenticationError) as info:
            asyncio.run(cache.token(rejected="old"))
    assert refresher.calls == 1
    assert "[jd]" in str(info.value)
    assert "authorize the shop again" in str(info.value)
