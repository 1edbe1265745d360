from __future__ import annotations

import pytest
from channelsync_amazon import AmazonChannel, AmazonSettings
from pydantic import ValidationError

from channelsync.channels import Capability, Operation
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.plugins import build_plugin_manager


def _settings(**extra: object) -> AmazonSettings:
    values: dict[str, object] = {
        "region": "eu",
        "marketplace_ids": ["A1PA6795UKMFR9"],
        "seller_id": "S1",
        "lwa_client_id": "amzn1.application-oa2-client.x",
    }
    return AmazonSettings.model_validate(values | extra)


def test_discovered_through_the_channelsync_entry_point() -> None:
    assert build_plugin_manager().registry.get("amazon") is AmazonChannel


def test_the_region_picks_the_endpoint_unless_base_url_overrides_it() -> None:
    store = CredentialStore(backend=MemorySecretBackend(), environ={})
    channel = AmazonChannel("az", _settings(), store.for_channel("az"))
    assert channel.base_url == "https://sellingpartnerapi-eu.amazon.com"
    sandbox = AmazonChannel(
        "az",
        _settings(base_url="https://sandbox.sellingpartnerapi-eu.amazon.com"),
        store.for_channel("az"),
    )
    assert sandbox.base_url == "https://sandbox.sellingpartnerapi-eu.amazon.com"


def test_settings_validate_region_fulfillment_and_marketplaces() -> None:
    assert _settings().fulfillment == "MFN"
    with pytest.raises(ValidationError, match="region"):
        _settings(region="us")
    with pytest.raises(ValidationError, match="fulfillment"):
        _settings(fulfillment="FBA")
    with pytest.raises(ValidationError, match="marketplace_ids"):
        _settings(marketplace_ids=[])


def test_capabilities_and_limits_are_declared() -> None:
    assert AmazonChannel.capabilities() == {
        Capability.LISTINGS,
        Capability.INVENTORY,
        Capability.PRICING,
        Capability.ORDERS,
        Capability.SHIPMENTS,
        Capability.EVENTS,
    }
    limits = AmazonChannel.limits
    assert limits.batch_size(Operation.SET_STOCK) == 25_000
    assert limits.feed_threshold == 20
    assert limits.rate_limit("getOrders").rate == 0.0167
    assert limits.rate_limit("getOrders").burst == 20
    assert limits.rate_limit("patchListingsItem").burst == 5
    assert limits.order_window.lag.total_seconds() >= 120
    assert not limits.stock_delta
    assert set(AmazonChannel.capability_notes) == AmazonChannel.capabilities()


def test_token_url_must_be_a_url_or_a_path() -> None:
    with pytest.raises(ValidationError, match="token_url"):
        _settings(token_url="api.amazon.com/auth/o2/token")
    assert _settings(token_url="/auth/o2/token").token_url == "/auth/o2/token"
