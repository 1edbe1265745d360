from __future__ import annotations

import pytest
from channelsync_pinduoduo import PinduoduoChannel, PinduoduoSettings
from pydantic import ValidationError

from channelsync.channels import Capability
from channelsync.plugins import build_plugin_manager


def test_discovered_through_the_channelsync_entry_point() -> None:
    assert build_plugin_manager().registry.get("pinduoduo") is PinduoduoChannel


def test_declares_its_credentials_and_every_capability() -> None:
    assert PinduoduoChannel.capabilities() == frozenset(Capability)
    assert set(PinduoduoChannel.capability_notes) == set(Capability)
    assert PinduoduoChannel.credential_fields == ("client_secret", "access_token")


def test_settings_take_a_client_id_and_nothing_secret() -> None:
    assert PinduoduoSettings(client_id="abc").client_id == "abc"
    with pytest.raises(ValidationError, match="client_secret"):
        PinduoduoSettings(client_id="abc", client_secret="x")  # type: ignore[call-arg]
