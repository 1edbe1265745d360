"""PDD signing: the official example, the reference's computed vectors, and the fake's checks."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qsl

import httpx
import pytest
from channelsync_pinduoduo.fake import FakePdd
from channelsync_pinduoduo.signing import PddSigner, encode_params, encode_value, sign_fields

from channelsync.clock import FakeClock
from channelsync.errors import AuthenticationError, InvalidRequestError, UsageError
from channelsync.http import (
    FORM_FIELDS_EXTENSION,
    AccessToken,
    ParamDigest,
    TokenCache,
    concatenate_params,
    sign_params,
)

from .conftest import MakeChannel

OFFICIAL = {
    "type": "pdd.order.number.list.get",
    "client_id": "1",
    "access_token": "asd78172s8ds9a921j9qqwda12312w1w21211",
    "timestamp": "1480411125",
    "data_type": "XML",
    "order_status": "1",
    "page": "1",
    "page_size": "10",
}

COMMON = {
    "client_id": "pdd-client-0001",
    "access_token": "pdd-token-abc",
    "timestamp": "1709265600",
    "data_type": "JSON",
}
SECRET = "pdd-secret-xyz"

STOCK = {
    "type": "pdd.goods.quantity.update",
    "goods_id": "300000000001",
    "sku_id": "800000000001",
    "quantity": "25",
    "update_type": "1",
}
PRICE = {
    "type": "pdd.goods.sku.price.update",
    "goods_id": "300000000001",
    "sku_price_list": '[{"sku_id":800000000001,"group_price":1990,"single_price":2290}]',
}
ORDERS = {
    "type": "pdd.order.number.list.increment.get",
    "start_updated_at": "1709263800",
    "end_updated_at": "1709265420",
    "order_status": "5",
    "refund_status": "5",
    "is_lucky_flag": "0",
    "page": "1",
    "page_size": "100",
    "use_has_next": "true",
}


def test_official_example() -> None:
    assert concatenate_params(OFFICIAL) == (
        "access_tokenasd78172s8ds9a921j9qqwda12312w1w21211client_id1data_typeXML"
        "order_status1page1page_size10timestamp1480411125typepdd.order.number.list.get"
    )
    assert sign_fields(OFFICIAL, "testSecret") == "E4DE3ED21002510DED352819E7AE6775"


@pytest.mark.parametrize(
    ("business", "expected"),
    [
        (STOCK, "8B23419412710ECD855E965457FECFCD"),
        (PRICE, "1B703F654A062A94194DD6138C41C402"),
        (ORDERS, "B3B47D3A99B854B9EE9B160162EA5E5A"),
    ],
    ids=["stock", "price-json-param", "order-increment"],
)
def test_computed_vectors(business: dict[str, str], expected: str) -> None:
    assert sign_fields({**COMMON, **business}, SECRET) == expected
    assert sign_params({**COMMON, **business}, SECRET, ParamDigest.MD5) == expected


def test_joined_string_of_the_stock_vector() -> None:
    assert concatenate_params({**COMMON, **STOCK}) == (
        "access_tokenpdd-token-abcclient_idpdd-client-0001data_typeJSONgoods_id300000000001"
        "quantity25sku_id800000000001timestamp1709265600typepdd.goods.quantity.updateupdate_type1"
    )


def test_json_values_are_sent_as_the_exact_signed_text() -> None:
    entries = [{"sku_id": 800000000001, "group_price": 1990, "single_price": 2290}]
    assert encode_value(entries) == PRICE["sku_price_list"]
    assert encode_params({"a": True, "b": False, "c": None, "d": "", "e": Decimal("1.50")}) == {
        "a": "true",
        "b": "false",
        "e": "1.50",
    }
    with pytest.raises(UsageError, match="float"):
        encode_value(1.5)


async def test_the_channel_signs_every_call_like_the_vectors(
    channel, fake: FakePdd, clock: FakeClock
) -> None:
    async with channel:
        await channel.carriers()
    method, fields = fake.received[-1]
    assert method == "pdd.logistics.companies.get"
    assert fields["timestamp"] == str(int(clock.now().timestamp()))
    assert fields["data_type"] == "JSON"
    assert fields["client_id"] == "fake-pdd-client-0001"
    assert fields["access_token"] == "fake-pdd-access-token-0000"
    unsigned = {k: v for k, v in fields.items() if k != "sign"}
    assert fields["sign"] == sign_fields(unsigned, "fake-pdd-client-secret-0000")
    assert "version" not in fields


def _signed(fake: FakePdd, clock: FakeClock, **changes: str) -> httpx.Request:
    fields = {
        "type": "pdd.logistics.companies.get",
        "client_id": fake.client_id,
        "access_token": next(iter(fake.access_tokens)),
        "timestamp": str(int(clock.now().timestamp())),
        "data_type": "JSON",
    }
    fields["sign"] = sign_fields(fields, fake.client_secret)
    fields.update(changes)
    return httpx.Request("POST", "http://fake/api/router", data=fields)


def test_the_fake_accepts_a_correct_signature(fake: FakePdd, clock: FakeClock) -> None:
    body = fake(_signed(fake, clock)).json()
    assert "logistics_companies_get_response" in body


def test_the_fake_rejects_a_bad_signature(fake: FakePdd, clock: FakeClock) -> None:
    body = fake(_signed(fake, clock, sign="0" * 32)).json()
    assert body["error_response"]["error_code"] == 20004


def test_the_fake_rejects_a_stale_timestamp(fake: FakePdd, clock: FakeClock) -> None:
    request = _signed(fake, clock)
    clock.advance(601)
    assert fake(request).json()["error_response"]["error_code"] == 10001


def test_the_fake_rejects_lower_case_data_type(fake: FakePdd, clock: FakeClock) -> None:
    fields = {
        "type": "pdd.logistics.companies.get",
        "client_id": fake.client_id,
        "access_token": next(iter(fake.access_tokens)),
        "timestamp": str(int(clock.now().timestamp())),
        "data_type": "json",
    }
    fields["sign"] = sign_fields(fields, fake.client_secret)
    request = httpx.Request("POST", "http://fake/api/router", data=fields)
    assert fake(request).json()["error_response"]["error_code"] == 10001


async def test_a_wrong_secret_is_an_authentication_error(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    other = FakePdd(clock=clock, client_secret="another-secret-value")
    async with make_channel(target=other) as channel:
        with pytest.raises(AuthenticationError) as caught:
            await channel.carriers()
    assert caught.value.code == "20004"
    assert caught.value.operation == "pdd.logistics.companies.get"


async def test_a_skewed_local_clock_is_refused_by_the_gateway(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    remote = FakePdd(clock=FakeClock(clock.now().replace(hour=5)))
    async with make_channel(target=remote) as channel:
        with pytest.raises(InvalidRequestError) as caught:
            await channel.carriers()
    assert caught.value.code == "10001"


@pytest.mark.parametrize("method", ["pdd.order.information.get", "pdd.pop.auth.token.refresh"])
async def test_fields_handed_over_unencoded_are_signed_like_an_encoded_body(method: str) -> None:
    clock = FakeClock()
    tokens = TokenCache(None, initial=AccessToken("pdd-token-0001"), clock=clock)
    signer = PddSigner(tokens, client_id="client-1", client_secret="secret-1", clock=clock)
    assert signer.signs_form_fields
    body = {"type": method, "order_sn": "240301-123", "note": "下架 x", "empty": ""}
    url = "https://gw-api.pinduoduo.com/api/router"

    async def signed(request: httpx.Request) -> httpx.Request:
        flow = signer.async_auth_flow(request)
        first = await flow.__anext__()
        await flow.aclose()
        return first

    encoded = await signed(httpx.Request("POST", url, data=body))
    handed = await signed(
        httpx.Request("POST", url, extensions={FORM_FIELDS_EXTENSION: dict(body)})
    )
    assert handed.content == encoded.content
    assert FORM_FIELDS_EXTENSION not in handed.extensions
    fields = dict(parse_qsl(handed.content.decode()))
    assert "empty" not in fields
    assert ("access_token" in fields) is (method == "pdd.order.information.get")
