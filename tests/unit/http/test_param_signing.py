"""The shared TOP/JOS/PDD parameter signature, checked against the platforms' own examples."""

from __future__ import annotations

import httpx
import pytest

from channelsync.errors import UsageError
from channelsync.http import (
    AccessToken,
    ParamDigest,
    Redactor,
    TokenCache,
    TokenSigner,
    concatenate_params,
    query_params,
    sign_params,
    with_query_params,
)

TOP_DOC_EXAMPLE = {
    "method": "taobao.item.seller.get",
    "app_key": "12345678",
    "session": "test",
    "timestamp": "2016-01-01 12:00:00",
    "format": "json",
    "v": "2.0",
    "sign_method": "md5",
    "fields": "num_iid,title,nick,price,num",
    "num_iid": "11223344",
}

PDD_DOC_EXAMPLE = {
    "type": "pdd.order.number.list.get",
    "client_id": "1",
    "access_token": "asd78172s8ds9a921j9qqwda12312w1w21211",
    "timestamp": "1480411125",
    "data_type": "XML",
    "order_status": "1",
    "page": "1",
    "page_size": "10",
}


def test_top_documentation_example() -> None:
    assert concatenate_params(TOP_DOC_EXAMPLE) == (
        "app_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.get"
        "num_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0"
    )
    assert sign_params(TOP_DOC_EXAMPLE, "helloworld", ParamDigest.MD5) == (
        "66987CB115214E59E6EC978214934FB8"
    )


def test_pdd_documentation_example() -> None:
    assert sign_params(PDD_DOC_EXAMPLE, "testSecret", ParamDigest.MD5) == (
        "E4DE3ED21002510DED352819E7AE6775"
    )


@pytest.mark.parametrize(
    ("digest", "sign_method", "expected"),
    [
        (ParamDigest.MD5, "md5", "FD78231E1BE1B6C464A54F25CDD1C8E5"),
        (ParamDigest.HMAC_MD5, "hmac", "83EC602825CC2C300F568198DA22B1FC"),
        (
            ParamDigest.HMAC_SHA256,
            "hmac-sha256",
            "FFDEDAA4B76E8625C5900D7696C546649344C7AF19501A403A9F7D6D53786FC5",
        ),
    ],
)
def test_computed_vectors_for_every_digest(
    digest: ParamDigest, sign_method: str, expected: str
) -> None:
    params = {
        "method": "taobao.item.quantity.update",
        "app_key": "12345678",
        "session": "sess-abc",
        "timestamp": "2024-03-01 12:00:00",
        "format": "json",
        "v": "2.0",
        "num_iid": "600000000001",
        "sku_id": "5000000000001",
        "quantity": "25",
        "type": "1",
        "sign_method": sign_method,
    }
    assert sign_params(params, "channelsync-secret", digest) == expected


def test_non_ascii_values_are_signed_as_utf8() -> None:
    params = {
        "method": "taobao.items.onsale.get",
        "app_key": "12345678",
        "session": "sess-abc",
        "timestamp": "2024-03-01 12:00:00",
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
        "fields": "num_iid,title,num,price,modified",
        "q": "连衣裙",
        "page_no": "1",
        "page_size": "200",
    }
    assert sign_params(params, "channelsync-secret", ParamDigest.MD5) == (
        "D28A6D34633818D0C2132B08AE53A796"
    )


def test_sign_and_empty_values_are_left_out() -> None:
    with_extras = {**PDD_DOC_EXAMPLE, "sign": "OLD", "empty": ""}
    assert sign_params(with_extras, "testSecret", ParamDigest.MD5) == (
        "E4DE3ED21002510DED352819E7AE6775"
    )


def test_names_sort_in_byte_order() -> None:
    # JOS relies on this: "360buy_param_json" starts with a digit and sorts first.
    assert concatenate_params({"b": "2", "360buy_param_json": "{}", "A": "1"}) == (
        "360buy_param_json{}A1b2"
    )


class _ParamTokenSigner(TokenSigner):
    def sign_with(self, request: httpx.Request, token: str) -> httpx.Request:
        params = {**query_params(request), "session": token}
        params["sign"] = sign_params(params, "secret", ParamDigest.MD5)
        return with_query_params(request, params)

    def is_token_expired(self, response: httpx.Response) -> bool:
        return response.json().get("code") == 27


def _gateway(valid: set[str], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        session = request.url.params["session"]
        seen.append(session)
        if session not in valid:
            return httpx.Response(200, json={"code": 27})
        return httpx.Response(200, json={"ok": True})

    return httpx.MockTransport(handler)


async def test_token_signer_refreshes_and_resends_once_on_an_expired_token() -> None:
    issued = iter(["fresh-1", "fresh-2"])

    async def refresh() -> AccessToken:
        return AccessToken(next(issued), expires_in=3600)

    redactor = Redactor()
    tokens = TokenCache(refresh, initial=AccessToken("stale"), redactor=redactor)
    seen: list[str] = []
    auth = _ParamTokenSigner(tokens)
    async with httpx.AsyncClient(transport=_gateway({"fresh-1"}, seen), auth=auth) as client:
        first = await client.get("http://gw/router", params={"method": "x"})
        second = await client.get("http://gw/router", params={"method": "x"})
    assert first.json() == {"ok": True}
    assert second.json() == {"ok": True}
    assert seen == ["stale", "fresh-1", "fresh-1"]
    assert tokens.refresh_count == 1
    assert redactor.redact_text("token fresh-1") == "token ***"


async def test_token_signer_without_refresh_hands_back_the_rejection() -> None:
    tokens = TokenCache(None, initial=AccessToken("stale"))
    seen: list[str] = []
    auth = _ParamTokenSigner(tokens)
    async with httpx.AsyncClient(transport=_gateway(set(), seen), auth=auth) as client:
        response = await client.get("http://gw/router")
    assert response.json() == {"code": 27}
    assert seen == ["stale"]
    assert repr(tokens) == "TokenCache(token=set)"


def test_token_signer_refuses_a_sync_client() -> None:
    auth = _ParamTokenSigner(TokenCache(None, initial=AccessToken("t")))
    with (
        httpx.Client(transport=_gateway({"t"}, []), auth=auth) as client,
        pytest.raises(UsageError, match="async client"),
    ):
        client.get("http://gw/router")


class _RefreshThroughTheGateway(_ParamTokenSigner):
    def sign_without_token(self, request: httpx.Request) -> httpx.Request | None:
        if request.url.params.get("method") == "token.refresh":
            return with_query_params(request, {**query_params(request), "sign": "tokenless"})
        return None


async def test_token_issuing_calls_are_signed_without_asking_the_cache() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params.get("session", "-"))
        return httpx.Response(200, json={"ok": True})

    tokens = TokenCache(None)  # no token at all: asking it would be a usage error
    auth = _RefreshThroughTheGateway(tokens)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
        response = await client.get("http://gw/router", params={"method": "token.refresh"})
    assert response.json() == {"ok": True}
    assert seen == ["-"]
