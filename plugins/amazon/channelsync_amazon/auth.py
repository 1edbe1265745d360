"""Login with Amazon: the refresh-token grant and the ``x-amz-access-token`` header.

SP-API needs no request signature (SigV4 has been optional since October 2023 and is
ignored); every call carries a one-hour LWA access token in ``x-amz-access-token``.
:class:`SpApiAuth` caches the token, refreshes it a minute before it expires, lets
one refresh run at a time however many calls wait, and refreshes once more when
SP-API answers 403 ``Unauthorized`` (an expired token looks like a denied one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from channelsync.credentials import ChannelCredentials
from channelsync.errors import DataError
from channelsync.http import AccessToken, ChannelHttpClient, RefreshingAuth
from channelsync_amazon.errors import error_entries
from channelsync_amazon.wire import as_object

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "LWA_OPERATION",
    "SpApiAuth",
    "parse_token_response",
    "refresh_access_token",
    "token_request_fields",
]

ACCESS_TOKEN_HEADER = "x-amz-access-token"  # noqa: S105 - a header name
#: The rate-limit and log key of the token call.
LWA_OPERATION = "lwaToken"
#: Refresh this many seconds before expiry, as Amazon's own client does.
REFRESH_MARGIN = 60.0


def token_request_fields(refresh_token: str, client_id: str, client_secret: str) -> dict[str, str]:
    """Return the form fields of the refresh-token grant, in the documented order."""
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }


def parse_token_response(body: object) -> tuple[AccessToken, str | None]:
    """Return the access token and, when LWA rotated it, the new refresh token."""
    record: Mapping[str, Any] = as_object(body, what="LWA token answer")
    value = record.get("access_token")
    if not isinstance(value, str) or not value:
        raise DataError("LWA token answer has no access_token")
    expires_in = record.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        raise DataError("LWA token answer has no positive expires_in")
    rotated = record.get("refresh_token")
    return AccessToken(value, float(expires_in)), rotated if isinstance(rotated, str) else None


async def refresh_access_token(
    client: ChannelHttpClient,
    token_url: str,
    credentials: ChannelCredentials,
    client_id: str,
) -> AccessToken:
    """Run the refresh-token grant; persist a rotated refresh token in the credential store."""
    refresh_token = credentials.require("refresh_token")
    fields = token_request_fields(
        refresh_token, client_id, credentials.require("lwa_client_secret")
    )
    body = await client.request_json("POST", token_url, operation=LWA_OPERATION, data=fields)
    token, rotated = parse_token_response(body)
    if rotated and rotated != refresh_token:
        client.redactor.add_secret(rotated)
        credentials.set("refresh_token", rotated)
    return token


class SpApiAuth(RefreshingAuth):
    """Puts the LWA access token in ``x-amz-access-token``; refreshes on 401 and 403."""

    header_name: ClassVar[str] = ACCESS_TOKEN_HEADER
    header_prefix: ClassVar[str] = ""
    requires_response_body = True

    def is_token_expired(self, response: httpx.Response) -> bool:
        """Return whether SP-API refused the token (HTTP 401, or 403 ``Unauthorized``)."""
        if response.status_code == 401:
            return True
        if response.status_code != 403:
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        return any(code == "Unauthorized" for code, _ in error_entries(body))
