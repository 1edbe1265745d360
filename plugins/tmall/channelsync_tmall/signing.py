"""TOP request signing: system parameters, the sorted name+value signature, the session.

Every call is a form POST to the gateway. TOP reads parameters from the query string
and the body alike and signs their union; all of them, system parameters
(``app_key``, ``session``, ``timestamp``, ``v``, ``format``, ``sign_method``,
``sign``) included, go in the form body here, so no session or signature ever
appears in a URL (URLs reach logs that channelsync does not control).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import httpx

from channelsync.clock import Clock, format_local_time
from channelsync.http import (
    ParamDigest,
    TokenCache,
    TokenSigner,
    decode_json,
    form_fields,
    sign_params,
    with_form_fields,
)

__all__ = [
    "API_VERSION",
    "DIGESTS",
    "SESSIONLESS_METHODS",
    "SignMethod",
    "TopSigner",
    "signed_system_params",
]

SignMethod = Literal["md5", "hmac", "hmac-sha256"]

API_VERSION = "2.0"

#: TOP's ``sign_method`` values and the digest each one names.
DIGESTS: Mapping[str, ParamDigest] = {
    "md5": ParamDigest.MD5,
    "hmac": ParamDigest.HMAC_MD5,
    "hmac-sha256": ParamDigest.HMAC_SHA256,
}

#: Gateway methods called with the app's own signature only (no shop session).
SESSIONLESS_METHODS = frozenset(
    {"taobao.top.auth.token.refresh", "taobao.top.auth.token.create", "taobao.tmc.auth.get"}
)

#: The parameters a signer owns; replaced, never signed twice, when a call is re-signed.
_SYSTEM_NAMES = frozenset(
    {"app_key", "format", "session", "sign", "sign_method", "timestamp", "v", "partner_id"}
)


def signed_system_params(
    business: Mapping[str, str],
    *,
    app_key: str,
    secret: str,
    sign_method: SignMethod,
    timestamp: str,
    session: str | None,
) -> dict[str, str]:
    """Return the system parameters, ``sign`` included, for a call with ``business`` params.

    ``business`` holds ``method`` and the method's own parameters. Empty values are
    neither sent nor signed.
    """
    system = {
        "app_key": app_key,
        "format": "json",
        "sign_method": sign_method,
        "timestamp": timestamp,
        "v": API_VERSION,
    }
    if session:
        system["session"] = session
    system["sign"] = sign_params({**business, **system}, secret, DIGESTS[sign_method])
    return system


class TopSigner(TokenSigner):
    """Signs each gateway call with the shop's session, refreshing it when TOP rejects it.

    The system parameters are stamped into the form body afresh on every attempt, so a
    retried or replayed call carries a fresh timestamp and signature. The transport hands
    the business fields over unencoded, so the body is encoded once, signed.
    """

    signs_form_fields: ClassVar[bool] = True

    def __init__(
        self,
        tokens: TokenCache,
        *,
        app_key: str,
        secret: str,
        sign_method: SignMethod,
        clock: Clock,
    ) -> None:
        super().__init__(tokens)
        self._app_key = app_key
        self._secret = secret
        self._sign_method: SignMethod = sign_method
        self._clock = clock

    def __repr__(self) -> str:
        return f"TopSigner(app_key={self._app_key!r}, sign_method={self._sign_method!r})"

    def _sign(self, request: httpx.Request, session: str | None) -> httpx.Request:
        business = {k: v for k, v in form_fields(request).items() if k not in _SYSTEM_NAMES}
        system = signed_system_params(
            business,
            app_key=self._app_key,
            secret=self._secret,
            sign_method=self._sign_method,
            timestamp=format_local_time(self._clock.now()),
            session=session,
        )
        return with_form_fields(request, {**business, **system})

    def sign_with(self, request: httpx.Request, token: str) -> httpx.Request:
        """Return ``request`` carrying ``token`` as ``session`` and a fresh signature."""
        return self._sign(request, token)

    def is_token_expired(self, response: httpx.Response) -> bool:
        """Return whether TOP answered "invalid session" (code 27)."""
        try:
            body = decode_json(response)
        except ValueError:
            return False
        error = body.get("error_response") if isinstance(body, dict) else None
        return isinstance(error, dict) and str(error.get("code")) == "27"

    def sign_without_token(self, request: httpx.Request) -> httpx.Request | None:
        """Sign token calls without a session (they run while a refresh holds the cache)."""
        if form_fields(request).get("method") in SESSIONLESS_METHODS:
            return self._sign(request, None)
        return None
