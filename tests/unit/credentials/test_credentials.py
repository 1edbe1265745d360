from __future__ import annotations

import logging
from pathlib import Path

import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest
from pydantic import SecretStr

from channelsync.credentials import (
    ChannelCredentials,
    CredentialSource,
    CredentialStore,
    KeyringBackend,
    env_var_name,
)
from channelsync.credentials.memory import InMemoryKeyring, MemorySecretBackend
from channelsync.errors import CredentialError, KeyringUnavailableError, MissingCredentialError

CANARY = "s3cr3t-CANARY-value"


@pytest.fixture
def system_keyring(monkeypatch: pytest.MonkeyPatch) -> InMemoryKeyring:
    """Install an in-memory keyring as the process keyring; the previous one comes back after."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
    backend = InMemoryKeyring()
    keyring.set_keyring(backend)
    return backend


class BrokenKeyring(keyring.backend.KeyringBackend):
    priority = -20.0

    def __init__(self, error: Exception) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("channel", "field", "expected"),
    [
        ("tmall-main", "app_secret", "CHANNELSYNC_TMALL_MAIN_APP_SECRET"),
        ("shop", "session", "CHANNELSYNC_SHOP_SESSION"),
        ("jd.eu", "refresh-token", "CHANNELSYNC_JD_EU_REFRESH_TOKEN"),
        ("Amazon_DE", "lwa_client_secret", "CHANNELSYNC_AMAZON_DE_LWA_CLIENT_SECRET"),
    ],
)
def test_env_var_name(channel: str, field: str, expected: str) -> None:
    assert env_var_name(channel, field) == expected


def test_environment_wins_over_keyring() -> None:
    backend = MemorySecretBackend({("shop", "app_secret"): "from-keyring"})
    environ = {"CHANNELSYNC_SHOP_APP_SECRET": "from-env"}
    store = CredentialStore(backend=backend, environ=environ)

    value = store.get("shop", "app_secret")

    assert isinstance(value, SecretStr)
    assert value.get_secret_value() == "from-env"
    assert store.source("shop", "app_secret") is CredentialSource.ENV


def test_keyring_used_when_environment_unset_or_empty() -> None:
    backend = MemorySecretBackend({("shop", "app_secret"): "from-keyring"})
    store = CredentialStore(backend=backend, environ={"CHANNELSYNC_SHOP_APP_SECRET": ""})

    value = store.get("shop", "app_secret")

    assert value is not None
    assert value.get_secret_value() == "from-keyring"
    assert store.source("shop", "app_secret") is CredentialSource.KEYRING


def test_environment_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    store = CredentialStore(backend=MemorySecretBackend())
    assert store.get("late", "token") is None

    monkeypatch.setenv("CHANNELSYNC_LATE_TOKEN", "exported-later")

    value = store.get("late", "token")
    assert value is not None
    assert value.get_secret_value() == "exported-later"


def test_status_reports_each_field() -> None:
    store = CredentialStore(
        backend=MemorySecretBackend({("shop", "session"): "k"}),
        environ={"CHANNELSYNC_SHOP_APP_SECRET": "e"},
    )

    status = store.status("shop", ["app_secret", "session", "refresh_token"])

    assert status == {
        "app_secret": CredentialSource.ENV,
        "session": CredentialSource.KEYRING,
        "refresh_token": None,
    }


def test_missing_credential_message_names_both_ways_to_set_it() -> None:
    store = CredentialStore(backend=MemorySecretBackend(), environ={})

    with pytest.raises(MissingCredentialError) as caught:
        store.require("tmall-main", "app_secret")

    message = str(caught.value)
    assert "'tmall-main'" in message
    assert "'app_secret'" in message
    assert "channelsync credentials set tmall-main app_secret" in message
    assert "CHANNELSYNC_TMALL_MAIN_APP_SECRET" in message
    assert caught.value.env_var == "CHANNELSYNC_TMALL_MAIN_APP_SECRET"


def test_set_and_delete_go_to_the_backend() -> None:
    backend = MemorySecretBackend()
    store = CredentialStore(backend=backend, environ={})

    store.set("shop", "session", "abc")
    assert backend.secrets == {("shop", "session"): "abc"}
    assert store.delete("shop", "session") is True
    assert store.delete("shop", "session") is False
    assert store.get("shop", "session") is None


def test_empty_value_is_refused() -> None:
    store = CredentialStore(backend=MemorySecretBackend(), environ={})

    with pytest.raises(CredentialError, match="empty value"):
        store.set("shop", "session", "")


@pytest.mark.parametrize(("channel", "field"), [("", "x"), ("a/b", "x"), ("shop", "")])
def test_invalid_names_are_refused(channel: str, field: str) -> None:
    store = CredentialStore(backend=MemorySecretBackend(), environ={})

    with pytest.raises(CredentialError, match="invalid credential"):
        store.get(channel, field)


def test_default_backend_is_the_system_keyring(system_keyring: InMemoryKeyring) -> None:
    store = CredentialStore(environ={})

    store.set("tmall-main", "app_secret", "v1")

    assert system_keyring.passwords == {("channelsync", "tmall-main/app_secret"): "v1"}
    assert store.source("tmall-main", "app_secret") is CredentialSource.KEYRING
    assert store.delete("tmall-main", "app_secret") is True
    assert system_keyring.passwords == {}


def test_keyring_backend_uses_an_explicit_keyring() -> None:
    explicit = InMemoryKeyring()
    backend = KeyringBackend(explicit)

    backend.set("shop", "token", "t")

    assert explicit.passwords == {("channelsync", "shop/token"): "t"}
    assert backend.get("shop", "token") == "t"
    assert backend.delete("shop", "token") is True
    assert backend.delete("shop", "token") is False


@pytest.mark.parametrize(
    "error",
    [keyring.errors.NoKeyringError("No recommended backend"), keyring.errors.KeyringLocked()],
)
def test_unavailable_keyring_becomes_credential_error(error: Exception) -> None:
    store = CredentialStore(backend=KeyringBackend(BrokenKeyring(error)), environ={})

    with pytest.raises(CredentialError) as caught:
        store.get("shop", "app_secret")

    message = str(caught.value)
    assert "keyring is unavailable" in message
    assert "CHANNELSYNC_SHOP_APP_SECRET" in message


def test_unavailable_keyring_is_not_asked_when_environment_is_set() -> None:
    broken = KeyringBackend(BrokenKeyring(keyring.errors.NoKeyringError("none")))
    store = CredentialStore(backend=broken, environ={"CHANNELSYNC_SHOP_APP_SECRET": "e"})

    assert store.source("shop", "app_secret") is CredentialSource.ENV


def test_failed_store_never_echoes_the_value() -> None:
    error = keyring.errors.PasswordSetError(f"could not store {CANARY}")
    store = CredentialStore(backend=KeyringBackend(BrokenKeyring(error)), environ={})

    with pytest.raises(CredentialError) as caught:
        store.set("shop", "app_secret", CANARY)

    assert CANARY not in str(caught.value)
    assert "CHANNELSYNC_SHOP_APP_SECRET" in str(caught.value)


def test_channel_view_returns_plain_strings_and_tracks_fields() -> None:
    backend = MemorySecretBackend({("shop", "app_secret"): "sec", ("shop", "session"): "ses"})
    store = CredentialStore(backend=backend, environ={})
    view = store.for_channel("shop")

    assert view.channel == "shop"
    assert view.values() == []
    assert view.require("app_secret") == "sec"
    assert view.get("refresh_token") is None
    assert view.values() == ["sec"]
    assert view.fields == ("app_secret", "refresh_token")


def test_channel_view_declared_fields_are_in_values() -> None:
    backend = MemorySecretBackend({("shop", "app_secret"): "sec", ("shop", "session"): "ses"})
    view = CredentialStore(backend=backend, environ={}).for_channel(
        "shop", ("app_secret", "session", "refresh_token")
    )

    assert sorted(view.values()) == ["sec", "ses"]


def test_channel_view_set_stores_and_is_seen_at_once() -> None:
    backend = MemorySecretBackend({("shop", "session"): "old"})
    view = ChannelCredentials(CredentialStore(backend=backend, environ={}), "shop")
    assert view.require("session") == "old"

    view.set("session", "new")

    assert view.require("session") == "new"
    assert backend.secrets[("shop", "session")] == "new"
    assert view.values() == ["new"]


def test_channel_view_set_warns_when_the_environment_pins_the_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = MemorySecretBackend()
    environ = {env_var_name("shop", "session"): "old-" + CANARY}
    view = ChannelCredentials(CredentialStore(backend=backend, environ=environ), "shop")
    assert view.require("session") == "old-" + CANARY

    view.set("session", "new-" + CANARY)

    assert view.require("session") == "new-" + CANARY
    assert "CHANNELSYNC_SHOP_SESSION" in caplog.text
    assert "unset it" in caplog.text
    assert CANARY not in caplog.text


def test_channel_view_set_is_quiet_without_an_environment_pin(
    caplog: pytest.LogCaptureFixture,
) -> None:
    view = ChannelCredentials(CredentialStore(backend=MemorySecretBackend(), environ={}), "shop")
    view.set("session", "new")
    assert caplog.text == ""


def test_channel_view_reload_resolves_again() -> None:
    backend = MemorySecretBackend({("shop", "session"): "old"})
    view = ChannelCredentials(CredentialStore(backend=backend, environ={}), "shop")
    assert view.require("session") == "old"
    backend.secrets[("shop", "session")] = "rotated"

    assert view.require("session") == "old"
    view.reload()
    assert view.require("session") == "rotated"


def test_channel_view_missing_credential() -> None:
    view = CredentialStore(backend=MemorySecretBackend(), environ={}).for_channel("shop")

    with pytest.raises(MissingCredentialError, match="CHANNELSYNC_SHOP_APP_SECRET"):
        view.require("app_secret")


def test_reprs_never_show_values() -> None:
    backend = MemorySecretBackend({("shop", "app_secret"): CANARY})
    store = CredentialStore(backend=backend, environ={})
    view = store.for_channel("shop")
    secret = store.require("shop", "app_secret")
    view.require("app_secret")

    assert repr(view) == "<ChannelCredentials channel='shop'>"
    assert str(view) == repr(view)
    for text in (repr(view), repr(store), repr(backend), repr(secret), str(secret)):
        assert CANARY not in text


def test_in_memory_keyring_is_never_auto_detected() -> None:
    assert InMemoryKeyring.priority < 0
    assert InMemoryKeyring(priority=5).priority == 5
    with pytest.raises(keyring.errors.PasswordDeleteError):
        InMemoryKeyring().delete_password("channelsync", "nobody/x")


def test_a_server_without_a_keyring_runs_on_environment_variables(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = KeyringBackend(BrokenKeyring(keyring.errors.NoKeyringError("no backend")))
    environ = {"CHANNELSYNC_JD_POP_APP_SECRET": "s3cr3t-from-env"}
    view = CredentialStore(backend=broken, environ=environ).for_channel("jd-pop")

    assert view.require("app_secret") == "s3cr3t-from-env"
    # An optional field set nowhere is simply unset, not an error.
    assert view.get("access_token_expires_at") is None
    # A required one explains that the keyring could not be asked, naming the variable.
    with pytest.raises(KeyringUnavailableError, match="CHANNELSYNC_JD_POP_ACCESS_TOKEN"):
        view.require("access_token")

    # A refreshed token is used from memory, with a warning that it will not survive.
    with caplog.at_level(logging.WARNING):
        view.set("access_token", "new-token-value")
    assert view.require("access_token") == "new-token-value"
    assert "no keyring to save the new access_token" in caplog.text
    assert "new-token-value" not in caplog.text


def test_a_systemd_credentials_file_is_read_after_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "CHANNELSYNC_TMALL_MAIN_APP_SECRET"
    secret.write_text("from-file\n", encoding="utf-8")
    secret.chmod(0o400)
    backend = MemorySecretBackend({("tmall-main", "app_secret"): "from-keyring"})
    store = CredentialStore(backend=backend, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    found = store.get("tmall-main", "app_secret")
    assert found is not None
    assert found.get_secret_value() == "from-file"
    assert store.source("tmall-main", "app_secret") is CredentialSource.FILE
    # The environment still wins; a field without a file falls through to the keyring.
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "CHANNELSYNC_TMALL_MAIN_APP_SECRET": "env"}
    assert (
        CredentialStore(backend=backend, environ=env).source("tmall-main", "app_secret")
        is CredentialSource.ENV
    )
    assert store.get("tmall-main", "session") is None


def test_a_credentials_file_others_may_read_is_refused_by_name(tmp_path: Path) -> None:
    secret = tmp_path / "CHANNELSYNC_TMALL_MAIN_APP_SECRET"
    secret.write_text("CANARY-file-secret", encoding="utf-8")
    secret.chmod(0o644)
    store = CredentialStore(
        backend=MemorySecretBackend({}), environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}
    )
    with pytest.raises(CredentialError) as refused:
        store.get("tmall-main", "app_secret")
    message = str(refused.value)
    assert str(secret) in message
    assert "chmod 600" in message
    assert "CANARY" not in message
