"""The fake's token and storage endpoints: LWA's two grants and the pre-signed S3 URLs.

LWA issues a seller's access token for a refresh token (``refresh_token`` grant) and a
grantless one for the application's own credentials and a scope
(``client_credentials``, used by the Notifications API's destination operations);
both accept a form or a JSON body. The S3 document URLs check their signature and
refuse SP-API's ``x-amz-access-token``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import httpx

from channelsync_amazon.fake.wire import lwa_error, s3_error

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = ["lwa_token", "s3"]


def _token_fields(request: httpx.Request) -> dict[str, str]:
    kind = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    text = request.content.decode("utf-8", "replace")
    if kind == "application/json":
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            return {}
        return (
            {k: v for k, v in body.items() if isinstance(v, str)} if isinstance(body, dict) else {}
        )
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    return {}


#: Scopes of LWA's client_credentials grant (grantless SP-API operations).
_GRANTLESS_SCOPES = frozenset({"sellingpartnerapi::notifications", "sellingpartnerapi::migration"})


def lwa_token(fake: FakeSellingPartner, request: httpx.Request) -> httpx.Response:
    """Answer the refresh-token and client-credentials grants (form or JSON body)."""
    fields = _token_fields(request)
    grant = fields.get("grant_type")
    if grant == "client_credentials":
        return _grantless_token(fake, fields)
    if grant != "refresh_token" or "refresh_token" not in fields:
        return lwa_error(400, "invalid_request", "The request is missing a required parameter")
    if (
        fields.get("client_id") != fake.client_id
        or fields.get("client_secret") != fake.client_secret
    ):
        return lwa_error(401, "invalid_client", "Client authentication failed")
    if fields["refresh_token"] not in fake.refresh_tokens:
        return lwa_error(400, "invalid_grant", "The request has an invalid grant parameter")
    access = f"Atza|{fake.token('access')}"
    fake.access_tokens[access] = fake.clock.monotonic() + fake.token_lifetime
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": fake.token_lifetime,
    }
    if fake.rotate_refresh_tokens:
        rotated = f"Atzr|{fake.token('refresh')}"
        fake.refresh_tokens = {rotated}
        body["refresh_token"] = rotated
    return httpx.Response(200, json=body)


def _grantless_token(fake: FakeSellingPartner, fields: dict[str, str]) -> httpx.Response:
    """Issue a grantless token: the app's own credentials and a scope, no refresh token."""
    scope = fields.get("scope")
    if not scope:
        return lwa_error(400, "invalid_request", "The request is missing a required parameter")
    if scope not in _GRANTLESS_SCOPES:
        return lwa_error(400, "invalid_scope", "The requested scope is invalid")
    if (
        fields.get("client_id") != fake.client_id
        or fields.get("client_secret") != fake.client_secret
    ):
        return lwa_error(401, "invalid_client", "Client authentication failed")
    access = f"Atza|{fake.token('grantless')}"
    fake.grantless_tokens[access] = (fake.clock.monotonic() + fake.token_lifetime, scope)
    return httpx.Response(
        200,
        json={"access_token": access, "token_type": "bearer", "expires_in": fake.token_lifetime},
    )


def s3(
    fake: FakeSellingPartner, request: httpx.Request, operation: str, document_id: str
) -> httpx.Response:
    """Answer a pre-signed document URL: upload the feed, or download a result."""
    document = fake.documents.get(document_id)
    signature = dict(parse_qsl(request.url.query.decode("ascii", "replace"))).get("X-Amz-Signature")
    if document is None or signature != document.signature:
        return s3_error(403, "SignatureDoesNotMatch", "The request signature does not match.")
    if "x-amz-access-token" in request.headers:
        # Headers named x-amz-* must be signed on a pre-signed URL; this one never is.
        return s3_error(403, "AccessDenied", "There were headers present that were not signed.")
    if operation == "uploadFeedDocument":
        if request.headers.get("Content-Type") != document.content_type:
            return s3_error(
                403, "SignatureDoesNotMatch", "Content-Type differs from the signed one."
            )
        document.content = request.content
        return httpx.Response(200, headers={"ETag": f'"{document.signature[:32]}"'})
    if document.content is None:
        return s3_error(404, "NoSuchKey", "The specified key does not exist.")
    return httpx.Response(
        200, headers={"Content-Type": document.content_type}, content=document.content
    )
