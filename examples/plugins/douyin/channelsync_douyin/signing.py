"""Douyin Shop gateway signing: the ``param_json`` body, system parameters and ``sign``.

Every call is ``POST {gateway}/{a}/{b}`` whose method name is the path with dots
(``/order/searchList`` is ``order.searchList``). The business parameters travel as one
JSON text, ``param_json``, which is the request body; the system parameters (``app_key``,
``method``, ``access_token``, ``timestamp``, ``v``, ``sign_method``, ``sign``) travel in
the query string, as the official SDKs send them.

The signature covers ``app_key``, ``method``, ``param_json``, ``timestamp`` and ``v``
joined as ``name+value`` in name order (the "sorted name+value" text TOP, JOS and PDD
sign too), wrapped in the app secret on both sides, then digested with HMAC-SHA256
keyed by the secret (``sign_method=hmac-sha256``) or with plain MD5 (``md5``), in
lower-case hex. ``access_token`` and ``sign_method`` are not signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

import httpx
from channelsync.clock import Clock
from channelsync.errors import UsageError
from channelsync.http import (
    TokenCache,
    TokenSigner,
    concatenate_params,
    with_query_params,
)

__all__ = [
    "API_VERSION",
    "TOKEN_METHODS",
    "DouyinSigner",
    "ParamValue",
    "SignMethod",
    "format_timestamp",
    "method_of_path",
    "param_json",
    "sign_request_params",
    "sign_text",
]

#: The gateway's API version, always sent (and signed) as ``v``.
API_VERSION = "2"
#: Calls that create or refresh the access token itself: signed without one.
TOKEN_METHODS = frozenset({"token.create", "token.refresh"})

SignMethod = Literal["hmac-sha256", "md5"]

ParamValue = str | int | bool | None | list["ParamValue"] | Mapping[str, "ParamValue"]


def method_of_path(path: str) -> str:
    """Return the gateway method of a URL path: ``/order/searchList`` -> ``order.searchList``."""
    return path.strip("/").replace("/", ".")


def param_json(params: Mapping[str, ParamValue]) -> str:
    """Serialise business parameters as the gateway signs them.

    Keys sorted at every level, no spaces, UTF-8 text (Chinese is not escaped), as
    the Go SDK's map-then-marshal does. Money is integer fen, so a ``float`` is refused
    rather than written with binary rounding.
    """
    _refuse_floats(params)
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise UsageError(f"refusing to send the float {value!r}: send integer fen or a string")
    if isinstance(value, Mapping):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_floats(item)


def sign_text(
    *,
    app_key: str,
    method: str,
    body: str,
    timestamp: str,
    secret: str,
    sign_method: SignMethod = "hmac-sha256",
) -> str:
    """Return the lower-case hex ``sign`` of one call."""
    joined = concatenate_params(
        {
            "app_key": app_key,
            "method": method,
            "param_json": body,
            "timestamp": timestamp,
            "v": API_VERSION,
        }
    )
    wrapped = f"{secret}{joined}{secret}".encode()
    if sign_method == "md5":
        return hashlib.md5(wrapped, usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), wrapped, hashlib.sha256).hexdigest()


def format_timestamp(moment: datetime) -> str:
    """Return ``moment`` as the gateway's ``timestamp``: whole UNIX seconds."""
    if moment.tzinfo is None:
        raise UsageError(f"naive datetime {moment!r}: channelsync only handles aware times")
    return str(int(moment.timestamp()))


def sign_request_params(
    *,
    app_key: str,
    method: str,
    body: str,
    timestamp: str,
    secret: str,
    sign_method: SignMethod,
    access_token: str | None,
) -> dict[str, str]:
    """Return the system parameters of one call, ``sign`` included, in sending order."""
    params = {"app_key": app_key, "method": method}
    if access_token is not None:
        params["access_token"] = access_token
    params.update(
        {
            "param_json": body,
            "timestamp": timestamp,
            "v": API_VERSION,
            "sign_method": sign_method,
            "sign": sign_text(
                app_key=app_key,
                method=method,
                body=body,
                timestamp=timestamp,
                secret=secret,
                sign_method=sign_method,
            ),
        }
    )
    # param_json is signed but travels as the body, not in the query string.
    del params["param_json"]
    return params


class DouyinSigner(TokenSigner):
    """Adds the system parameters, the shop's access token and ``sign`` to each call.

    The request arrives as ``POST /a/b`` with ``param_json`` as its body; the body is
    signed byte for byte as sent. Every attempt gets a fresh timestamp, and a resend
    after a token refresh is signed again. The token calls themselves carry no token.
    """

    def __init__(
        self,
        tokens: TokenCache,
        *,
        app_key: str,
        secret: Callable[[], str],
        sign_method: SignMethod,
        clock: Clock,
    ) -> None:
        super().__init__(tokens)
        self._app_key = app_key
        self._secret = secret
        self._sign_method: SignMethod = sign_method
        self._clock = clock

    def _signed(self, request: httpx.Request, token: str | None) -> httpx.Request:
        body = request.content.decode("utf-8") or "{}"
        params = sign_request_params(
            app_key=self._app_key,
            method=method_of_path(request.url.path),
            body=body,
            timestamp=format_timestamp(self._clock.now()),
            secret=self._secret(),
            sign_method=self._sign_method,
            access_token=token,
        )
        return with_query_params(request, params)

    def sign_with(self, request: httpx.Request, token: str) -> httpx.Request:
        """Return ``request`` with its system parameters, ``access_token`` and ``sign``."""
        return self._signed(request, token)

    def is_token_expired(self, response: httpx.Response) -> bool:
        """Return whether the gateway said the access token expired or no longer exists."""
        try:
            body = json.loads(response.content)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("sub_code") in {
            "isv.access-token-expired",
            "isv.access-token-no-existed",
        }

    def sign_without_token(self, request: httpx.Request) -> httpx.Request | None:
        """Sign token calls without a token."""
        if method_of_path(request.url.path) in TOKEN_METHODS:
            return self._signed(request, None)
        return None
