"""Who may change state through the console, and protection against cross-site requests.

Requests that change state carry ``Authorization: Bearer TOKEN``. The console never
uses cookies, so another site's page cannot make a browser send the token; requests
that say they come from another site (``Sec-Fetch-Site``, ``Origin``) are refused
anyway. The token is compared in constant time and never shown or logged.
"""

from __future__ import annotations

import hmac
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request

__all__ = ["OPERATOR_HEADER", "authorize", "same_origin"]

#: The header a page sends with the name its operator gave (kept in the audit trail).
OPERATOR_HEADER = "X-Channelsync-Operator"
_NAME = re.compile(r"[^\w .@-]+")


def same_origin(request: Request) -> None:
    """Refuse (403) a request a browser marks as sent from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        raise HTTPException(403, "cross-site requests are refused")
    origin = request.headers.get("origin")
    if origin is not None and origin.partition("://")[2] != request.headers.get("host", ""):
        raise HTTPException(403, f"requests from {origin} are refused")


def authorize(request: Request, token: str | None) -> str:
    """Check the request's bearer token; return who made it, for the audit trail.

    Raises 401 when the console has no token configured or the request carries a
    different one.
    """
    if not token:
        raise HTTPException(
            401,
            "changes through the console need a token, and none is configured "
            "(set CHANNELSYNC_CONSOLE_TOKEN, or the variable named by [console] token_env)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise HTTPException(
            401, "a valid console token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    name = _NAME.sub("", request.headers.get(OPERATOR_HEADER, "")).strip()[:64] or "operator"
    client = request.client.host if request.client else "unknown"
    return f"{name} (console, from {client})"
