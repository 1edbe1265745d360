from __future__ import annotations

import pytest
from channelsync_jd import JdChannel, JdSettings
from pydantic import ValidationError

from channelsync.plugins import build_plugin_manager


def test_discovered_through_the_channelsync_entry_point() -> None:
    host = build_plugin_manager()
    assert host.registry.get("jd") is JdChannel


def test_declares_its_credentials_and_no_capabilities_yet() -> None:
    assert JdChannel.capabilities() == frozenset()
    assert JdChannel.all_credential_fields() == ("app_secret", "access_token", "refresh_token")


def test_settings_need_an_app_key() -> None:
    with pytest.raises(ValidationError, match="app_key"):
        JdSettings()  # type: ignore[call-arg]
    assert JdSettings(app_key="K", sign_method="hmacsha256").sign_method == "hmacsha256"
