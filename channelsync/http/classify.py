"""Turn HTTP responses and network failures into the channelsync error tree.

The transport asks a :class:`ResponseClassifier` whether each response is a
success. The default reads only the HTTP status; marketplace plugins subclass
:class:`HttpStatusClassifier` to read their gateway envelopes, because several
Chinese gateways answer HTTP 200 with an ``error_response`` body.

Messages name the HTTP status and the failure kind only: headers, query strings
and bodies never go into exception text.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from channelsync.clock import Clock, SystemClock
from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    ConflictError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "HttpStatusClassifier",
    "ResponseClassifier",
    "UnreadableResponseError",
    "decode_json",
    "parse_json",
    "parse_retry_after",
    "transport_error",
]

_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
_PERMANENT_STATUSES: dict[int, tuple[type[ChannelError], str]] = {
    401: (AuthenticationError, "credentials rejected"),
    403: (AuthorizationError, "not allowed"),
    404: (NotFoundError, "not found"),
    409: (ConflictError, "conflict"),
}


class UnreadableResponseError(TransientError, DataError):
    """An answer whose body cannot be decoded at all: not JSON, cut short, empty, not UTF-8.

    In practice such a body is a transport accident (a proxy's HTML error page, a
    connection cut mid-body), so it is retried like any :class:`TransientError`, a
    bounded number of times. It is also a :class:`DataError`, so code that handles
    unreadable answers keeps doing so. An answer that decodes but breaks the model (a
    missing field, a wrong type) is a plain :class:`DataError` and is never retried:
    asking again returns the same answer. Like a timeout, an unreadable answer to a
    write leaves its outcome unknown, so callers treat it as a possibly applied write.
    """


@runtime_checkable
class ResponseClassifier(Protocol):
    """Decides whether a response is a success, and which error it is if not."""

    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Return ``None`` for a success, otherwise the error to raise (not raised here)."""
        ...


def parse_retry_after(value: str | None, clock: Clock) -> float | None:
    """Read a ``Retry-After`` value: delta-seconds or an HTTP-date; ``None`` if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if not math.isnan(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 HTTP-dates are always GMT; a date without a zone is read as such.
        return None
    return max(0.0, (when - clock.now()).total_seconds())


class HttpStatusClassifier:
    """The default classifier: maps HTTP status codes to channelsync errors.

    2xx and 3xx are successes; 429 is :class:`RateLimitedError` carrying the
    ``Retry-After`` wait; 500/502/503/504 are :class:`TransientError`; 401, 403,
    404 and 409 map to their permanent errors; any other 4xx or 5xx is
    :class:`InvalidRequestError`.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()

    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Classify by status code only."""
        return self.classify_status(response, operation)

    def retry_after(self, response: httpx.Response) -> float | None:
        """Return the wait the server asked for in ``Retry-After``, if any."""
        return parse_retry_after(response.headers.get("Retry-After"), self.clock)

    def classify_status(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Map the HTTP status; subclasses call this for non-envelope failures."""
        status = response.status_code
        if status < 400:
            return None
        reason = response.reason_phrase or "error"
        common: dict[str, Any] = {"operation": operation, "status_code": status}
        if status == 429:
            return RateLimitedError(
                f"rate limited ({reason})", retry_after=self.retry_after(response), **common
            )
        if status in _TRANSIENT_STATUSES:
            return TransientError(f"server error ({reason})", **common)
        error_class, label = _PERMANENT_STATUSES.get(
            status, (InvalidRequestError, "request rejected")
        )
        return error_class(f"{label} ({reason})", **common)


def transport_error(
    exc: httpx.TransportError, *, channel: str | None = None, operation: str | None = None
) -> ChannelError:
    """Map a network-level failure to a channelsync error.

    Timeouts, connection failures, resets and remote protocol errors become
    :class:`TransientError`. An unsupported URL scheme or a request httpx could not
    even encode is a bug in the caller, so it becomes :class:`InvalidRequestError`
    and is not retried. The message names the exception type only: httpx messages
    can carry the URL.
    """
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return InvalidRequestError(
            f"request could not be sent ({type(exc).__name__})",
            channel=channel,
            operation=operation,
        )
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "network error"
    return TransientError(f"{kind} ({type(exc).__name__})", channel=channel, operation=operation)


#: Bodies decoded so far, per response and number parser: a classifier, the transport's
#: check and the plugin's reader all look at one answer, and it is decoded once.
_DECODED: weakref.WeakKeyDictionary[httpx.Response, dict[Any, Any]] = weakref.WeakKeyDictionary()


def decode_json(
    response: httpx.Response, *, parse_float: Callable[[str], Any] | None = None
) -> Any:
    """Return the JSON body of ``response``, decoded once per number parser.

    Later calls with the same ``parse_float`` (``decimal.Decimal`` for gateways whose
    amounts must stay exact) return the same object: treat it as read-only. Raises
    ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``) as ``json.loads``.
    """
    decoded = _DECODED.get(response)
    if decoded is not None and parse_float in decoded:
        return decoded[parse_float]
    body = json.loads(response.content, parse_float=parse_float)
    _DECODED.setdefault(response, {})[parse_float] = body
    return body


def parse_json(
    response: httpx.Response,
    *,
    channel: str | None = None,
    operation: str | None = None,
    request_id: str | None = None,
) -> Any:
    """Return the decoded JSON body, or raise :class:`UnreadableResponseError` if it is not JSON.

    Malformed, truncated and empty bodies all become :class:`UnreadableResponseError`
    (a retryable :class:`DataError`) naming the position of the fault, never the body.
    """
    context: dict[str, Any] = {
        "channel": channel,
        "operation": operation,
        "status_code": response.status_code,
        "request_id": request_id,
    }
    if not response.content.strip():
        raise UnreadableResponseError("empty response body where JSON was expected", **context)
    try:
        return decode_json(response)
    except UnicodeDecodeError:
        raise UnreadableResponseError("response body is not valid UTF-8 JSON", **context) from None
    except json.JSONDecodeError as exc:
        raise UnreadableResponseError(
            f"malformed JSON response: {exc.msg} at byte {exc.pos} of {len(response.content)}",
            **context,
        ) from None
