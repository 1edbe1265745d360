"""The fake refuses what Amazon refuses, serves on loopback, and the contract bites."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import httpx
import pytest
from channelsync_amazon import AmazonChannel, AmazonSettings
from channelsync_amazon.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeSellingPartner, demo_fake

from channelsync.channels import PullCursor
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend

ORDERS = "https://sellingpartnerapi-na.amazon.com/orders/v0/orders"
SEARCH = "https://sellingpartnerapi-na.amazon.com/listings/2021-08-01/items/A1FAKESELLER00"


def _token(client: httpx.Client) -> str:
    answer = client.post(
        "https://api.amazon.com/auth/o2/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": DEMO_CREDENTIALS["refresh_token"],
            "client_id": DEMO_SETTINGS["lwa_client_id"],
            "client_secret": DEMO_CREDENTIALS["lwa_client_secret"],
        },
    )
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 3600
    return str(answer.json()["access_token"])


@pytest.fixture
def client(wire) -> httpx.Client:
    return httpx.Client(transport=wire)


def test_lwa_accepts_json_and_form_bodies(client: httpx.Client) -> None:
    assert _token(client).startswith("Atza|")
    form = client.post(
        "https://api.amazon.com/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "Atzr|unknown",
            "client_id": DEMO_SETTINGS["lwa_client_id"],
            "client_secret": DEMO_CREDENTIALS["lwa_client_secret"],
        },
    )
    assert form.status_code == 400
    assert form.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("token", [None, "Atza|forged"])
def test_missing_or_unknown_token_is_refused(client: httpx.Client, token: str | None) -> None:
    headers = {} if token is None else {"x-amz-access-token": token}
    if token is None:
        # the contract itself refuses an SP-API call without a token
        with pytest.raises(AssertionError, match="without x-amz-access-token"):
            client.get(SEARCH, params={"marketplaceIds": "ATVPDKIKX0DER"}, headers=headers)
        return
    answer = client.get(SEARCH, params={"marketplaceIds": "ATVPDKIKX0DER"}, headers=headers)
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["code"] == "Unauthorized"
    assert "x-amzn-RateLimit-Limit" not in answer.headers


def test_stale_token_is_refused(
    client: httpx.Client, fake: FakeSellingPartner, clock: FakeClock
) -> None:
    token = _token(client)
    params = {"marketplaceIds": "ATVPDKIKX0DER"}
    ok = client.get(SEARCH, params=params, headers={"x-amz-access-token": token})
    assert ok.status_code == 200
    assert ok.headers["x-amzn-RateLimit-Limit"] == "5"
    clock.advance(3601)
    stale = client.get(SEARCH, params=params, headers={"x-amz-access-token": token})
    assert stale.status_code == 403


def test_before_bound_must_be_two_minutes_old(client: httpx.Client, clock: FakeClock) -> None:
    token = _token(client)
    now = clock.now()
    answer = client.get(
        ORDERS,
        params={
            "MarketplaceIds": "ATVPDKIKX0DER",
            "LastUpdatedAfter": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "LastUpdatedBefore": (now - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        headers={"x-amz-access-token": token},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "InvalidInput"
    both = client.get(
        ORDERS,
        params={
            "MarketplaceIds": "ATVPDKIKX0DER",
            "LastUpdatedAfter": "2024-03-01T00:00:00Z",
            "CreatedAfter": "2024-03-01T00:00:00Z",
        },
        headers={"x-amz-access-token": token},
    )
    assert both.status_code == 400


def test_page_size_limits(client: httpx.Client) -> None:
    token = _token(client)
    with pytest.raises(AssertionError, match="pageSize"):
        client.get(
            SEARCH,
            params={"marketplaceIds": "ATVPDKIKX0DER", "pageSize": "21"},
            headers={"x-amz-access-token": token},
        )


def test_the_contract_refuses_undeclared_parameters_and_bad_bodies(client: httpx.Client) -> None:
    token = _token(client)
    headers = {"x-amz-access-token": token}
    with pytest.raises(AssertionError, match="undeclared query parameter"):
        client.get(ORDERS, params={"MarketplaceIds": "X", "Since": "now"}, headers=headers)
    with pytest.raises(AssertionError, match="patchListingsItem request"):
        client.patch(
            f"{SEARCH}/CS-0001-1",
            params={"marketplaceIds": "ATVPDKIKX0DER"},
            json={"productType": "PRODUCT", "patches": [{"op": "move", "path": "/x"}]},
            headers=headers,
        )
    with pytest.raises(AssertionError, match="feed document breaks the schema"):
        client.put(
            "https://tortuga.example/s3/feed-documents/x",
            content=json.dumps({"header": {"sellerId": "S", "version": "1.0"}, "messages": []}),
        )


def test_s3_refuses_an_access_token_and_a_wrong_signature(fake: FakeSellingPartner) -> None:
    document = fake.new_document("application/json; charset=UTF-8")
    url = fake.document_url(document, upload=True)
    raw = httpx.Client(transport=fake.transport())
    headers = {"Content-Type": "application/json; charset=UTF-8"}
    body = b'{"header":{"sellerId":"A1FAKESELLER00","version":"2.0"},"messages":[]}'
    tampered = url.replace(document.signature, "0" * 64)
    assert raw.put(tampered, content=body, headers=headers).status_code == 403
    with_token = raw.put(url, content=body, headers={**headers, "x-amz-access-token": "Atza|t"})
    assert with_token.status_code == 403
    wrong_type = raw.put(url, content=body, headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 403
    assert raw.put(url, content=body, headers=headers).status_code == 200


def test_gzip_processing_report_matches_the_schema(contract) -> None:
    example = contract.report_schema.schema
    assert example["required"] == ["header", "issues", "summary"]
    report = {
        "header": {"sellerId": "S", "version": "2.0", "feedId": "1"},
        "issues": [],
        "summary": {
            "errors": 0,
            "warnings": 0,
            "messagesProcessed": 1,
            "messagesAccepted": 1,
            "messagesInvalid": 0,
        },
    }
    assert gzip.decompress(gzip.compress(json.dumps(report).encode()))
    assert not list(contract.report_schema.iter_errors(report))


async def test_the_fake_on_loopback_answers_a_real_call() -> None:
    clock = FakeClock()
    fake = demo_fake(clock=clock)
    fake.generate_orders(2)
    clock.advance(600)
    store = CredentialStore(
        backend=MemorySecretBackend({("az", k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    with fake.serve() as server:
        settings = AmazonSettings.model_validate({**DEMO_SETTINGS, "base_url": server.url})
        async with AmazonChannel("az", settings, store.for_channel("az"), clock=clock) as channel:
            pull = await channel.pull_orders(
                PullCursor.starting_at(clock.now() - timedelta(hours=1))
            )
            listings = [listing async for listing in channel.iter_listings()]
    assert len(pull.orders) == 2
    assert len(listings) == 16
    assert fake.calls["lwaToken"] == 1
