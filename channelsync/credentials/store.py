"""Where secrets come from: the environment first, then the system keyring.

Secrets are tied to a configured channel name (``shop``, ``tmall-main``) and a field
name that the channel type declares (``app_secret``, ``session``). Resolution order,
highest precedence first:

1. the environment variable :func:`env_var_name` gives for the pair, for example
   ``CHANNELSYNC_TMALL_MAIN_APP_SECRET`` for channel ``tmall-main`` and field
   ``app_secret`` (an empty variable counts as unset);
2. a file of that name in the directory ``$CREDENTIALS_DIRECTORY`` names: systemd's
   credentials (``LoadCredential=CHANNELSYNC_TMALL_MAIN_APP_SECRET:/etc/...``), or any
   secrets directory mounted the same way. A file others may read is refused, naming
   the file;
3. the secret backend, by default the system keyring (see
   :class:`~channelsync.credentials.keyring_backend.KeyringBackend`).

Secrets are never read from the configuration file. Values are handed out as
:class:`pydantic.SecretStr` by the store, and as plain strings only through
:meth:`ChannelCredentials.require`, which is what request signing needs. No repr, str
or error message in this module contains a secret value.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from channelsync.errors import CredentialError, KeyringUnavailableError, MissingCredentialError

__all__ = [
    "CREDENTIALS_DIRECTORY",
    "ENV_PREFIX",
    "ChannelCredentials",
    "CredentialSource",
    "CredentialStore",
    "SecretBackend",
    "env_var_name",
]

#: Prefix of every credential environment variable.
ENV_PREFIX = "CHANNELSYNC"
#: The variable naming a directory of credential files (systemd sets it for a service
#: with ``LoadCredential=``); a file there is named like the environment variable.
CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"

_log = logging.getLogger(__name__)

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def env_var_name(channel: str, field: str) -> str:
    """Return the environment variable that holds ``field`` of ``channel``.

    The name is ``CHANNELSYNC_<CHANNEL>_<FIELD>`` in upper case, with every character
    that is not an ASCII letter or digit replaced by ``_``: channel ``tmall-main`` and
    field ``app_secret`` give ``CHANNELSYNC_TMALL_MAIN_APP_SECRET``. Channel names that
    differ only in punctuation (``a-b`` and ``a_b``) share their variables.
    """
    return f"{ENV_PREFIX}_{_NOT_ALNUM.sub('_', channel)}_{_NOT_ALNUM.sub('_', field)}".upper()


class CredentialSource(StrEnum):
    """Where a credential's current value comes from."""

    ENV = "environment"
    FILE = "credentials file"
    KEYRING = "keyring"


@runtime_checkable
class SecretBackend(Protocol):
    """Durable storage for secrets, keyed by channel name and field name."""

    def get(self, channel: str, field: str) -> str | None:
        """Return the stored value, or ``None`` when nothing is stored."""
        ...

    def set(self, channel: str, field: str, value: str) -> None:
        """Store ``value``, replacing any previous value."""
        ...

    def delete(self, channel: str, field: str) -> bool:
        """Remove the value; return whether there was one."""
        ...


def _check_key(channel: str, field: str) -> None:
    for kind, name in (("channel", channel), ("field", field)):
        if not name or "/" in name or name != name.strip():
            raise CredentialError(
                f"invalid credential {kind} name {name!r}: it must be non-empty, without "
                "'/' and without surrounding whitespace"
            )


class CredentialStore:
    """Resolve, store and delete channel secrets: environment first, then the backend.

    ``backend`` defaults to the system keyring; ``environ`` defaults to
    :data:`os.environ`, read at each call (never copied at construction), so a variable
    exported after the store was built is still seen.
    """

    def __init__(
        self,
        backend: SecretBackend | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if backend is None:
            from channelsync.credentials.keyring_backend import KeyringBackend  # noqa: PLC0415

            backend = KeyringBackend()
        self._backend = backend
        self._environ = environ

    @property
    def backend(self) -> SecretBackend:
        """The backend used after the environment."""
        return self._backend

    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def _from_env(self, channel: str, field: str) -> str | None:
        return self._env().get(env_var_name(channel, field)) or None

    def _from_file(self, channel: str, field: str) -> str | None:
        """Read the secret from ``$CREDENTIALS_DIRECTORY`` (systemd credentials), if there."""
        directory = self._env().get(CREDENTIALS_DIRECTORY)
        if not directory:
            return None
        path = Path(directory) / env_var_name(channel, field)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            return None
        except OSError as exc:
            message = f"the credentials file {path} cannot be read: {exc.strerror}"
            raise CredentialError(message) from None
        if mode & 0o077:
            raise CredentialError(
                f"the credentials file {path} may be read by other users "
                f"(mode {stat.S_IMODE(mode):o}); make it readable by its owner only (chmod 600)"
            )
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialError(f"the credentials file {path} cannot be read: {exc}") from None
        return value or None

    def _outside_backend(self, channel: str, field: str) -> tuple[str, CredentialSource] | None:
        value = self._from_env(channel, field)
        if value is not None:
            return value, CredentialSource.ENV
        value = self._from_file(channel, field)
        if value is not None:
            return value, CredentialSource.FILE
        return None

    def _lookup(self, channel: str, field: str) -> tuple[str, CredentialSource] | None:
        _check_key(channel, field)
        found = self._outside_backend(channel, field)
        if found is not None:
            return found
        value = self._backend.get(channel, field)
        if value:
            return value, CredentialSource.KEYRING
        return None

    def get(self, channel: str, field: str) -> SecretStr | None:
        """Return the secret, or ``None`` when it is set nowhere.

        The environment variable wins over the keyring. Raises
        :class:`~channelsync.errors.CredentialError` when the keyring has to be asked
        and cannot be used.
        """
        found = self._lookup(channel, field)
        return None if found is None else SecretStr(found[0])

    def source(self, channel: str, field: str) -> CredentialSource | None:
        """Return where the secret would be read from, or ``None`` when it is unset."""
        found = self._lookup(channel, field)
        return None if found is None else found[1]

    def require(self, channel: str, field: str) -> SecretStr:
        """Return the secret or raise :class:`~channelsync.errors.MissingCredentialError`.

        The error names the channel, the field, the ``channelsync credentials set``
        command and the environment variable.
        """
        value = self.get(channel, field)
        if value is None:
            raise MissingCredentialError(channel, field, env_var_name(channel, field))
        return value

    def set(self, channel: str, field: str, value: str) -> None:
        """Store the secret in the backend (the keyring).

        An empty value is refused with :class:`~channelsync.errors.CredentialError`. An
        environment variable for the same pair still takes precedence when reading.
        """
        _check_key(channel, field)
        if not value:
            raise CredentialError(
                f"refusing to store an empty value for credential {field!r} of channel {channel!r}"
            )
        self._backend.set(channel, field, value)

    def delete(self, channel: str, field: str) -> bool:
        """Delete the secret from the backend; return whether one was stored there.

        Environment variables are not touched.
        """
        _check_key(channel, field)
        return self._backend.delete(channel, field)

    def status(self, channel: str, fields: Iterable[str]) -> dict[str, CredentialSource | None]:
        """Return, for each field, where its value comes from (``None`` when unset)."""
        return {field: self.source(channel, field) for field in fields}

    def environment_status(
        self, channel: str, fields: Iterable[str]
    ) -> dict[str, CredentialSource | None]:
        """Like :meth:`status`, without the keyring (when it is down): environment and files."""
        result: dict[str, CredentialSource | None] = {}
        for field in fields:
            found = self._outside_backend(channel, field)
            result[field] = None if found is None else found[1]
        return result

    def for_channel(self, channel: str, fields: Iterable[str] = ()) -> ChannelCredentials:
        """Return the view of one channel's secrets that a channel object receives."""
        return ChannelCredentials(self, channel, fields=fields)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={type(self._backend).__name__}>"


class ChannelCredentials:
    """One channel's secrets, as the channel object and its transport see them.

    Every field read through this view (and every field named in ``fields``) is
    remembered, so :meth:`values` can give the transport every secret value it must
    redact from logs and errors. Values are resolved once and kept in memory for the
    life of the view; :meth:`reload` forgets them so the next read resolves again.
    The repr shows the channel name only.
    """

    def __init__(self, store: CredentialStore, channel: str, *, fields: Iterable[str] = ()) -> None:
        self._store = store
        self._channel = channel
        self._fields: dict[str, None] = dict.fromkeys(fields)
        self._cache: dict[str, str] = {}
        self._no_keyring: dict[str, KeyringUnavailableError] = {}

    @property
    def channel(self) -> str:
        """The configured channel name these secrets belong to."""
        return self._channel

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields read or declared through this view, in first-use order."""
        return tuple(self._fields)

    def get(self, field: str) -> str | None:
        """Return the secret as a plain string, or ``None`` when it is unset."""
        self._fields.setdefault(field)
        if field in self._cache:
            return self._cache[field]
        try:
            secret = self._store.get(self._channel, field)
        except KeyringUnavailableError as error:
            # A server without a keyring runs on environment variables; a field set in
            # neither is unset (require() still explains why it could not be read).
            self._no_keyring[field] = error
            return None
        if secret is None:
            return None
        value = secret.get_secret_value()
        self._cache[field] = value
        return value

    def require(self, field: str) -> str:
        """Return the secret as a plain string (for signing) or raise.

        Raises :class:`~channelsync.errors.MissingCredentialError` when it is unset.
        """
        value = self.get(field)
        if value is None:
            if field in self._no_keyring:
                raise self._no_keyring[field]
            raise MissingCredentialError(self._channel, field, env_var_name(self._channel, field))
        return value

    def set(self, field: str, value: str) -> None:
        """Store a new value (for example a refreshed session or access token).

        The value is used from now on. When an environment variable pins the field,
        the variable would win again after a restart, so a warning names it (never
        its value) and says to unset it.
        """
        self._fields.setdefault(field)
        self._cache[field] = value
        try:
            self._store.set(self._channel, field, value)
        except KeyringUnavailableError:
            _log.warning(
                "channel %r: no keyring to save the new %s in; it is used from memory and "
                "lost when the process exits",
                self._channel,
                field,
            )
            return
        variable = env_var_name(self._channel, field)
        if self._store._from_env(self._channel, field) is not None:
            _log.warning(
                "channel %r: a new %s was saved to the keyring, but the environment "
                "variable %s still holds the old one and wins on the next start; unset it",
                self._channel,
                field,
                variable,
            )

    def values(self) -> list[str]:
        """Return every currently resolvable value of the fields used through this view.

        The transport registers these for redaction.
        """
        found = (self.get(field) for field in tuple(self._fields))
        return [value for value in found if value]

    def reload(self) -> None:
        """Forget the values kept in memory; the next read resolves them again."""
        self._cache.clear()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} channel={self._channel!r}>"

    __str__ = __repr__
