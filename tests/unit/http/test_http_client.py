from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import logging
from decimal import Decimal

import httpx
import prometheus_client
import pytest

from channelsync.errors import (
    ChannelError,
    DataError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
    UsageError,
)
from channelsync.http import (
    ChannelHttpClient,
    HttpStatusClassifier,
    TransportMetrics,
    decode_json,
    request_id_from_headers,
)


def scripted(*statuses, headers=None):
    remaining = list(statuses)
    calls: list[httpx.Request] = []

    def handler(request):
        calls.append(request)
        status = remaining.pop(0) if remaining else 200
        return httpx.Response(status, headers=headers or {}, json={"n": len(calls)})

    handler.calls = calls
    return handler


def test_metrics_count_requests_retries_throttles_and_latency(make_client):
    metrics = TransportMetrics()
    handler = scripted(503, 429, 503)

    async def main():
        async with make_client(handler, metrics=metrics) as http:
            await http.request("GET", "/", operation="items.get")
            await http.request("GET", "/", operation="items.get")

    asyncio.run(main())
    assert metrics.requests("tmall", "items.get") == 5
    assert metrics.requests("tmall", "items.get", "ok") == 2
    assert metrics.requests("tmall", "items.get", "TransientError") == 2
    assert metrics.requests("tmall", "items.get", "RateLimitedError") == 1
    assert metrics.retries("tmall", "items.get") == 3
    assert metrics.throttles("tmall", "items.get") == 1
    assert metrics.latency_count("tmall", "items.get") == 5
    assert metrics.requests("tmall", "other.op") == 0
    assert metrics.requests("jd", "items.get") == 0


def test_metrics_use_their_own_registry():
    metrics = TransportMetrics()
    metrics.observe_request("c", "o", "ok", 0.1)
    assert metrics.registry is not prometheus_client.REGISTRY
    assert (
        prometheus_client.REGISTRY.get_sample_value(
            "channelsync_http_requests_total", {"channel": "c", "operation": "o", "outcome": "ok"}
        )
        is None
    )
    # Two instances do not collide on metric names.
    TransportMetrics().observe_request("c", "o", "ok", 0.1)
    registry = prometheus_client.CollectorRegistry()
    shared = TransportMetrics(registry)
    shared.count_retry("c", "o")
    assert (
        registry.get_sample_value(
            "channelsync_http_retries_total", {"channel": "c", "operation": "o"}
        )
        == 1
    )
    text = prometheus_client.generate_latest(registry).decode()
    assert "# TYPE channelsync_http_request_seconds histogram" in text
    assert "channelsync_http_throttles_total" in text


def test_network_failures_are_counted_by_error_class(make_client):
    metrics = TransportMetrics()

    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    async def main():
        async with make_client(handler, metrics=metrics) as http:
            await http.request("GET", "/", operation="op")

    with pytest.raises(TransientError, match="timed out"):
        asyncio.run(main())
    assert metrics.requests("tmall", "op", "TransientError") == 5
    assert metrics.retries("tmall", "op") == 4


def test_request_id_is_attached_from_headers(make_client):
    handler = scripted(404, headers={"x-request-id": "abc-123"})

    async def main():
        async with make_client(handler) as http:
            await http.request("GET", "/missing", operation="op")

    with pytest.raises(Exception) as info:
        asyncio.run(main())
    assert info.value.request_id == "abc-123"
    assert "request id abc-123" in str(info.value)


def test_custom_request_id_reader(make_client):
    handler = scripted(404, headers={"x-tb-trace": "tb-9"})

    async def main():
        async with make_client(
            handler, request_id_from_response=lambda r: r.headers.get("x-tb-trace")
        ) as http:
            await http.request("GET", "/missing", operation="op")

    with pytest.raises(Exception) as info:
        asyncio.run(main())
    assert info.value.request_id == "tb-9"


def test_rate_limited_error_reaches_caller_after_attempts(make_client, clock):
    handler = scripted(*([429] * 5), headers={"Retry-After": "2"})

    async def main():
        async with make_client(handler) as http:
            await http.request("GET", "/", operation="op")

    with pytest.raises(RateLimitedError) as info:
        asyncio.run(main())
    assert info.value.retry_after == 2.0
    assert clock.sleeps == [2.0] * 4


def test_request_builds_the_right_request(make_client):
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async def main():
        async with make_client(handler, headers={"X-Shop": "s1"}) as http:
            return await http.request_json(
                "PUT",
                "/v1/items/42",
                operation="items.put",
                params={"marketplaceIds": "ATVPDKIKX0DER"},
                json={"price": "9.99"},
                headers={"X-Trace": "t"},
            )

    assert asyncio.run(main()) == {"ok": True}
    request = seen[0]
    assert request.method == "PUT"
    assert str(request.url) == "https://gw.example.test/v1/items/42?marketplaceIds=ATVPDKIKX0DER"
    assert request.headers["X-Shop"] == "s1"
    assert request.headers["X-Trace"] == "t"
    assert request.headers["User-Agent"].startswith("channelsync/")
    assert request.content == b'{"price":"9.99"}'


def test_request_json_bad_body_is_data_error(make_client):
    def handler(request):
        return httpx.Response(200, content=b"<html>gateway</html>", headers={"x-request-id": "r"})

    async def main():
        async with make_client(handler) as http:
            await http.request_json("GET", "/", operation="op")

    with pytest.raises(DataError) as info:
        asyncio.run(main())
    assert (info.value.channel, info.value.operation, info.value.request_id) == ("tmall", "op", "r")
    assert "<html>" not in str(info.value)


def test_debug_logs_carry_channel_and_operation(make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="channelsync.http")
    handler = scripted()

    async def main():
        async with make_client(handler) as http:
            await http.request("GET", "/p", operation="orders.get")

    asyncio.run(main())
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 2  # the request and its response
    assert all((r.channel, r.operation) == ("tmall", "orders.get") for r in debug)
    assert "HTTP 200" in debug[1].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_closed_client_refuses_requests(make_client):
    async def main():
        http = make_client(scripted())
        async with http:
            pass
        assert http.closed
        with pytest.raises(UsageError, match="closed"):
            await http.request("GET", "/", operation="op")
        with pytest.raises(UsageError):
            async with http:
                pass

    asyncio.run(main())


def test_defaults_build_a_working_client(limits):
    async def main():
        async with ChannelHttpClient(
            "amazon",
            "https://sellingpartnerapi-na.amazon.com",
            limits=limits(),
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        ) as http:
            assert "amazon" in repr(http)
            assert isinstance(http.metrics, TransportMetrics)
            return await http.request("GET", "/orders/v0/orders", operation="getOrders")

    assert asyncio.run(main()).status_code == 200


def test_works_with_respx(make_client):
    respx = pytest.importorskip("respx")

    async def main():
        with respx.mock(assert_all_called=True) as router:
            route = router.get("https://gw.example.test/r").mock(
                side_effect=[httpx.Response(502), httpx.Response(200, json=[1])]
            )
            async with make_client(None, transport=None) as http:
                result = await http.request_json("GET", "/r", operation="op")
            return result, route.call_count

    assert asyncio.run(main()) == ([1], 2)


class _ReadingClassifier(HttpStatusClassifier):
    """Reads the body as a gateway classifier does (an error envelope under HTTP 200)."""

    def classify(self, response, operation):
        failed = self.classify_status(response, operation)
        if failed is None and "error" in decode_json(response):
            return DataError("error envelope")
        return failed


async def test_an_answer_is_decoded_once_by_the_classifier_the_check_and_the_reader(
    make_client, clock, monkeypatch
):
    body = b'{"order": {"id": "A-1", "total": "12.30"}}'
    decoded: list[bytes] = []
    real_loads = json.loads

    def counting_loads(text, *args, **kwargs):
        if text == body:
            decoded.append(text)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    client = make_client(
        lambda request: httpx.Response(200, content=body),
        classifier=_ReadingClassifier(clock),
    )
    async with client:
        answer = await client.request_json("GET", "/orders/A-1", operation="getOrder")
        again = await client.request_json("GET", "/orders/A-1", operation="getOrder")
    assert answer == again == {"order": {"id": "A-1", "total": "12.30"}}
    assert len(decoded) == 2  # one per answer, not one per reader
    # Another number parser is another decoding, kept apart.
    response = httpx.Response(200, content=b'{"price": 1.10}')
    assert decode_json(response, parse_float=Decimal) == {"price": Decimal("1.10")}
    assert decode_json(response) == {"price": 1.1}


URL_CASES = [
    ("/orders/2026-01-01/orders/123-4567", {"includedData": "BUYER,RECIPIENT"}),
    ("/listings/2021-08-01/items/S1/sku%2Fwith%20slash", {"marketplaceIds": "A1", "x": None}),
    ("/a b/é/连衣裙", {"q": "a b&c=d/é", "n": 5, "on": True, "many": ["x", "y z"]}),
    ("/path", {}),
    ("/path", None),
    ("/", {"a": "1"}),
    ("relative/no-slash", {"a": "1"}),
    ("/already?x=1", {"a": "2"}),
    ("/frag#part", None),
    ("//other.test/x", None),
    ("https://elsewhere.test/router/rest", None),
    ("https://elsewhere.test/router/rest", {"a": "b c"}),
]


@pytest.mark.parametrize(("url", "params"), URL_CASES)
@pytest.mark.parametrize("base", ["https://gw.example.test", "http://h:8080/router/rest/"])
def test_requests_go_to_the_url_httpx_would_build(url, params, base, limits):
    seen: list[httpx.URL] = []

    def handler(request):
        seen.append(request.url)
        return httpx.Response(200)

    expected = httpx.AsyncClient(base_url=base).build_request("GET", url, params=params).url

    async def main():
        transport = httpx.MockTransport(handler)
        async with ChannelHttpClient("c", base, limits=limits(), transport=transport) as http:
            for _ in range(2):  # the second time from the parsed-URL cache
                await http.request("GET", url, operation="op", params=params)

    asyncio.run(main())
    assert seen == [expected, expected]
    assert [str(u) for u in seen] == [str(expected)] * 2
    assert [u.raw_path for u in seen] == [expected.raw_path] * 2


def test_a_url_httpx_refuses_is_an_invalid_request(make_client):
    async def main():
        async with make_client(lambda _r: httpx.Response(200)) as http:
            await http.request("GET", "/orders/bad\x00id", operation="op", params={"a": "1"})

    with pytest.raises(InvalidRequestError):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),
        ([("Date", "d"), ("Server", "s")], None),
        ([("request-id", "low"), ("x-amzn-RequestId", "high")], "high"),
        ([("X-AMZN-REQUESTID", "upper")], "upper"),
        ([("x-amzn-RequestId", ""), ("x-request-id", "next")], "next"),
        ([("x-request-id", "a"), ("X-Request-Id", "b")], "a, b"),
        ([("x-requestid", "\xe9".encode("latin-1").decode("latin-1"))], "\xe9"),
    ],
)
def test_request_id_from_headers_prefers_the_first_named_header(headers, expected):
    raw = [(k.encode(), v.encode("latin-1")) for k, v in headers]
    response = httpx.Response(200, headers=raw)
    assert request_id_from_headers(response) == expected


def test_cookies_a_marketplace_sets_are_kept_and_sent_back(make_client, monkeypatch):
    jar_reads: list[int] = []
    original = http.cookiejar.CookieJar.extract_cookies

    def counting(self, response, request):
        jar_reads.append(1)
        return original(self, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", counting)
    sent: list[str | None] = []

    def handler(request):
        sent.append(request.headers.get("Cookie"))
        if len(sent) == 2:
            return httpx.Response(200, headers={"Set-Cookie": "route=b2; Path=/"})
        return httpx.Response(200)

    async def main():
        async with make_client(handler) as client:
            for _ in range(4):
                await client.request("GET", "/x", operation="op")
            return dict(client._client.cookies)

    assert asyncio.run(main()) == {"route": "b2"}
    assert sent == [None, None, "route=b2", "route=b2"]
    # Only the answer that set a cookie went through the jar.
    assert jar_reads == [1]


def test_metric_children_are_reused_and_keep_counting(make_client):
    metrics = TransportMetrics()
    handler = scripted(404, 200, 404, 200)

    async def main():
        async with make_client(handler, metrics=metrics) as client:
            for _ in range(4):
                with contextlib.suppress(ChannelError):
                    await client.request("GET", "/", operation="items.get")

    asyncio.run(main())
    assert metrics.requests("tmall", "items.get", "ok") == 2
    assert metrics.requests("tmall", "items.get", "NotFoundError") == 2
    assert metrics.latency_count("tmall", "items.get") == 4
