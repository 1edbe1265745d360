from __future__ import annotations

import pytest
from channelsync_tmall import TmallChannel, TmallSettings
from pydantic import ValidationError

from channelsync.channels import Capability
from channelsync.plugins import build_plugin_manager


def test_discovered_through_the_channelsync_entry_point() -> None:
    host = build_plugin_manager()
    assert host.registry.get("tmall") is TmallChannel
    assert host.registry.provider("tmall") == "tmall"


def test_implements_every_capability() -> None:
    assert TmallChannel.capabilities() == frozenset(Capability)
    assert set(TmallChannel.capability_notes) == set(Capability)
    assert "out of scope" in TmallChannel.capability_notes[Capability.LISTINGS]
    assert TmallChannel.credential_fields == ("app_secret", "session")
    assert TmallChannel.optional_credential_fields == ("refresh_token",)


def test_settings_default_to_md5_signing_and_the_top_gateway() -> None:
    settings = TmallSettings(app_key="12345678")
    assert settings.sign_method == "md5"
    assert TmallChannel.default_base_url == "https://gw.api.taobao.com/router/rest"


def test_settings_refuse_an_unknown_sign_method() -> None:
    with pytest.raises(ValidationError, match="sign_method"):
        TmallSettings(app_key="1", sign_method="sha1")  # type: ignore[arg-type]
