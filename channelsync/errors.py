"""Every exception and warning channelsync raises, in one tree.

Exceptions are grouped by what the caller should do, then by domain. Retry code
(the transport and the engine) decides from the class alone::

    ChannelSyncError
    ├── ConfigurationError          bad config file, bad settings: fix the file
    ├── CredentialError             a secret cannot be read or stored
    │   ├── KeyringUnavailableError  the keyring cannot be used; set the variable
    │   └── MissingCredentialError  a required secret is not set anywhere
    ├── PluginError                 a plugin failed to load or registered something invalid
    ├── ModelError (ValueError)     a domain value breaks a model rule (e.g. mixed currencies)
    │   └── CurrencyMismatchError
    ├── ChannelError                a marketplace call failed; carries channel, operation,
    │   │                           marketplace code and message, request id
    │   ├── RetryableChannelError   try again later
    │   │   ├── RateLimitedError    throttled; ``retry_after`` is the wait the marketplace asked for
    │   │   └── TransientError      5xx, timeout, connection reset
    │   ├── PermanentChannelError   retrying the same request will not help
    │   │   ├── AuthenticationError credentials rejected or expired beyond refresh
    │   │   ├── AuthorizationError  authenticated but not allowed
    │   │   ├── InvalidRequestError the marketplace rejected the parameters
    │   │   ├── NotFoundError
    │   │   └── ConflictError       state conflict (e.g. order already cancelled)
    │   ├── DataError               the answer could not be understood (malformed, truncated)
    │   └── OutcomeUnknownError     a write that must not be resent may have been applied:
    │                               its answer was lost, cut or garbled; read state first
    └── UsageError (RuntimeError)   the SDK was misused by the calling code; never retried
        └── ChannelNotOpenError     a channel was used outside ``async with``

    ChannelSyncWarning (UserWarning)
    └── ChannelSyncDeprecationWarning (DeprecationWarning)
        └── RemovedIn2Warning

Business outcomes (one SKU rejected inside a batch, an order on risk hold) are results,
not exceptions. Messages never contain secrets: headers, query strings and bodies are
never put into exception text.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "ChannelError",
    "ChannelNotOpenError",
    "ChannelSyncDeprecationWarning",
    "ChannelSyncError",
    "ChannelSyncWarning",
    "ConfigurationError",
    "ConflictError",
    "CredentialError",
    "CurrencyMismatchError",
    "DataError",
    "InvalidRequestError",
    "KeyringUnavailableError",
    "MissingCredentialError",
    "ModelError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermanentChannelError",
    "PluginError",
    "RateLimitedError",
    "RemovedIn2Warning",
    "RetryableChannelError",
    "TransientError",
    "UsageError",
]


class ChannelSyncError(Exception):
    """Root of every error channelsync raises on purpose."""


class ConfigurationError(ChannelSyncError):
    """The configuration is wrong: a file, a table, a channel or a field.

    The message names the file, the channel and the field where they are known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        channel: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.channel = channel
        self.field = field
        where = []
        if path:
            where.append(str(path))
        if channel:
            where.append(f"channel {channel!r}")
        if field:
            where.append(f"field {field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{message}")


class CredentialError(ChannelSyncError):
    """A secret could not be read, stored or deleted."""


class KeyringUnavailableError(CredentialError):
    """The system keyring cannot be used (no backend, locked, unreachable).

    The message names the environment variable to set instead.
    """


class MissingCredentialError(CredentialError):
    """A credential the channel needs is set neither in the environment nor the keyring."""

    def __init__(self, channel: str, field: str, env_var: str) -> None:
        self.channel = channel
        self.field = field
        self.env_var = env_var
        super().__init__(
            f"channel {channel!r} needs credential {field!r}, which is not set. "
            f"Set it with `channelsync credentials set {channel} {field}` (stored in the "
            f"system keyring) or in the environment variable {env_var}."
        )


class PluginError(ChannelSyncError):
    """A plugin could not be loaded, or registered something invalid.

    ``plugin`` names the plugin at fault.
    """

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}" if plugin else message)


class ModelError(ChannelSyncError, ValueError):
    """A value breaks a rule of the domain model (raised inside validation too)."""


class CurrencyMismatchError(ModelError):
    """Arithmetic or comparison between amounts of different currencies."""


class ChannelError(ChannelSyncError):
    """A call to a marketplace failed.

    Carries the channel name, the operation (the marketplace method or an SDK
    operation name), the marketplace's own error code and message, the HTTP status
    and the request id the marketplace assigned, whichever are known.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str | None = None,
        operation: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.channel = channel
        self.operation = operation
        self.code = code
        self.status_code = status_code
        self.request_id = request_id
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        """Whether retrying later may succeed (decided by the class)."""
        return isinstance(self, RetryableChannelError)

    def with_context(
        self,
        *,
        channel: str | None = None,
        operation: str | None = None,
        request_id: str | None = None,
    ) -> ChannelError:
        """Fill in context the raiser did not know; known values are kept."""
        self.channel = self.channel or channel
        self.operation = self.operation or operation
        self.request_id = self.request_id or request_id
        return self

    def __str__(self) -> str:
        parts = []
        if self.channel:
            parts.append(f"[{self.channel}]")
        if self.operation:
            parts.append(f"{self.operation}:")
        if self.code:
            parts.append(f"({self.code})")
        parts.append(self.message)
        if self.status_code is not None:
            parts.append(f"[HTTP {self.status_code}]")
        if self.request_id:
            parts.append(f"[request id {self.request_id}]")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class RetryableChannelError(ChannelError):
    """The call may succeed if repeated later."""


class RateLimitedError(RetryableChannelError):
    """The marketplace throttled the call.

    ``retry_after`` is the wait in seconds the marketplace asked for, when it said one
    (a ``Retry-After`` header, a ban duration in an error message); ``None`` otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        channel: str | None = None,
        operation: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            channel=channel,
            operation=operation,
            code=code,
            status_code=status_code,
            request_id=request_id,
        )


class TransientError(RetryableChannelError):
    """A server-side or network failure that is expected to pass (5xx, timeout, reset)."""


class PermanentChannelError(ChannelError):
    """Repeating the same call will fail the same way; a person or a code change must act."""


class AuthenticationError(PermanentChannelError):
    """The credentials were rejected (bad secret, expired session that could not be refreshed)."""


class AuthorizationError(PermanentChannelError):
    """The credentials are valid but lack permission for this operation or shop."""


class InvalidRequestError(PermanentChannelError):
    """The marketplace rejected the request's parameters."""


class NotFoundError(PermanentChannelError):
    """The item, SKU or order does not exist on the marketplace."""


class ConflictError(PermanentChannelError):
    """The marketplace refused because of the object's state (e.g. an order already closed)."""


class DataError(ChannelError):
    """The marketplace's answer could not be mapped: malformed, truncated or unexpected."""


class OutcomeUnknownError(ChannelError):
    """A write that is not safe to resend may have been applied; nobody knows yet.

    Raised by the transport, never retried by it, for a call its channel declares
    unsafe to resend (a shipment: pushing it twice may record it twice) when the
    answer was lost, cut short, garbled or a server error after the request left.
    The caller settles it by reading the marketplace's state (has the order shipped?)
    and resends only if it did not happen. ``cause`` names the failure seen.
    """

    def __init__(
        self,
        message: str,
        *,
        cause: ChannelError | None = None,
        channel: str | None = None,
        operation: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.cause = cause
        super().__init__(
            message,
            channel=channel,
            operation=operation,
            code=code,
            status_code=status_code,
            request_id=request_id,
        )


class UsageError(ChannelSyncError, RuntimeError):
    """The calling code misused the SDK. A programming error: never retried."""


class ChannelNotOpenError(UsageError):
    """A channel's marketplace methods were called outside ``async with channel:``."""


class ChannelSyncWarning(UserWarning):
    """Base of channelsync's warnings."""


class ChannelSyncDeprecationWarning(ChannelSyncWarning, DeprecationWarning):
    """Something still works but is deprecated."""


class RemovedIn2Warning(ChannelSyncDeprecationWarning):
    """Deprecated and removed in channelsync 2.0."""
