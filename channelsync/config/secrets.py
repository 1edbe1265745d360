"""Secrets are never keys of ``channelsync.toml``: telling them by name, and refusing them.

A refusal says where the secret belongs instead (the keyring, or the channel's
environment variable) and never repeats the value.
"""

from __future__ import annotations

from channelsync.credentials import env_var_name
from channelsync.errors import ConfigurationError

__all__ = ["is_secret_name", "refuse_generic_secrets", "refuse_secret"]

_SECRET_NAMES = frozenset(
    {
        "secret",
        "app_secret",
        "client_secret",
        "lwa_client_secret",
        "password",
        "passwd",
        "token",
        "access_token",
        "refresh_token",
        "session",
        "session_key",
        "api_key",
        "private_key",
    }
)
_SECRET_SUFFIXES = ("_secret", "_token", "_password")


def is_secret_name(key: str) -> bool:
    """Return whether a setting name looks like a secret (case-insensitive).

    Matches the well-known names (``app_secret``, ``password``, ``token``,
    ``session``, ``api_key``, ``private_key`` …) and any name ending in ``_secret``,
    ``_token`` or ``_password``. Public identifiers such as ``app_key`` do not match.
    """
    name = key.strip().lower().replace("-", "_")
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def refuse_generic_secrets(key: str, value: object, channel: str, where: str) -> None:
    """Refuse a channel key named like a secret, at any depth of tables and arrays."""
    if is_secret_name(key.rsplit(".", 1)[-1]):
        refuse_secret(key, channel, where)
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            refuse_generic_secrets(f"{key}.{inner_key}", inner, channel, where)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                refuse_generic_secrets(key, item, channel, where)


def refuse_secret(key: str, channel: str, where: str) -> None:
    """Refuse a secret found in the file, saying where to store it instead."""
    leaf = key.rsplit(".", 1)[-1]
    cred_field = leaf if is_secret_name(leaf) else key.split(".", 1)[0]
    raise ConfigurationError(
        "secrets are never read from the configuration file. Remove this key and store "
        f"the value in the system keyring with `channelsync credentials set {channel} "
        f"{cred_field}`, or in the environment variable {env_var_name(channel, cred_field)}",
        path=where,
        channel=channel,
        field=key,
    )
