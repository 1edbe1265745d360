"""Form signers get the caller's fields unencoded and encode the signed body once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import string
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from channelsync.http import (
    FORM_FIELDS_EXTENSION,
    AccessToken,
    ParamDigest,
    RequestSigner,
    TokenCache,
    TokenSigner,
    encode_form,
    form_fields,
    sign_params,
    with_form_fields,
)


def md5_sign(fields: dict[str, str], secret: str) -> str:
    joined = "".join(f"{k}{v}" for k, v in sorted(fields.items()))
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()


class HandedFormSigner(RequestSigner):
    """Toy gateway signer that opts in to receiving the fields unencoded."""

    signs_form_fields = True

    def __init__(self, clock, secret="s3cr3t"):
        self.clock = clock
        self.secret = secret
        self.handed: list[bool] = []

    def sign(self, request):
        self.handed.append(FORM_FIELDS_EXTENSION in request.extensions)
        if FORM_FIELDS_EXTENSION in request.extensions:
            assert request.content == b""  # nothing was encoded before signing
        fields = form_fields(request)
        fields["timestamp"] = f"{self.clock.monotonic():.1f}"
        fields["sign"] = md5_sign(fields, self.secret)
        return with_form_fields(request, fields)


def test_encode_form_is_urlencode_byte_for_byte():
    rng = random.Random(7)
    alphabet = string.printable + "é连衣裙\u2028\x00~"
    cases = [
        {"a": "1", "b": "", "sign": "ABC" * 10},
        {"q": "连衣裙 a+b&c=d/é", " k ": "x y", "~._-": "~._-"},
        {"n": 5, "raw": b"\xff z", "none": None},  # type: ignore[dict-item]
        {},
    ]
    for _ in range(500):
        cases.append(
            {
                "".join(rng.choices(alphabet, k=rng.randint(0, 6))): "".join(
                    rng.choices(alphabet, k=rng.randint(0, 60))
                )
                for _ in range(rng.randint(1, 5))
            }
        )
    for fields in cases:
        expected = urlencode(list(fields.items())).encode()
        assert encode_form(fields) == expected
        assert encode_form(fields) == expected  # a second time, from the memo


def test_form_fields_reads_handed_over_fields_without_a_body():
    handed = {"method": "x.get", "q": "a b"}
    request = httpx.Request("POST", "https://h.test/r", extensions={FORM_FIELDS_EXTENSION: handed})
    fields = form_fields(request)
    assert fields == handed
    fields["sign"] = "S"
    assert handed == {"method": "x.get", "q": "a b"}  # a copy: the signer may change it


def test_with_form_fields_replaces_the_content_headers_in_place_and_drops_the_fields():
    request = httpx.Request(
        "POST",
        "https://h.test/r",
        headers={"X-First": "1", "Transfer-Encoding": "chunked", "X-Last": "2"},
        extensions={FORM_FIELDS_EXTENSION: {"a": "1"}, "timeout": {"read": 5.0}},
    )
    signed = with_form_fields(request, {"a": "1", "sign": "S"})
    assert signed.content == b"a=1&sign=S"
    assert signed.headers["Content-Length"] == "10"
    assert signed.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Transfer-Encoding" not in signed.headers
    assert signed.headers["Host"] == "h.test"
    names = [name.lower() for name, _ in signed.headers.raw]
    assert names == [b"host", b"x-first", b"x-last", b"content-length", b"content-type"]
    # A bodiless POST as the transport builds it: its headers keep their places.
    bodiless = httpx.Request("POST", "https://h.test/r", headers={"X-First": "1"})
    names = [name.lower() for name, _ in with_form_fields(bodiless, {"a": "1"}).headers.raw]
    assert names == [b"host", b"content-length", b"x-first", b"content-type"]
    assert signed.extensions == {"timeout": {"read": 5.0}}
    assert form_fields(signed) == {"a": "1", "sign": "S"}  # read back from the body
    unsigned = httpx.Request("GET", "https://h.test/r", headers={"Content-Type": "text/plain"})
    assert with_form_fields(unsigned, {"a": "é"}).content == b"a=%C3%A9"


def test_a_form_signer_gets_the_fields_unencoded_on_every_attempt(make_client, clock):
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(503 if len(seen) < 3 else 200)

    signer = HandedFormSigner(clock)

    async def main():
        async with make_client(handler, auth=signer) as http:
            await http.request(
                "POST", "/router", operation="op", data={"method": "x.get", "q": "é a"}
            )

    asyncio.run(main())
    assert signer.handed == [True, True, True]
    stamps = set()
    for request in seen:
        assert FORM_FIELDS_EXTENSION not in request.extensions
        assert request.headers["Content-Length"] == str(len(request.content))
        fields = dict(parse_qsl(request.content.decode()))
        unsigned = {k: v for k, v in fields.items() if k != "sign"}
        assert fields["sign"] == md5_sign(unsigned, "s3cr3t")
        assert (fields["method"], fields["q"]) == ("x.get", "é a")
        stamps.add(fields["timestamp"])
    # A retried attempt is signed afresh.
    assert len(stamps) == 3


def test_data_that_is_not_text_is_encoded_by_httpx_and_parsed_back(make_client, clock):
    seen: list[dict[str, str]] = []

    def handler(request):
        seen.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200)

    signer = HandedFormSigner(clock)

    async def main():
        async with make_client(handler, auth=signer) as http:
            await http.request(
                "POST",
                "/router",
                operation="op",
                data={"page": 2, "flag": True, "tags": ["a", "b"]},
            )

    asyncio.run(main())
    assert signer.handed == [False]
    assert seen[0]["page"] == "2"
    assert seen[0]["flag"] == "true"
    assert seen[0]["tags"] == "b"  # as before: the last of a repeated field


def test_a_signer_that_did_not_opt_in_gets_an_encoded_body(make_client, clock):
    class BodySigner(RequestSigner):
        def sign(self, request):
            assert FORM_FIELDS_EXTENSION not in request.extensions
            assert request.content == b"method=x.get"
            return request

    async def main():
        async with make_client(lambda _r: httpx.Response(200), auth=BodySigner()) as http:
            await http.request("POST", "/router", operation="op", data={"method": "x.get"})

    asyncio.run(main())


def test_debug_log_shows_the_handed_fields_masked(make_client, clock, caplog):
    signer = HandedFormSigner(clock)

    async def main():
        async with make_client(lambda _r: httpx.Response(200), auth=signer) as http:
            await http.request(
                "POST", "/router", operation="op", data={"method": "x.get", "session": "abcd1234"}
            )

    with caplog.at_level(logging.DEBUG, logger="channelsync.http"):
        asyncio.run(main())
    bodies = [r.getMessage() for r in caplog.records if "body=" in r.getMessage()]
    assert bodies == ["POST https://gw.example.test/router body=method=x.get&session=***"]


class _FormTokenSigner(TokenSigner):
    signs_form_fields = True

    def sign_with(self, request: httpx.Request, token: str) -> httpx.Request:
        fields = {k: v for k, v in form_fields(request).items() if k not in ("session", "sign")}
        fields["session"] = token
        fields["sign"] = sign_params(fields, "secret", ParamDigest.MD5)
        return with_form_fields(request, fields)

    def is_token_expired(self, response: httpx.Response) -> bool:
        return response.json().get("code") == 27


async def test_a_rejected_token_is_replaced_and_the_handed_fields_signed_again(make_client):
    issued = iter(["fresh-1"])

    async def refresh() -> AccessToken:
        return AccessToken(next(issued), expires_in=3600)

    sent: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fields = dict(parse_qsl(request.content.decode()))
        sent.append(fields)
        if fields["session"] != "fresh-1":
            return httpx.Response(200, json={"code": 27})
        return httpx.Response(200, json={"ok": True})

    tokens = TokenCache(refresh, initial=AccessToken("stale"))
    async with make_client(handler, auth=_FormTokenSigner(tokens)) as http:
        body = await http.request_json("POST", "/router", operation="op", data={"method": "m"})
    assert body == {"ok": True}
    assert [f["session"] for f in sent] == ["stale", "fresh-1"]
    for fields in sent:
        assert set(fields) == {"method", "session", "sign"}
        unsigned = {k: v for k, v in fields.items() if k != "sign"}
        assert fields["sign"] == sign_params(unsigned, "secret", ParamDigest.MD5)


@pytest.mark.parametrize("value", ["a", "a b", "é", "~", ""])
def test_form_signer_round_trip_through_the_body(value):
    request = httpx.Request("POST", "https://h.test/r", data={"v": value})
    request.read()
    assert form_fields(with_form_fields(request, form_fields(request))) == {"v": value}
