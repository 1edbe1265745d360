"""In-memory secret storage for tests: a keyring backend and a plain secret backend.

Neither survives the process, and neither is ever picked by ``keyring``'s automatic
backend detection: :class:`InMemoryKeyring` has a negative priority unless one is
given, so it is only used when installed on purpose with ``keyring.set_keyring``.
"""

from __future__ import annotations

import keyring.backend
import keyring.errors

__all__ = ["InMemoryKeyring", "MemorySecretBackend"]


class InMemoryKeyring(keyring.backend.KeyringBackend):
    """A ``keyring`` backend that keeps passwords in a dict.

    Install it with ``keyring.set_keyring(InMemoryKeyring())`` and restore the previous
    backend afterwards. ``passwords`` maps ``(service, username)`` to the password, so
    a test can inspect exactly what was stored.
    """

    priority = -10.0  # below every real backend

    def __init__(self, *, priority: float | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if priority is not None:
            self.priority = priority
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        """Return the stored password or ``None``."""
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store ``password``."""
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        """Delete the password; raise ``PasswordDeleteError`` when there is none."""
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("no such password") from None


class MemorySecretBackend:
    """A :class:`~channelsync.credentials.store.SecretBackend` backed by a dict.

    ``secrets`` maps ``(channel, field)`` to the value.
    """

    def __init__(self, secrets: dict[tuple[str, str], str] | None = None) -> None:
        self.secrets: dict[tuple[str, str], str] = dict(secrets or {})

    def get(self, channel: str, field: str) -> str | None:
        """Return the stored value or ``None``."""
        return self.secrets.get((channel, field))

    def set(self, channel: str, field: str, value: str) -> None:
        """Store ``value``."""
        self.secrets[(channel, field)] = value

    def delete(self, channel: str, field: str) -> bool:
        """Delete the value; return whether there was one."""
        return self.secrets.pop((channel, field), None) is not None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} entries={len(self.secrets)}>"
