from __future__ import annotations

from datetime import timedelta

import pytest
from channelsync_jd import JdChannel, JdSettings
from pydantic import ValidationError

from channelsync.channels import Capability, ListingScope, Operation
from channelsync.plugins import build_plugin_manager


def test_discovered_through_the_channelsync_entry_point() -> None:
    host = build_plugin_manager()
    assert host.registry.get("jd") is JdChannel


def test_declares_its_credentials_capabilities_and_limits() -> None:
    assert JdChannel.capabilities() == {
        Capability.LISTINGS,
        Capability.INVENTORY,
        Capability.PRICING,
        Capability.ORDERS,
        Capability.SHIPMENTS,
    }
    assert JdChannel.all_credential_fields() == ("app_secret", "access_token", "refresh_token")
    limits = JdChannel.limits
    assert limits.listing_scope is ListingScope.ITEM
    assert limits.stock_delta is False
    assert limits.batch_size(Operation.SET_STOCK) == 1
    assert limits.batch_size(Operation.SET_PRICE) == 1
    assert limits.batch_size(Operation.SET_LISTING_STATUS) == 1
    assert limits.batch_size(Operation.PULL_ORDERS) == 100
    assert limits.order_window.max_span == timedelta(days=28)
    assert set(JdChannel.capability_notes) == JdChannel.capabilities()


def test_settings_need_an_app_key() -> None:
    with pytest.raises(ValidationError, match="app_key"):
        JdSettings()  # type: ignore[call-arg]
    assert JdSettings(app_key="K", sign_method="hmacsha256").sign_method == "hmacsha256"
