"""SP-API and Login with Amazon errors mapped onto the channelsync error tree.

SP-API answers failures with an HTTP status and ``{"errors": [{"code", "message",
"details"}]}``; the LWA token endpoint with ``{"error", "error_description"}``.
:data:`SP_API_ERRORS` and :data:`LWA_ERRORS` are the tables; :class:`SpApiClassifier`
applies them, falling back to the HTTP status when the code is unknown or the body is
not readable (an S3 XML page, a truncated body).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from channelsync.http import HttpStatusClassifier, decode_json

__all__ = ["LWA_ERRORS", "SP_API_ERRORS", "SpApiClassifier", "error_entries"]

#: SP-API ``errors[].code`` -> the channelsync error class (reference §4).
SP_API_ERRORS: Mapping[str, type[ChannelError]] = {
    "InvalidInput": InvalidRequestError,
    "Unauthorized": AuthorizationError,
    "NotFound": NotFoundError,
    "RequestEntityTooLarge": InvalidRequestError,
    "UnsupportedMediaType": InvalidRequestError,
    "QuotaExceeded": RateLimitedError,
    "InternalFailure": TransientError,
    "ServiceUnavailable": TransientError,
}

#: LWA ``error`` -> the channelsync error class; only the last two are worth retrying.
LWA_ERRORS: Mapping[str, type[ChannelError]] = {
    "access_denied": AuthorizationError,
    "invalid_grant": AuthenticationError,
    "invalid_client": AuthenticationError,
    "unauthorized_client": AuthorizationError,
    "invalid_request": InvalidRequestError,
    "invalid_scope": InvalidRequestError,
    "server_error": TransientError,
    "temporarily_unavailable": TransientError,
}

_MESSAGE_LIMIT = 300


def _decode(response: httpx.Response) -> Any:
    try:
        return decode_json(response)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def error_entries(body: object) -> list[tuple[str, str]]:
    """Return ``(code, message)`` for each well-formed entry of an SP-API ``errors`` array."""
    if not isinstance(body, Mapping):
        return []
    entries = body.get("errors")
    if not isinstance(entries, list):
        return []
    found = []
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("code"), str):
            message = entry.get("message")
            found.append((entry["code"], message if isinstance(message, str) else ""))
    return found


class SpApiClassifier(HttpStatusClassifier):
    """Reads SP-API ``errors`` and LWA ``error`` bodies; 2xx and 3xx are successes."""

    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Return the error a failed answer means, or ``None`` for a success."""
        if response.status_code < 400:
            return None
        body = _decode(response)
        if isinstance(body, Mapping) and isinstance(body.get("error"), str):
            return self._lwa_error(response, operation, body)
        entries = error_entries(body)
        if not entries:
            return self.classify_status(response, operation)
        code, message = entries[0]
        error_class = SP_API_ERRORS.get(code)
        if error_class is None:
            fallback = self.classify_status(response, operation)
            error_class = type(fallback) if fallback is not None else InvalidRequestError
        return self._build(error_class, response, operation, code, message)

    def _lwa_error(
        self, response: httpx.Response, operation: str, body: Mapping[str, Any]
    ) -> ChannelError:
        code = str(body["error"])
        description = body.get("error_description")
        message = f"token request refused: {description if isinstance(description, str) else code}"
        error_class = (
            RateLimitedError
            if response.status_code == 429
            else LWA_ERRORS.get(code, AuthenticationError)
        )
        return self._build(error_class, response, operation, code, message)

    def _build(
        self,
        error_class: type[ChannelError],
        response: httpx.Response,
        operation: str,
        code: str,
        message: str,
    ) -> ChannelError:
        text = (message or code)[:_MESSAGE_LIMIT]
        if issubclass(error_class, RateLimitedError):
            # SP-API states no wait on a 429; the transport then drains the bucket and backs off.
            return RateLimitedError(
                text,
                retry_after=self.retry_after(response),
                operation=operation,
                code=code,
                status_code=response.status_code,
            )
        return error_class(text, operation=operation, code=code, status_code=response.status_code)
