"""Refreshing a shop's JOS access token through the OAuth ``refresh_token`` grant.

JD's OAuth host is separate from the API gateway. When the channel points at another
gateway (a sandbox or a local fake) the OAuth endpoints are looked up on that host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from channelsync.errors import AuthenticationError, ChannelError, DataError
from channelsync.http import HttpStatusClassifier, UnreadableResponseError, transport_error

__all__ = ["DEFAULT_REFRESH_URL", "IssuedToken", "refresh_access_token", "refresh_url_for"]

DEFAULT_REFRESH_URL = "https://open-oauth.jd.com/oauth2/refresh_token"
_OPERATION = "oauth2.refresh_token"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What the refresh grant returned; ``expires_in`` in seconds (``None``: not said)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: float | None


def refresh_url_for(base_url: str | None) -> str:
    """Return the refresh endpoint: JD's OAuth host, or the overriding gateway's host."""
    if not base_url:
        return DEFAULT_REFRESH_URL
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/oauth2/refresh_token", "", ""))


def _expires_in(value: object) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        seconds = float(Decimal(str(value)))
    except ArithmeticError:
        return None
    return seconds if seconds > 0 else None


async def refresh_access_token(
    *,
    url: str,
    app_key: str,
    app_secret: str,
    refresh_token: str,
    channel: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> IssuedToken:
    """Exchange ``refresh_token`` for a new access token (and usually a new refresh token).

    Raises :class:`AuthenticationError` when JD refuses (an expired token cannot be
    refreshed: the shop must authorize again), :class:`TransientError` on network or
    server failures and :class:`DataError` for an unreadable answer. No message carries
    a secret.
    """
    params = {
        "app_key": app_key,
        "app_secret": app_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    context: dict[str, Any] = {"channel": channel, "operation": _OPERATION}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:
            response = await client.get(url, params=params)
    except httpx.TransportError as exc:
        raise transport_error(exc, channel=channel, operation=_OPERATION) from None
    status_error = HttpStatusClassifier().classify_status(response, _OPERATION)
    if status_error is not None:
        raise status_error.with_context(channel=channel)
    try:
        body = json.loads(response.content)
    except ValueError:
        raise UnreadableResponseError("the token refresh answer is not JSON", **context) from None
    if not isinstance(body, dict):
        raise DataError("the token refresh answer is not an object", **context)
    token = body.get("access_token")
    if not token:
        code = body.get("code")
        reason = str(body.get("msg") or "no access_token in the answer")
        error: ChannelError = AuthenticationError(
            f"token refresh refused: {reason}; authorize the shop again",
            code=None if code is None else str(code),
            **context,
        )
        raise error
    fresh = body.get("refresh_token")
    return IssuedToken(
        access_token=str(token),
        refresh_token=str(fresh) if fresh else None,
        expires_in=_expires_in(body.get("expires_in")),
    )
