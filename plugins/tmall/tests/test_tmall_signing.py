from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest
from channelsync_tmall.envelope import response_key
from channelsync_tmall.signing import DIGESTS, TopSigner, signed_system_params

from channelsync.clock import FakeClock, format_local_time
from channelsync.http import (
    FORM_FIELDS_EXTENSION,
    AccessToken,
    ParamDigest,
    TokenCache,
    concatenate_params,
    sign_params,
)

OFFICIAL = {
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
OLDER = {
    "method": "taobao.user.seller.get",
    "timestamp": "2013-05-06 13:52:03",
    "format": "xml",
    "app_key": "test",
    "v": "2.0",
    "fields": "nick",
    "sign_method": "md5",
    "session": "test",
}
COMPUTED = {
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
}


def test_official_example_current_docs() -> None:
    assert concatenate_params(OFFICIAL) == (
        "app_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.get"
        "num_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0"
    )
    assert (
        sign_params(OFFICIAL, "helloworld", ParamDigest.MD5) == "66987CB115214E59E6EC978214934FB8"
    )


def test_official_example_older_docs() -> None:
    assert sign_params(OLDER, "test", ParamDigest.MD5) == "72CB4D809B375A54502C09360D879C64"


@pytest.mark.parametrize(
    ("sign_method", "expected"),
    [
        ("md5", "FD78231E1BE1B6C464A54F25CDD1C8E5"),
        ("hmac", "83EC602825CC2C300F568198DA22B1FC"),
        ("hmac-sha256", "FFDEDAA4B76E8625C5900D7696C546649344C7AF19501A403A9F7D6D53786FC5"),
    ],
)
def test_computed_vectors(sign_method: str, expected: str) -> None:
    params = {**COMPUTED, "sign_method": sign_method}
    assert sign_params(params, "channelsync-secret", DIGESTS[sign_method]) == expected
    business = {k: v for k, v in COMPUTED.items() if k not in {"app_key", "session", "timestamp"}}
    business = {k: v for k, v in business.items() if k not in {"format", "v"}}
    system = signed_system_params(
        business,
        app_key="12345678",
        secret="channelsync-secret",
        sign_method=sign_method,  # type: ignore[arg-type]
        timestamp="2024-03-01 12:00:00",
        session="sess-abc",
    )
    assert system["sign"] == expected


def test_utf8_vector() -> None:
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


def test_timestamp_is_sent_in_beijing_time() -> None:
    assert format_local_time(datetime(2024, 3, 1, 4, 0, tzinfo=UTC)) == "2024-03-01 12:00:00"


async def test_signer_puts_every_param_in_the_body_and_none_in_the_url() -> None:
    clock = FakeClock(datetime(2024, 3, 1, 4, 0, tzinfo=UTC))
    tokens = TokenCache(None, initial=AccessToken("sess-abc"), clock=clock)
    signer = TopSigner(
        tokens, app_key="12345678", secret="channelsync-secret", sign_method="hmac", clock=clock
    )
    body = {k: COMPUTED[k] for k in ("method", "num_iid", "sku_id", "quantity", "type")}
    request = httpx.Request("POST", "https://gw.api.taobao.com/router/rest", data=body)
    flow = signer.async_auth_flow(request)
    signed = await flow.__anext__()
    sent = dict(parse_qsl(signed.content.decode()))
    assert sent["sign"] == "83EC602825CC2C300F568198DA22B1FC"
    assert sent["timestamp"] == "2024-03-01 12:00:00"
    assert sent["session"] == "sess-abc"
    assert {k: sent[k] for k in body} == body
    assert not signed.url.query
    assert "sess-abc" not in repr(signer)


@pytest.mark.parametrize(
    ("method", "root"),
    [
        ("taobao.item.quantity.update", "item_quantity_update_response"),
        ("taobao.trades.sold.increment.get", "trades_sold_increment_get_response"),
        ("tmall.item.quantity.update", "tmall_item_quantity_update_response"),
        ("alibaba.ascp.logistics.offline.send", "alibaba_ascp_logistics_offline_send_response"),
    ],
)
def test_success_root_drops_only_the_taobao_prefix(method: str, root: str) -> None:
    assert response_key(method) == root


async def _first_signed(signer: TopSigner, request: httpx.Request) -> httpx.Request:
    flow = signer.async_auth_flow(request)
    signed = await flow.__anext__()
    await flow.aclose()
    return signed


@pytest.mark.parametrize("method", ["taobao.trade.fullinfo.get", "taobao.top.auth.token.refresh"])
async def test_fields_handed_over_unencoded_are_signed_like_an_encoded_body(method: str) -> None:
    clock = FakeClock(datetime(2024, 3, 1, 4, 0, tzinfo=UTC))
    tokens = TokenCache(None, initial=AccessToken("sess-abc"), clock=clock)
    signer = TopSigner(
        tokens, app_key="12345678", secret="channelsync-secret", sign_method="md5", clock=clock
    )
    assert signer.signs_form_fields
    body = {"method": method, "tid": "3000000012345", "fields": "tid,buyer_nick", "q": "连衣裙 x"}
    url = "https://gw.api.taobao.com/router/rest"
    encoded = await _first_signed(signer, httpx.Request("POST", url, data=body))
    handed = await _first_signed(
        signer, httpx.Request("POST", url, extensions={FORM_FIELDS_EXTENSION: dict(body)})
    )
    assert handed.content == encoded.content
    assert handed.headers["Content-Length"] == str(len(handed.content))
    assert FORM_FIELDS_EXTENSION not in handed.extensions
    sent = dict(parse_qsl(handed.content.decode()))
    assert ("session" in sent) is (method == "taobao.trade.fullinfo.get")
