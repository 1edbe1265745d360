"""A write that is not safe to resend is never resent once it may have been applied.

The handler applies every call it sees (counts it), then fails the way a network or a
gateway fails after the marketplace did the work. A safe write is retried and
succeeds; an unsafe one is sent once and raised as ``OutcomeUnknownError``. Failures
that happen before a request leaves (no connection, throttled) are retried for both.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from channelsync.errors import OutcomeUnknownError

BODY = json.dumps({"ok": True}).encode()


def applied_then(failure: str):
    """Return a handler that applies the call, fails once with ``failure``, then answers."""
    applied: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        applied.append(request)
        if len(applied) > 1:
            return httpx.Response(200, json={"ok": True})
        if failure == "timeout":
            raise httpx.ReadTimeout("no answer in time", request=request)
        if failure == "reset":
            raise httpx.ReadError("connection reset by peer", request=request)
        if failure == "cut":
            raise httpx.RemoteProtocolError("incomplete message body", request=request)
        if failure == "5xx":
            return httpx.Response(502, text="Bad Gateway")
        if failure == "truncated":
            return httpx.Response(
                200, content=BODY[: len(BODY) // 2], headers={"Content-Type": "application/json"}
            )
        raise AssertionError(failure)

    handler.applied = applied  # type: ignore[attr-defined]
    return handler


AFTER_APPLY = ["timeout", "reset", "cut", "5xx", "truncated"]


@pytest.mark.parametrize("failure", AFTER_APPLY)
def test_a_safe_write_is_resent_after_its_answer_was_lost(make_client, failure):
    handler = applied_then(failure)

    async def main():
        async with make_client(handler) as http:
            return await http.request_json("POST", "/stock", operation="stock.update")

    assert asyncio.run(main()) == {"ok": True}
    assert len(handler.applied) == 2


@pytest.mark.parametrize("failure", AFTER_APPLY)
def test_an_unsafe_write_is_sent_once_and_its_outcome_reported_unknown(make_client, failure):
    handler = applied_then(failure)

    async def main():
        async with make_client(handler, unsafe_operations={"shipments.create"}) as http:
            return await http.request_json("POST", "/ship", operation="shipments.create")

    with pytest.raises(OutcomeUnknownError) as caught:
        asyncio.run(main())
    assert len(handler.applied) == 1
    error = caught.value
    assert not error.retryable
    assert error.channel == "tmall"
    assert error.operation == "shipments.create"
    assert error.cause is not None
    assert "not resent" in str(error)


def test_a_call_can_declare_itself_unsafe(make_client):
    handler = applied_then("timeout")

    async def main():
        async with make_client(handler) as http:
            return await http.request("POST", "/ship", operation="ship", resend_safe=False)

    with pytest.raises(OutcomeUnknownError):
        asyncio.run(main())
    assert len(handler.applied) == 1


def test_an_unsafe_write_that_never_left_is_sent_again(make_client):
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"ok": True})

    async def main():
        async with make_client(handler, unsafe_operations={"ship"}) as http:
            return await http.request_json("POST", "/ship", operation="ship")

    assert asyncio.run(main()) == {"ok": True}
    assert len(sent) == 2


def test_an_unsafe_write_the_marketplace_throttled_is_sent_again(make_client):
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(200, json={"ok": True})

    async def main():
        async with make_client(handler, unsafe_operations={"ship"}) as http:
            return await http.request_json("POST", "/ship", operation="ship")

    assert asyncio.run(main()) == {"ok": True}
    assert len(sent) == 2
