"""How the fake Selling Partner API writes its answers: envelopes, headers, times, errors.

Written from the wire reference and Amazon's models, not from the plugin: SP-API
errors are ``{"errors": [{"code", "message", "details"}]}``, every answer carries
``x-amzn-RequestId``, successful ones also ``x-amzn-RateLimit-Limit`` (never a 429 or
5xx), LWA errors are ``{"error", "error_description"}`` and S3 errors are XML.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

__all__ = [
    "DEFAULT_MARKETPLACE",
    "FakeRequestError",
    "iso",
    "json_response",
    "lwa_error",
    "parse_iso",
    "read_json",
    "s3_error",
    "sp_error",
]

DEFAULT_MARKETPLACE = "ATVPDKIKX0DER"


class FakeRequestError(Exception):
    """Raised inside a handler to answer with an SP-API error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def iso(moment: datetime) -> str:
    """Write a time the way SP-API does (UTC, ``Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str, name: str) -> datetime:
    """Read an ISO 8601 query time; a malformed one is ``InvalidInput``."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise FakeRequestError(400, "InvalidInput", f"{name} is not ISO 8601: {value}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        # Listings attribute numbers are echoed back as numbers.
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_response(
    status: int,
    body: object,
    *,
    request_id: str,
    rate: float | None = None,
) -> httpx.Response:
    """Answer with a JSON body and SP-API's headers."""
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    if rate is not None:
        headers["x-amzn-RateLimit-Limit"] = f"{rate:g}"
    content = json.dumps(body, default=_default, separators=(",", ":")).encode("utf-8")
    return httpx.Response(status, headers=headers, content=content)


def sp_error(
    status: int, code: str, message: str, *, request_id: str, rate: float | None = None
) -> httpx.Response:
    """Answer with SP-API's error envelope."""
    body = {"errors": [{"code": code, "message": message, "details": ""}]}
    return json_response(status, body, request_id=request_id, rate=rate)


def lwa_error(status: int, error: str, description: str) -> httpx.Response:
    """Answer the token endpoint with an OAuth error."""
    return httpx.Response(status, json={"error": error, "error_description": description})


def s3_error(status: int, code: str, message: str) -> httpx.Response:
    """Answer a pre-signed URL call the way S3 does (XML)."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    )
    return httpx.Response(status, headers={"Content-Type": "application/xml"}, text=body)


def read_json(request: httpx.Request) -> Any:
    """Decode a JSON request body (numbers as ``Decimal``); bad JSON is ``InvalidInput``."""
    if not request.content:
        raise FakeRequestError(400, "InvalidInput", "request body is required")
    kind = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise FakeRequestError(
            415, "UnsupportedMediaType", f"content type {kind or 'none'} is not supported"
        )
    try:
        return json.loads(request.content, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FakeRequestError(400, "InvalidInput", "request body is not valid JSON") from None
