"""The AWS side of the listener: keys, the aiobotocore SQS client, its errors and its logs.

aiobotocore (the asyncio edition of botocore) signs every SQS call with Signature
Version 4 from the channel's own AWS keys, given explicitly: botocore's default
chain (environment, ``~/.aws``, instance metadata) is never consulted, so the
queue is read with the keys kept in the keyring or the channel's
``CHANNELSYNC_<CHANNEL>_AWS_*`` variables and nothing else. It is an optional
dependency, the plugin's ``events`` extra.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from channelsync.credentials import ChannelCredentials
from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from channelsync.http import RedactingFilter, Redactor
from channelsync_amazon.events.queue import SqsQueue

__all__ = [
    "AWS_CREDENTIAL_FIELDS",
    "EVENTS_EXTRA",
    "AwsKeys",
    "aws_errors",
    "open_sqs_client",
    "redacted_botocore_logs",
    "require_events_extra",
    "sqs_error",
]

#: The channel's credential fields for reading the queue (the token only for temporary keys).
AWS_CREDENTIAL_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
EVENTS_EXTRA = "channelsync-amazon[events]"

_AUTHENTICATION = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidSecurity",
        "ExpiredToken",
        "RequestExpired",
        "AuthFailure",
    }
)
_AUTHORIZATION = frozenset({"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"})
_NOT_FOUND = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "RequestThrottled", "KmsThrottled", "OverLimit"}
)
#: Loggers of botocore and aiobotocore that write headers (the session token, the
#: signature's canonical request) or bodies at DEBUG level.
_BOTOCORE_LOGGERS = (
    "botocore.auth",
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.hooks",
    "botocore.retryhandler",
    "botocore.httpsession",
    "botocore.credentials",
    "aiobotocore.endpoint",
    "aiobotocore.httpsession",
)


@dataclass(frozen=True)
class AwsKeys:
    """The AWS keys that read the queue; the secret parts never appear in a repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_credentials(cls, credentials: ChannelCredentials) -> AwsKeys:
        """Read the keys from the channel's credentials (``MissingCredentialError`` if unset)."""
        return cls(
            access_key_id=credentials.require("aws_access_key_id"),
            secret_access_key=credentials.require("aws_secret_access_key"),
            session_token=credentials.get("aws_session_token") or None,
        )

    def secrets(self) -> list[str]:
        """Return the values to keep out of logs and errors."""
        return [value for value in (self.secret_access_key, self.session_token) if value]


def aws_errors() -> tuple[type[Exception], ...]:
    """Return the exception classes an SQS call raises when AWS or the network fails."""
    from aiohttp import ClientError as HttpClientError  # noqa: PLC0415 - optional dependency
    from botocore.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415
        BotoCoreError,
        ClientError,
    )

    return (ClientError, BotoCoreError, HttpClientError, TimeoutError, OSError)


def require_events_extra(channel: str) -> None:
    """Raise a :class:`ConfigurationError` naming the extra when aiobotocore is missing."""
    if importlib.util.find_spec("aiobotocore") is None:
        raise ConfigurationError(
            "events = true needs aiobotocore to read the SQS queue; install the plugin's "
            f"events extra: pip install '{EVENTS_EXTRA}'",
            channel=channel,
            field="events",
        )


async def open_sqs_client(
    stack: AsyncExitStack, queue: SqsQueue, keys: AwsKeys, *, wait_seconds: int
) -> Any:
    """Open an aiobotocore SQS client for ``queue`` on ``stack`` (closed with the stack)."""
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped]  # noqa: PLC0415
    from aiobotocore.session import AioSession  # type: ignore[import-untyped]  # noqa: PLC0415

    config = AioConfig(
        connect_timeout=10,
        # A long poll holds the request open for up to wait_seconds.
        read_timeout=wait_seconds + 15,
        retries={"mode": "standard", "total_max_attempts": 3},
        user_agent_extra="channelsync",
    )
    session = AioSession()
    client_context = session.create_client(
        "sqs",
        region_name=queue.region,
        endpoint_url=queue.endpoint_url,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        aws_session_token=keys.session_token,
        config=config,
    )
    return await stack.enter_async_context(client_context)


def sqs_error(exc: BaseException, operation: str, redactor: Redactor) -> ChannelError:
    """Map an aiobotocore/botocore failure onto the channelsync error tree."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - optional dependency

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        text = redactor.redact_text(str(error.get("Message") or code))[:300]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
        error_class: type[ChannelError]
        if code in _AUTHENTICATION:
            error_class = AuthenticationError
        elif code in _AUTHORIZATION:
            error_class = AuthorizationError
        elif code in _NOT_FOUND:
            error_class = NotFoundError
        elif code in _THROTTLED:
            error_class = RateLimitedError
        elif isinstance(status, int) and status >= 500:
            error_class = TransientError
        else:
            error_class = InvalidRequestError
        return error_class(
            text,
            operation=operation,
            code=code,
            status_code=status if isinstance(status, int) else None,
            request_id=request_id if isinstance(request_id, str) else None,
        )
    # Connection refused, timeouts, a reset: botocore's own errors and aiohttp's.
    described = redactor.redact_text(str(exc) or type(exc).__name__)[:300]
    return TransientError(f"SQS {operation}: {described}", operation=operation)


@contextmanager
def redacted_botocore_logs(redactor: Redactor) -> Iterator[None]:
    """Scrub the channel's secrets from botocore's records while the listener runs."""
    log_filter = RedactingFilter(redactor)
    loggers = [logging.getLogger(name) for name in _BOTOCORE_LOGGERS]
    for logger in loggers:
        logger.addFilter(log_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(log_filter)
