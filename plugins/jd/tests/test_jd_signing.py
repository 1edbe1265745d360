from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from channelsync_jd.signing import PARAM_JSON, digest_for, format_timestamp, param_json, sign_jos

from channelsync.errors import UsageError
from channelsync.http import ParamDigest, concatenate_params

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
