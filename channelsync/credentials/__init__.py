"""Channel secrets: resolved from the environment, then the system keyring.

Secrets never live in the configuration file. See
:mod:`channelsync.credentials.store` for the resolution order and naming rules and
:mod:`channelsync.credentials.keyring_backend` for the keyring layout.
"""

from __future__ import annotations

from channelsync.credentials.keyring_backend import (
    KEYRING_SERVICE,
    KeyringBackend,
    keyring_username,
)
from channelsync.credentials.store import (
    ENV_PREFIX,
    ChannelCredentials,
    CredentialSource,
    CredentialStore,
    SecretBackend,
    env_var_name,
)

__all__ = [
    "ENV_PREFIX",
    "KEYRING_SERVICE",
    "ChannelCredentials",
    "CredentialSource",
    "CredentialStore",
    "KeyringBackend",
    "SecretBackend",
    "env_var_name",
    "keyring_username",
]
