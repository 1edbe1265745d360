"""TLS hygiene: verification on by default, never turned off silently for a marketplace."""

from __future__ import annotations

import logging
import ssl
import textwrap
from pathlib import Path
from typing import Any

import certifi
import httpx
import pydantic
import pytest

from channelsync.channels import ChannelSettings
from channelsync.clock import FakeClock
from channelsync.config import load_config, resolve_channel_type, resolve_settings
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import ConfigurationError
from channelsync.http import ChannelHttpClient
from channelsync.http import tls as tls_module
from channelsync.http.client import is_loopback_url, tls_verification
from channelsync.http.tls import tls_context
from channelsync.plugins import build_plugin_manager

from .conftest import Limits


def _ssl_context(client: ChannelHttpClient) -> ssl.SSLContext:
    # httpx keeps the context on its connection pool; there is no public accessor.
    context = client._client._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert isinstance(context, ssl.SSLContext)
    return context


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "https://127.5.6.7",
        "http://localhost:9000/router",
        "http://LOCALHOST",
        "http://shop.localhost",
        "https://[::1]:8443",
    ],
)
def test_loopback_urls(url: str) -> None:
    assert is_loopback_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://gw.api.taobao.com/router/rest",
        "https://api.jd.com/routerjson",
        "https://sellingpartnerapi-na.amazon.com",
        "https://10.0.0.5",
        "https://localhost.evil.example",
        "https://127.0.0.1.nip.io",
    ],
)
def test_marketplace_and_lan_urls_are_not_loopback(url: str) -> None:
    assert not is_loopback_url(url)


async def test_verification_is_on_by_default() -> None:
    assert tls_verification("tmall-main", "https://gw.api.taobao.com") is True
    client = ChannelHttpClient("tmall-main", "https://gw.api.taobao.com", limits=Limits())
    try:
        context = _ssl_context(client)
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
    finally:
        await client.aclose()


def test_turning_it_off_for_a_loopback_fake_is_accepted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert tls_verification("fake", "https://127.0.0.1:8443", verify_tls=False) is False
    assert not caplog.records


def test_turning_it_off_for_a_marketplace_is_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        tls_verification("jd-pop", "https://api.jd.com/routerjson", verify_tls=False)
    assert raised.value.channel == "jd-pop"
    assert raised.value.field == "verify_tls"
    assert "api.jd.com" in str(raised.value)
    assert "allow_insecure_tls" in str(raised.value)


async def test_the_override_is_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="channelsync.http"):
        verify = tls_verification(
            "jd-pop", "https://api.jd.com", verify_tls=False, allow_insecure_tls=True
        )
        client = ChannelHttpClient("jd-pop", "https://api.jd.com", limits=Limits(), verify=verify)
    try:
        assert verify is False
        assert _ssl_context(client).verify_mode is ssl.CERT_NONE
    finally:
        await client.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("VERIFICATION IS OFF" in w and "api.jd.com" in w for w in warnings)
    # The client warns on its own too: a direct SDK user cannot switch it off silently.
    assert any("verification is off for channel 'jd-pop'" in w for w in warnings)


async def test_a_ca_bundle_keeps_verification_on() -> None:
    verify = tls_verification(
        "amazon-us", "https://sellingpartnerapi-na.amazon.com", ca_bundle=certifi.where()
    )
    assert isinstance(verify, ssl.SSLContext)
    assert verify.verify_mode is ssl.CERT_REQUIRED
    assert verify.get_ca_certs()


@pytest.mark.parametrize("bundle", ["missing.pem", "garbage.pem"])
def test_an_unusable_ca_bundle_is_a_configuration_error(tmp_path: Path, bundle: str) -> None:
    (tmp_path / "garbage.pem").write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        tls_verification("amazon-us", "https://x.example", ca_bundle=str(tmp_path / bundle))
    assert raised.value.field == "ca_bundle"
    assert raised.value.channel == "amazon-us"


def test_a_ca_bundle_with_verification_off_is_contradictory() -> None:
    with pytest.raises(ConfigurationError, match="contradict"):
        tls_verification("x", "https://127.0.0.1", verify_tls=False, ca_bundle=certifi.where())


def test_channel_settings_refuse_insecure_production() -> None:
    assert ChannelSettings().verify_tls is True
    with pytest.raises(pydantic.ValidationError, match="loopback"):
        ChannelSettings(verify_tls=False)
    with pytest.raises(pydantic.ValidationError, match="loopback"):
        ChannelSettings(verify_tls=False, base_url="https://gw.api.taobao.com")
    assert not ChannelSettings(verify_tls=False, base_url="http://127.0.0.1:8080").verify_tls
    assert ChannelSettings(verify_tls=False, allow_insecure_tls=True).allow_insecure_tls


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_the_config_file_names_channel_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [[channels]]
        name = "tmall-main"
        type = "tmall"
        app_key = "12345678"
        verify_tls = false
        """,
    )
    config = load_config(path)
    entry = config.channel("tmall-main")
    channel_cls = resolve_channel_type(config, entry, build_plugin_manager().registry)
    with pytest.raises(ConfigurationError) as raised:
        resolve_settings(config, entry, channel_cls)
    message = str(raised.value)
    assert str(path) in message
    assert "channel 'tmall-main'" in message
    assert "loopback" in message


async def test_a_channel_opened_past_the_settings_check_is_still_refused() -> None:
    from channelsync_tmall import TmallChannel, TmallSettings  # noqa: PLC0415

    # model_construct skips validation, as careless SDK code might.
    settings = TmallSettings.model_construct(app_key="12345678", verify_tls=False)
    backend = MemorySecretBackend({("t", "app_secret"): "s3cr3t-value", ("t", "session"): "sess-1"})
    channel = TmallChannel(
        "t",
        settings,
        CredentialStore(backend=backend, environ={}).for_channel("t"),
        clock=FakeClock(),
    )
    with pytest.raises(ConfigurationError, match="verify_tls"):
        await channel.open()
    assert not channel.is_open


# -- credentials come from the keyring or the environment only -------------------------


def _load_and_resolve(path: Path) -> None:
    config = load_config(path)
    registry = build_plugin_manager().registry
    for entry in config.channels:
        resolve_settings(config, entry, resolve_channel_type(config, entry, registry))


@pytest.mark.parametrize("key", ["app_secret", "session", "refresh_token", "access_token"])
def test_secrets_in_the_config_file_stay_refused(tmp_path: Path, key: str) -> None:
    path = _write(
        tmp_path,
        f"""
        [[channels]]
        name = "tmall-main"
        type = "tmall"
        app_key = "12345678"
        {key} = "DO-NOT-ECHO-ME-123"
        """,
    )
    with pytest.raises(ConfigurationError) as raised:
        _load_and_resolve(path)
    assert "secrets are never read" in str(raised.value)
    assert "DO-NOT-ECHO-ME-123" not in str(raised.value)


@pytest.mark.parametrize("table", ["engine", "daemon", "store"])
def test_a_secret_in_another_table_is_not_echoed(tmp_path: Path, table: str) -> None:
    path = _write(
        tmp_path,
        f"""
        [{table}]
        api_token = "DO-NOT-ECHO-ME-456"
        """,
    )
    with pytest.raises(ConfigurationError) as raised:
        load_config(path)
    assert "DO-NOT-ECHO-ME-456" not in str(raised.value)


async def test_clients_of_one_process_share_one_context_per_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building a context reads the whole trust store: once per process, not per client."""
    built: list[object] = []
    real = httpx.create_ssl_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(kwargs.get("verify", args[0] if args else True))
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    tls_module._shared_context.cache_clear()
    try:
        on = [
            ChannelHttpClient(f"shop-{i}", "https://gw.api.taobao.com", limits=Limits())
            for i in range(20)
        ]
        off = [
            ChannelHttpClient(f"fake-{i}", "http://127.0.0.1:9", limits=Limits(), verify=False)
            for i in range(5)
        ]
        contexts = {id(_ssl_context(client)) for client in on}
        assert len(contexts) == 1
        assert _ssl_context(on[0]).verify_mode is ssl.CERT_REQUIRED
        assert {id(_ssl_context(client)) for client in off} == {id(_ssl_context(off[0]))}
        assert _ssl_context(off[0]).verify_mode is ssl.CERT_NONE
        assert built == [True, False]  # 25 clients, two contexts
        for client in on + off:
            await client.aclose()
    finally:
        tls_module._shared_context.cache_clear()


def test_channels_of_one_ca_bundle_share_its_context() -> None:
    first = tls_verification("a", "https://x.example", ca_bundle=certifi.where())
    second = tls_verification("b", "https://y.example", ca_bundle=certifi.where())
    assert first is second
    assert isinstance(first, ssl.SSLContext)
    assert tls_context(first) is first
