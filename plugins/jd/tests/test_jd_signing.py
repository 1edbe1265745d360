from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from channelsync_jd.signing import (
    PARAM_JSON,
    JosSigner,
    digest_for,
    format_timestamp,
    param_json,
    sign_jos,
)

from channelsync.clock import CHINA_STANDARD_TIME, FakeClock
from channelsync.errors import UsageError
from channelsync.http import (
    FORM_FIELDS_EXTENSION,
    AccessToken,
    ParamDigest,
    TokenCache,
    concatenate_params,
)

OFFICIAL_JSON = (
    '{"end_date":null,"optional_fields":null,"order_state":"WAIT_SELLER_STOCK_OUT",'
    '"page":"1","page_size":"200","start_date":null}'
)
OFFICIAL = {
    PARAM_JSON: OFFICIAL_JSON,
    "access_token": "yourtoken",
    "app_key": "yourappkey",
    "method": "jingdong.pop.order.search",
    "timestamp": "2021-05-07 09:20:39.683+0800",
    "v": "2.0",
}
VECTOR_BASE = {"access_token": "jd-token-abc", "app_key": "JDAPPKEY0001", "v": "2.0"}
STOCK = {
    **VECTOR_BASE,
    "method": "jingdong.stock.write.updateSkuStock",
    "timestamp": "2024-03-01 12:00:00.000+0800",
    PARAM_JSON: '{"skuId":10020003000401,"stockNum":25}',
}
SEARCH_JSON = (
    '{"dateType":"0","end_date":"2024-03-01 12:00:00",'
    '"optional_fields":"orderId,orderState,modified,itemInfoList",'
    '"order_state":"WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM","page":"1",'
    '"page_size":"100","sortType":"0","start_date":"2024-03-01 11:30:00"}'
)


def test_official_example() -> None:
    assert concatenate_params(OFFICIAL).startswith(f"360buy_param_json{OFFICIAL_JSON}access_token")
    assert sign_jos(OFFICIAL, "yourappSecret") == "D70825340F4084360B9362B60DFD7930"


def test_stock_vector_md5_and_joined_string() -> None:
    assert concatenate_params(STOCK) == (
        '360buy_param_json{"skuId":10020003000401,"stockNum":25}access_tokenjd-token-abc'
        "app_keyJDAPPKEY0001methodjingdong.stock.write.updateSkuStock"
        "timestamp2024-03-01 12:00:00.000+0800v2.0"
    )
    assert sign_jos(STOCK, "jd-secret-xyz") == "86F5D67A5426CEF79F4018A39BA6667E"


def test_stock_vector_hmac_sha256_signs_sign_method_too() -> None:
    params = {**STOCK, "sign_method": "hmacsha256"}
    assert sign_jos(params, "jd-secret-xyz", "hmacsha256") == (
        "2851F415B0F282BEF0911C94622D7575409F645AE85805426D57A6EC208A6C2F"
    )


def test_order_search_vector() -> None:
    params = {
        **VECTOR_BASE,
        "method": "jingdong.pop.order.search",
        "timestamp": "2024-03-01 12:00:05.123+0800",
        PARAM_JSON: SEARCH_JSON,
    }
    assert sign_jos(params, "jd-secret-xyz") == "9BDFC97869F751579E7612A97C526866"


def test_param_json_is_sorted_compact_and_exact() -> None:
    assert param_json({"stockNum": 25, "skuId": 10020003000401}) == STOCK[PARAM_JSON]
    assert (
        param_json(
            {
                "start_date": "2024-03-01 11:30:00",
                "sortType": "0",
                "page_size": "100",
                "page": "1",
                "order_state": "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM",
                "optional_fields": "orderId,orderState,modified,itemInfoList",
                "end_date": "2024-03-01 12:00:00",
                "dateType": "0",
            }
        )
        == SEARCH_JSON
    )
    assert param_json({"b": None, "a": True, "c": [1, "x"], "d": {"z": 1, "y": False}}) == (
        '{"a":true,"b":null,"c":[1,"x"],"d":{"y":false,"z":1}}'
    )


def test_param_json_writes_yuan_exactly_and_keeps_chinese_text() -> None:
    assert param_json({"jdPrice": Decimal("99.90"), "skuId": 1}) == '{"jdPrice":99.90,"skuId":1}'
    assert param_json({"jdPrice": Decimal("1E+2")}) == '{"jdPrice":100}'
    assert param_json({"note": "下架"}) == '{"note":"下架"}'
    with pytest.raises(UsageError):
        param_json({"jdPrice": Decimal("NaN")})


def test_timestamp_is_gmt8_with_milliseconds() -> None:
    moment = datetime(2024, 3, 1, 4, 0, 5, 123456, tzinfo=UTC)
    assert format_timestamp(moment) == "2024-03-01 12:00:05.123+0800"
    with pytest.raises(UsageError):
        format_timestamp(datetime(2024, 3, 1))  # noqa: DTZ001 - the refusal is the point


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        ("md5", ParamDigest.MD5),
        ("HMACMD5", ParamDigest.HMAC_MD5),
        ("hmacsha256", ParamDigest.HMAC_SHA256),
    ],
)
def test_sign_methods(name: str, digest: ParamDigest) -> None:
    assert digest_for(name) is digest


def test_unknown_sign_method() -> None:
    with pytest.raises(UsageError, match="sha1"):
        digest_for("sha1")


def _reference_param_json(params: Mapping[str, Any]) -> str:
    """The serialisation as it was written with json.dumps, to compare against."""

    def encode(value: Any) -> str:
        if value is None or isinstance(value, bool):
            return {None: "null", True: "true", False: "false"}[value]
        if isinstance(value, int):
            return str(value)
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, list):
            return "[" + ",".join(encode(item) for item in value) + "]"
        return _reference_param_json(value)

    items = sorted(params.items(), key=lambda pair: pair[0])
    return "{" + ",".join(f"{json.dumps(key)}:{encode(value)}" for key, value in items) + "}"


def test_param_json_matches_json_dumps_on_awkward_text() -> None:
    rng = random.Random(11)
    alphabet = string.printable + '"\\\x00\x1f\u2028é下架\ud800'
    for _ in range(300):
        params: dict[str, Any] = {
            "".join(rng.choices(alphabet, k=rng.randint(1, 8))): rng.choice(
                [
                    "".join(rng.choices(alphabet, k=rng.randint(0, 30))),
                    rng.randint(-(10**12), 10**12),
                    Decimal(rng.randint(0, 10**6)) / 100,
                    None,
                    True,
                    ["a", 1, {"k": "v\n"}],
                    {"nested": "é\t"},
                ]
            )
            for _ in range(rng.randint(1, 5))
        }
        assert param_json(params) == _reference_param_json(params)


def test_timestamp_matches_the_strftime_spelling() -> None:
    rng = random.Random(5)
    for _ in range(500):
        moment = datetime.fromtimestamp(rng.uniform(0, 4e9), tz=UTC)
        local = moment.astimezone(CHINA_STANDARD_TIME)
        expected = f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d}+0800"
        assert format_timestamp(moment) == expected


async def test_fields_handed_over_unencoded_are_signed_like_an_encoded_body() -> None:
    clock = FakeClock(datetime(2024, 3, 1, 4, 0, 5, 123000, tzinfo=UTC))
    tokens = TokenCache(None, initial=AccessToken("jd-token-abc"), clock=clock)
    signer = JosSigner(
        tokens, app_key="JDAPPKEY0001", secret=lambda: "s3cr3t", sign_method="md5", clock=clock
    )
    assert signer.signs_form_fields
    body = {"method": "jingdong.pop.order.get", PARAM_JSON: '{"order_id":1,"note":"下架 x"}'}
    url = "https://api.jd.com/routerjson"

    async def signed(request: httpx.Request) -> httpx.Request:
        flow = signer.async_auth_flow(request)
        first = await flow.__anext__()
        await flow.aclose()
        return first

    encoded = await signed(httpx.Request("POST", url, data=body))
    handed = await signed(
        httpx.Request("POST", url, extensions={FORM_FIELDS_EXTENSION: dict(body)})
    )
    in_query = await signed(httpx.Request("POST", f"{url}?method={body['method']}", data=body))
    assert handed.content == encoded.content == in_query.content
    assert not in_query.url.query  # the method moved into the body
    assert FORM_FIELDS_EXTENSION not in handed.extensions
