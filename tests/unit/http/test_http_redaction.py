from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote_plus

import httpx
import pytest

from channelsync.channels import ChannelLimits
from channelsync.errors import ChannelError, InvalidRequestError
from channelsync.http import (
    MASK,
    ChannelHttpClient,
    HttpStatusClassifier,
    RedactingFilter,
    Redactor,
)

CANARY = "CANARY-s3cr3t-9f8e"


def test_redact_url_masks_secret_query_parameters_only():
    url = (
        "https://gw.example.test/router/rest?method=taobao.item.get&app_key=12345"
        f"&app_secret={CANARY}&Sign={CANARY}&access_token={CANARY}&num_iid=42"
    )
    out = Redactor().redact_url(url)
    assert CANARY not in out
    assert out.count(MASK) == 3
    assert "method=taobao.item.get" in out
    assert "app_key=12345" in out
    assert "num_iid=42" in out


def test_redact_url_masks_password_and_registered_values_in_path():
    redactor = Redactor()
    redactor.add_secret(CANARY)
    out = redactor.redact_url(f"https://user:{CANARY}@h.test/shops/{CANARY}/items?q=1")
    assert CANARY not in out
    assert "/shops/***/items" in out
    assert "q=1" in out


def test_redact_headers_is_case_insensitive():
    headers = httpx.Headers(
        {
            "Authorization": f"Bearer {CANARY}",
            "X-Amz-Access-Token": CANARY,
            "cookie": f"sid={CANARY}",
            "Content-Type": "application/json",
            "x-request-id": "abc",
        }
    )
    out = Redactor().redact_headers(headers)
    assert CANARY not in repr(out)
    assert out["content-type"] == "application/json"
    assert out["x-request-id"] == "abc"
    assert out["authorization"] == MASK
    assert Redactor().redact_headers({"Session-Key": CANARY}) == {"Session-Key": MASK}


def test_redact_mapping_is_deep_and_leaves_the_input_alone():
    data = {
        "shop": "flagship",
        "auth": {"ACCESS_TOKEN": CANARY, "expires_in": 3600},
        "users": [{"password": CANARY, "name": "ops"}, "plain"],
        "refresh-token": CANARY,
    }
    out = Redactor().redact_mapping(data)
    assert CANARY not in json.dumps(out)
    assert out["shop"] == "flagship"
    assert out["auth"] == {"ACCESS_TOKEN": MASK, "expires_in": 3600}
    assert out["users"] == [{"password": MASK, "name": "ops"}, "plain"]
    assert data["auth"]["ACCESS_TOKEN"] == CANARY


def test_redact_body_form_json_and_text():
    redactor = Redactor()
    form = f"method=jingdong.ware.read&sign={CANARY}&360buy_param_json=%7B%7D".encode()
    out = redactor.redact_body(form, "application/x-www-form-urlencoded; charset=utf-8")
    assert CANARY not in out
    assert "method=jingdong.ware.read" in out
    assert "sign=***" in out

    body = json.dumps({"data": {"client_secret": CANARY, "sku": "A-1"}}).encode()
    out = redactor.redact_body(body, "application/json")
    assert CANARY not in out
    assert json.loads(out) == {"data": {"client_secret": MASK, "sku": "A-1"}}

    # Unknown types and broken JSON fall back to value scrubbing.
    redactor.add_secret(CANARY)
    assert redactor.redact_body(f"token is {CANARY}".encode(), "text/plain") == "token is ***"
    assert CANARY not in redactor.redact_body(f'{{"x": "{CANARY}"'.encode(), "application/json")
    assert redactor.redact_body(b"", "application/json") == ""


def test_add_secret_masks_free_text_including_url_encoded_spellings():
    secret = "p+q/r=s t&u"
    redactor = Redactor()
    redactor.add_secret(secret)
    text = f"raw {secret} plus {quote_plus(secret)} end"
    assert redactor.redact_text(text) == "raw *** plus *** end"


def test_longer_secret_containing_a_shorter_one_is_masked_whole():
    redactor = Redactor()
    redactor.add_secret("abcd")
    redactor.add_secret("abcdefgh")
    assert redactor.redact_text("x abcdefgh y") == "x *** y"


def test_very_short_and_empty_secrets_are_ignored():
    redactor = Redactor()
    redactor.add_secret("")
    redactor.add_secret(None)
    redactor.add_secret("1")
    assert redactor.redact_text("order 1 shipped") == "order 1 shipped"


def test_keys_are_extendable_and_defaults_optional():
    redactor = Redactor(["shop_pin"])
    redactor.add_key("X-Partner-Key")
    assert redactor.is_secret_key("SHOP-PIN")
    assert redactor.is_secret_key("x_partner_key")
    assert redactor.is_secret_key("app_secret")
    bare = Redactor(["only_this"], include_defaults=False)
    assert not bare.is_secret_key("app_secret")
    assert bare.is_secret_key("only_this")


def test_repr_never_shows_secrets():
    redactor = Redactor()
    redactor.add_secret(CANARY)
    assert CANARY not in repr(redactor)
    assert CANARY not in str(redactor)


def test_redacting_filter_scrubs_message_args_and_exception_text():
    redactor = Redactor()
    redactor.add_secret(CANARY)
    records: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("test.redaction.filter")
    logger.propagate = False
    handler = ListHandler()
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    try:
        logger.warning("calling with %s and %r", CANARY, {"k": CANARY})
        try:
            raise RuntimeError(f"failed with {CANARY}")
        except RuntimeError:
            logger.exception("oops")
        logger.warning("bad format %d", "x")  # must not break logging
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert len(records) == 3
    assert all(CANARY not in r for r in records)
    assert "calling with *** and {'k': '***'}" in records[0]
    assert "RuntimeError: failed with ***" in records[1]


class EchoingClassifier(HttpStatusClassifier):
    """Quotes the marketplace's message, as envelope classifiers do."""

    def classify(self, response, operation):
        if response.status_code == 400:
            return InvalidRequestError(
                f"marketplace said: {response.json()['msg']}", operation=operation, code="40"
            )
        return super().classify(response, operation)


def test_canary_never_leaks_through_the_client(make_client, caplog):
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(400, json={"msg": f"bad app_secret {CANARY}"})

    redactor = Redactor()
    redactor.add_secret(CANARY)

    async def main():
        async with make_client(
            handler,
            redactor=redactor,
            classifier=EchoingClassifier(),
            headers={"Authorization": f"Bearer {CANARY}"},
        ) as http:
            await http.request(
                "POST",
                "/router",
                operation="taobao.item.update",
                params={"method": "taobao.item.update", "app_secret": CANARY},
                data={"sign": CANARY, "num_iid": "42"},
                headers={"x-amz-access-token": CANARY},
            )

    async def main_json():
        async with make_client(handler, redactor=Redactor()) as http:
            await http.request(
                "POST", "/json", operation="json.op", json={"outer": {"access_token": CANARY}}
            )

    caplog.set_level(logging.DEBUG, logger="channelsync.http")
    with pytest.raises(ChannelError) as first:
        asyncio.run(main())
    with pytest.raises(ChannelError) as second:
        asyncio.run(main_json())

    # The canary really was sent, so the test would catch a leak.
    assert CANARY in str(seen[0].url)
    assert CANARY.encode() in seen[0].content
    assert seen[0].headers["x-amz-access-token"] == CANARY
    assert CANARY.encode() in seen[1].content

    for error in (first.value, second.value):
        assert CANARY not in str(error)
        assert CANARY not in repr(error)
        assert all(CANARY not in str(arg) for arg in error.args)
    assert "marketplace said: bad app_secret ***" in str(first.value)

    assert caplog.records, "expected the transport to log"
    for record in caplog.records:
        assert CANARY not in record.getMessage()
    assert CANARY not in caplog.text
    # Non-secret fields stay readable.
    assert "method=taobao.item.update" in caplog.text
    assert "num_iid=42" in caplog.text
    assert '"access_token": "***"' in caplog.text


def test_redact_url_leaves_clean_urls_untouched_and_masks_unregistered_passwords():
    redactor = Redactor()
    clean = "https://h.test/a%20b?q=x%2By&empty=&n=1"
    assert redactor.redact_url(clean) == clean
    assert redactor.redact_url(httpx.URL(clean)) == clean
    assert redactor.redact_url("https://bob:hunter2@h.test/") == "https://bob:***@h.test/"


async def test_httpx_request_lines_are_scrubbed_while_a_client_lives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redactor = Redactor()
    redactor.add_secret("query-secret-value")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    caplog.set_level(logging.INFO, logger="httpx")
    async with ChannelHttpClient(
        "shop", "https://gw.example", limits=ChannelLimits(), redactor=redactor, transport=transport
    ) as client:
        await client.request("GET", "/token?secret=query-secret-value", operation="token")
    assert "HTTP Request" in caplog.text
    assert "query-secret-value" not in caplog.text
    assert not logging.getLogger("httpx").filters
