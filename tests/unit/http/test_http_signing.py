from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from channelsync.errors import AuthenticationError, TransientError, UsageError
from channelsync.http import (
    AccessToken,
    Redactor,
    RefreshingAuth,
    RequestSigner,
    form_fields,
    query_params,
    with_form_fields,
    with_query_params,
)


def md5_sign(fields: dict[str, str], secret: str) -> str:
    joined = "".join(f"{k}{v}" for k, v in sorted(fields.items()))
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()


class FormSigner(RequestSigner):
    """Toy gateway signer: stamps a timestamp and an md5 ``sign`` into the form body."""

    def __init__(self, clock, secret="s3cr3t"):
        self.clock = clock
        self.secret = secret
        self.calls = 0

    def sign(self, request):
        self.calls += 1
        fields = form_fields(request)
        fields["timestamp"] = f"{self.clock.monotonic():.1f}"
        fields["sign"] = md5_sign(fields, self.secret)
        return with_form_fields(request, fields)


class QuerySigner(RequestSigner):
    def sign(self, request):
        params = query_params(request)
        params["sign"] = md5_sign(params, "k")
        return with_query_params(request, params)


def test_signer_runs_on_every_attempt_with_fresh_values(make_client, clock):
    seen: list[dict[str, str]] = []

    def handler(request):
        fields = form_fields(request)
        assert request.headers["Content-Length"] == str(len(request.content))
        seen.append(fields)
        return httpx.Response(503 if len(seen) < 3 else 200)

    signer = FormSigner(clock)

    async def main():
        async with make_client(handler, auth=signer) as http:
            await http.request(
                "POST", "/router", operation="op", data={"method": "x.get", "q": "é"}
            )

    asyncio.run(main())
    assert signer.calls == 3
    assert len(seen) == 3
    for fields in seen:
        unsigned = {k: v for k, v in fields.items() if k != "sign"}
        assert fields["sign"] == md5_sign(unsigned, "s3cr3t")
        assert fields["method"] == "x.get"
        assert fields["q"] == "é"
    # A retried attempt is re-signed with its own timestamp.
    assert len({f["timestamp"] for f in seen}) == 3


def test_query_signer(make_client):
    seen: list[httpx.URL] = []

    def handler(request):
        seen.append(request.url)
        return httpx.Response(200)

    async def main():
        async with make_client(handler, auth=QuerySigner()) as http:
            await http.request("GET", "/api", operation="op", params={"b": "2", "a": "1"})

    asyncio.run(main())
    params = dict(seen[0].params)
    assert params["sign"] == md5_sign({"a": "1", "b": "2"}, "k")
    assert seen[0].path == "/api"


def test_form_helpers():
    request = httpx.Request("POST", "https://h.test/x", data={"a": "1", "b": ""})
    request.read()
    assert form_fields(request) == {"a": "1", "b": ""}
    rebuilt = with_form_fields(request, {"a": "1", "b": "", "sign": "ABC" * 10})
    assert rebuilt.content == b"a=1&b=&sign=" + b"ABC" * 10
    assert rebuilt.headers["Content-Length"] == str(len(rebuilt.content))
    assert rebuilt.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_fields(httpx.Request("GET", "https://h.test/")) == {}
    with pytest.raises(UsageError, match="application/json"):
        form_fields(httpx.Request("POST", "https://h.test/", json={"a": 1}))


def test_with_query_params_keeps_body_and_headers():
    request = httpx.Request("POST", "https://h.test/p?x=1", content=b"body", headers={"A": "b"})
    rebuilt = with_query_params(request, {"x": "1", "y": "2"})
    assert str(rebuilt.url) == "https://h.test/p?x=1&y=2"
    assert rebuilt.content == b"body"
    assert rebuilt.headers["A"] == "b"


class AmazonStyleAuth(RefreshingAuth):
    header_name = "x-amz-access-token"
    header_prefix = ""


class Refresher:
    def __init__(self, clock, expires_in=3600.0):
        self.clock = clock
        self.expires_in = expires_in
        self.count = 0

    async def __call__(self):
        self.count += 1
        await self.clock.sleep(0.1)  # yields, so concurrent callers pile up on the lock
        return AccessToken(f"Atza|token-{self.count}", expires_in=self.expires_in)


def test_refresh_happens_once_under_concurrency(make_client, clock):
    seen: list[str] = []

    def handler(request):
        seen.append(request.headers["x-amz-access-token"])
        return httpx.Response(200)

    refresher = Refresher(clock)
    auth = AmazonStyleAuth(refresher, clock=clock)

    async def main():
        async with make_client(handler, auth=auth) as http:
            await asyncio.gather(*(http.request("GET", "/o", operation="op") for _ in range(10)))

    asyncio.run(main())
    assert refresher.count == 1
    assert seen == ["Atza|token-1"] * 10
    assert "Atza" not in repr(auth)


def test_expired_token_response_refreshes_once_and_replays(make_client, clock):
    seen: list[str] = []

    def handler(request):
        token = request.headers["Authorization"]
        seen.append(token)
        return httpx.Response(401 if token == "Bearer Atza|token-1" else 200)

    refresher = Refresher(clock)

    async def main():
        async with make_client(handler, auth=RefreshingAuth(refresher, clock=clock)) as http:
            return await http.request("GET", "/o", operation="op")

    assert asyncio.run(main()).status_code == 200
    assert seen == ["Bearer Atza|token-1", "Bearer Atza|token-2"]
    assert refresher.count == 2


def test_still_rejected_after_replay_is_an_authentication_error(make_client, clock):
    calls = 0

    def handler(request):
        nonlocal calls
        calls += 1
        return httpx.Response(401)

    refresher = Refresher(clock)

    async def main():
        async with make_client(handler, auth=RefreshingAuth(refresher, clock=clock)) as http:
            await http.request("GET", "/o", operation="op")

    with pytest.raises(AuthenticationError):
        asyncio.run(main())
    assert calls == 2  # one replay, and no retry of a permanent error
    assert refresher.count == 2


def test_concurrent_expired_responses_share_one_refresh(make_client, clock):
    seen: list[str] = []

    def handler(request):
        token = request.headers["Authorization"]
        seen.append(token)
        return httpx.Response(401 if token.endswith("token-1") else 200)

    refresher = Refresher(clock)

    async def main():
        async with make_client(handler, auth=RefreshingAuth(refresher, clock=clock)) as http:
            return await asyncio.gather(
                *(http.request("GET", "/o", operation="op") for _ in range(10))
            )

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 10
    # One refresh to get a token, one more after all ten saw it rejected.
    assert refresher.count == 2
    assert sorted(seen) == ["Bearer Atza|token-1"] * 10 + ["Bearer Atza|token-2"] * 10


def test_refreshes_within_margin_of_expiry(clock):
    refresher = Refresher(clock, expires_in=100.0)
    auth = RefreshingAuth(refresher, clock=clock, margin=60.0)

    async def main():
        first = await auth.token()
        clock.advance(30)
        assert await auth.token() == first
        clock.advance(15)  # 45 s in: within 60 s of expiry at 100 s (issued at 0.1)
        return first, await auth.token()

    first, second = asyncio.run(main())
    assert first != second
    assert refresher.count == 2


def test_body_expiry_signal_and_redactor_registration(make_client, clock):

    class BodyExpiry(RefreshingAuth):
        header_name = "access-token"
        header_prefix = ""
        requires_response_body = True

        def is_token_expired(self, response):
            return b'"code": 10019' in response.content

    def handler(request):
        if request.headers["access-token"].endswith("token-1"):
            return httpx.Response(200, content=b'{"code": 10019, "msg": "token expired"}')
        return httpx.Response(200, json={"ok": 1})

    redactor = Redactor()
    refresher = Refresher(clock)
    auth = BodyExpiry(refresher, clock=clock, redactor=redactor)

    async def main():
        async with make_client(handler, auth=auth, redactor=redactor) as http:
            return await http.request_json("POST", "/api", operation="op", params={"x": "1"})

    assert asyncio.run(main()) == {"ok": 1}
    assert refresher.count == 2
    assert redactor.redact_text("Atza|token-2 here") == "*** here"


def test_refresh_failure_surfaces_as_channel_error_with_context(make_client, clock):
    calls = 0

    async def failing_refresh():
        nonlocal calls
        calls += 1
        raise TransientError("token endpoint down")

    def handler(request):
        return httpx.Response(200)

    async def main():
        async with make_client(handler, auth=RefreshingAuth(failing_refresh, clock=clock)) as http:
            await http.request("GET", "/", operation="op")

    with pytest.raises(TransientError) as info:
        asyncio.run(main())
    # Retryable, so the call is retried per policy (5 attempts); the refresh itself is
    # asked again only once its backoff (5 s, then 10 s) has passed.
    assert calls == 2
    assert len(clock.sleeps) == 4
    assert info.value.channel == "tmall"


def test_refreshing_auth_refuses_sync_clients(clock):
    auth = RefreshingAuth(Refresher(clock), clock=clock)
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    with httpx.Client(transport=transport, auth=auth) as client, pytest.raises(UsageError):
        client.get("https://h.test/")
