"""The system keyring as a :class:`~channelsync.credentials.store.SecretBackend`.

Every secret is one keyring entry under the service name ``"channelsync"`` with the
user name ``"<channel>/<field>"``, for example service ``channelsync``, user
``tmall-main/app_secret``. Channel and field names never contain ``/``, so the user
name identifies the pair. Any tool that reads the keyring (``keyring get channelsync
tmall-main/app_secret``, the macOS Keychain, Secret Service browsers) sees the same
entries.
"""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors

from channelsync.credentials.store import env_var_name
from channelsync.errors import KeyringUnavailableError

__all__ = ["KEYRING_SERVICE", "KeyringBackend", "keyring_username"]

#: The keyring service name every channelsync secret is stored under.
KEYRING_SERVICE = "channelsync"

# Errors a keyring backend raises when it cannot be used at all or for this call.
_KEYRING_ERRORS = (keyring.errors.KeyringError, OSError)


def keyring_username(channel: str, field: str) -> str:
    """Return the keyring user name of a secret: ``"<channel>/<field>"``."""
    return f"{channel}/{field}"


class KeyringBackend:
    """Secrets in the system keyring, one entry per channel and field.

    ``backend`` selects a specific :class:`keyring.backend.KeyringBackend`; by default
    the one ``keyring`` is configured with at call time (:func:`keyring.get_keyring`)
    is used, so ``keyring.set_keyring`` in a test takes effect.

    Failures of the keyring (no backend installed, a locked or unreachable keyring) are
    raised as :class:`~channelsync.errors.CredentialError` naming the environment
    variable to use instead. Messages never contain the secret value.
    """

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._keyring = backend

    def _backend(self) -> keyring.backend.KeyringBackend:
        return self._keyring if self._keyring is not None else keyring.get_keyring()

    def _error(
        self, action: str, channel: str, field: str, exc: Exception, value: str | None = None
    ) -> KeyringUnavailableError:
        detail = str(exc)
        if value:
            detail = detail.replace(value, "***")
        return KeyringUnavailableError(
            f"the system keyring is unavailable, so credential {field!r} of channel "
            f"{channel!r} could not be {action} ({type(exc).__name__}: {detail}). "
            f"Set the environment variable {env_var_name(channel, field)} instead, or "
            "configure a keyring backend (see `keyring --list-backends`)."
        )

    def get(self, channel: str, field: str) -> str | None:
        """Return the stored value, or ``None`` when the keyring has no entry."""
        try:
            return self._backend().get_password(KEYRING_SERVICE, keyring_username(channel, field))
        except _KEYRING_ERRORS as exc:
            raise self._error("read", channel, field, exc) from None

    def set(self, channel: str, field: str, value: str) -> None:
        """Store ``value`` in the keyring, replacing any previous entry."""
        try:
            self._backend().set_password(KEYRING_SERVICE, keyring_username(channel, field), value)
        except _KEYRING_ERRORS as exc:
            raise self._error("stored", channel, field, exc, value) from None

    def delete(self, channel: str, field: str) -> bool:
        """Delete the entry; return ``False`` when there was none."""
        username = keyring_username(channel, field)
        try:
            backend = self._backend()
            if backend.get_password(KEYRING_SERVICE, username) is None:
                return False
            backend.delete_password(KEYRING_SERVICE, username)
        except _KEYRING_ERRORS as exc:
            raise self._error("deleted", channel, field, exc) from None
        return True

    def __repr__(self) -> str:
        which = "default" if self._keyring is None else type(self._keyring).__name__
        return f"<{type(self).__name__} service={KEYRING_SERVICE!r} keyring={which}>"
