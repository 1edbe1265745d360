"""Signing PDD gateway calls: common parameters, MD5 signature, refreshable access token.

Every call is a form POST to ``/api/router`` whose fields are the business
parameters plus ``type``, ``client_id``, ``access_token`` (user-authorized methods),
``timestamp`` (UNIX seconds), ``data_type=JSON`` and ``sign`` =
``MD5(secret + sorted name+value pairs + secret)`` in upper-case hex. Complex values
travel as compact JSON text and are signed as that exact text. Empty values are
never sent: PDD's own SDKs disagree on whether they are signed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from channelsync.clock import Clock
from channelsync.errors import UsageError
from channelsync.http import (
    ParamDigest,
    TokenCache,
    TokenSigner,
    form_fields,
    sign_params,
    with_form_fields,
)
from channelsync_pinduoduo.envelope import is_expired_token

__all__ = [
    "DATA_TYPE",
    "TOKEN_FREE_METHODS",
    "PddSigner",
    "encode_params",
    "encode_value",
    "sign_fields",
    "unix_seconds",
]

DATA_TYPE = "JSON"

#: Methods signed without ``access_token`` (they issue or refresh it).
TOKEN_FREE_METHODS: frozenset[str] = frozenset(
    {"pdd.pop.auth.token.create", "pdd.pop.auth.token.refresh"}
)


def encode_value(value: Any) -> str:
    """Return the wire text of one parameter value.

    Booleans become ``true``/``false``; lists and objects compact JSON (the exact
    text that is signed); numbers their decimal text. ``float`` is refused, since
    a binary fraction has no exact decimal text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise UsageError(f"parameter value of type {type(value).__name__} cannot be sent to PDD")


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Return ``params`` as wire text, leaving out ``None`` and empty values."""
    encoded = {name: encode_value(value) for name, value in params.items() if value is not None}
    return {name: value for name, value in encoded.items() if value != ""}


def unix_seconds(clock: Clock) -> str:
    """Return the current time as PDD's ``timestamp``: whole UNIX seconds."""
    return str(int(clock.now().timestamp()))


def sign_fields(fields: Mapping[str, str], secret: str) -> str:
    """Return PDD's signature of ``fields`` (MD5 is the only method PDD accepts)."""
    return sign_params(fields, secret, ParamDigest.MD5)


class PddSigner(TokenSigner):
    """Adds the common parameters and the signature to each gateway call.

    The access token comes from ``tokens``; when PDD answers 10019 (token expired)
    and the channel holds a refresh token, the call is re-signed with a fresh token
    and sent once more. A fresh ``timestamp`` is stamped on every attempt. The transport
    hands the business fields over unencoded, so the body is encoded once, signed.
    """

    signs_form_fields: ClassVar[bool] = True

    def __init__(
        self, tokens: TokenCache, *, client_id: str, client_secret: str, clock: Clock
    ) -> None:
        super().__init__(tokens)
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self._client_id!r})"

    def _sign(self, request: httpx.Request, token: str | None) -> httpx.Request:
        fields = {name: value for name, value in form_fields(request).items() if value}
        if not fields.get("type"):
            raise UsageError("a PDD gateway call needs its 'type' parameter")
        fields.pop("sign", None)
        fields["client_id"] = self._client_id
        fields["timestamp"] = unix_seconds(self._clock)
        fields["data_type"] = DATA_TYPE
        if token is None:
            fields.pop("access_token", None)
        else:
            fields["access_token"] = token
        fields["sign"] = sign_fields(fields, self._client_secret)
        return with_form_fields(request, fields)

    def sign_with(self, request: httpx.Request, token: str) -> httpx.Request:
        """Return ``request`` carrying ``token``, the common parameters and the signature."""
        return self._sign(request, token)

    def is_token_expired(self, response: httpx.Response) -> bool:
        """Return whether PDD answered error 10019 (``access_token`` expired)."""
        return is_expired_token(response)

    def sign_without_token(self, request: httpx.Request) -> httpx.Request | None:
        """Sign token-issuing calls without a token."""
        if form_fields(request).get("type") in TOKEN_FREE_METHODS:
            return self._sign(request, None)
        return None
