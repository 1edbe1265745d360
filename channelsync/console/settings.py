"""The ``[console]`` table and the ``--console HOST:PORT`` flag: where the console listens.

The console is off unless an address is given. Its token (needed by every request
that changes state) is a secret, so, like a channel's secrets, it is never read from
the configuration file: the file names the environment variable that holds it
(``token_env``, default ``CHANNELSYNC_CONSOLE_TOKEN``), and a systemd credential
``console_token`` in ``$CREDENTIALS_DIRECTORY`` is read when that variable is unset.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from channelsync.errors import ConfigurationError

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "ConsoleAddress",
    "ConsoleSettings",
    "parse_address",
    "parse_console",
]

#: The environment variable the console token is read from unless ``token_env`` names another.
DEFAULT_TOKEN_ENV = "CHANNELSYNC_CONSOLE_TOKEN"  # noqa: S105 - a variable name, not a token
#: The systemd credential read when the token's variable is unset.
CREDENTIAL_NAME = "console_token"


@dataclass(frozen=True, slots=True)
class ConsoleAddress:
    """A host and port to listen on."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the address."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything

    def url(self, port: int | None = None) -> str:
        """Return the console's address as a URL (``port`` once a ``0`` port is bound)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}/"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str, *, field: str = "console.address") -> ConsoleAddress:
    """Read ``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0 picks a free one)."""
    try:
        return _address(text)
    except ValueError as exc:
        raise ConfigurationError(str(exc), field=field) from None


def _address(text: str) -> ConsoleAddress:
    host, colon, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"the console address must be HOST:PORT (for example 127.0.0.1:8765), not {text!r}"
        )
    return ConsoleAddress(host, int(port_text))


class ConsoleSettings(BaseModel):
    """The ``[console]`` table: the operator's web console served by the daemon.

    ``address`` (``HOST:PORT``) turns it on; ``token_env`` names the environment
    variable holding the token that state-changing requests must carry;
    ``refresh_seconds`` is how often pages refresh their live parts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = None
    token_env: str = Field(default=DEFAULT_TOKEN_ENV, min_length=1)
    refresh_seconds: float = Field(default=2.0, gt=0, le=300)

    @pydantic.field_validator("address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is not None:
            _address(value)
        return value

    @property
    def listen(self) -> ConsoleAddress | None:
        """Where to listen, or ``None`` when the console is off."""
        return None if self.address is None else parse_address(self.address)

    def token(self, environ: Mapping[str, str] | None = None) -> str | None:
        """Return the console token from the environment or the credentials directory."""
        env = os.environ if environ is None else environ
        value = env.get(self.token_env, "").strip()
        if value:
            return value
        directory = env.get("CREDENTIALS_DIRECTORY")
        if directory:
            try:
                return (Path(directory) / CREDENTIAL_NAME).read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise ConfigurationError(
                    f"the console token cannot be read from $CREDENTIALS_DIRECTORY: "
                    f"{exc.strerror or exc}",
                    field="console",
                ) from None
        return None

    def check_exposure(self, address: ConsoleAddress, token: str | None) -> None:
        """Refuse to listen beyond loopback without a token."""
        if not address.loopback and not token:
            raise ConfigurationError(
                f"the console would listen on {address}, beyond this machine, without a "
                f"token: set {self.token_env} (or listen on 127.0.0.1)",
                field="console.address",
            )


def parse_console(raw: object, where: str) -> ConsoleSettings:
    """Check the ``[console]`` table of a configuration file."""
    if not isinstance(raw, dict):
        raise ConfigurationError("'console' must be a table, written as [console]", path=where)
    secret = sorted(key for key in raw if "token" in key and key != "token_env")
    if secret:
        raise ConfigurationError(
            f"the console token is a secret and is never read from the configuration "
            f"file: remove {', '.join(secret)} and set it in the environment variable "
            f"named by token_env (default {DEFAULT_TOKEN_ENV})",
            path=where,
            field=f"console.{secret[0]}",
        )
    try:
        return ConsoleSettings.model_validate(raw)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(part) for part in error["loc"]) or "console"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(message, path=where, field=f"console.{loc}") from None
