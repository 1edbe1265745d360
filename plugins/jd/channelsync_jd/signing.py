"""JOS request signing: system parameters, the ``360buy_param_json`` text and its signature.

Every business parameter travels inside one JSON string, ``360buy_param_json``. The
official SDK puts the system parameters and ``sign`` in the query string; the gateway
reads query and form alike, and channelsync sends everything in the form body so that
no token ever sits in a URL. The signature covers the exact JSON text that is sent, so the
text is built once (:func:`param_json`) and never re-serialised afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import ClassVar, Literal

import httpx

from channelsync.clock import CHINA_STANDARD_TIME, Clock
from channelsync.errors import UsageError
from channelsync.http import (
    ParamDigest,
    TokenCache,
    TokenSigner,
    decode_json,
    form_fields,
    query_params,
    sign_params,
    with_form_fields,
    with_query_params,
)

__all__ = [
    "API_VERSION",
    "PARAM_JSON",
    "JosSigner",
    "SignMethod",
    "digest_for",
    "format_timestamp",
    "param_json",
    "sign_jos",
]

#: The form field that carries every business parameter as one JSON string.
PARAM_JSON = "360buy_param_json"
#: The only API version the gateway speaks.
API_VERSION = "2.0"

SignMethod = Literal["md5", "hmacmd5", "hmacsha256"]

_DIGESTS: dict[str, ParamDigest] = {
    "md5": ParamDigest.MD5,
    "hmacmd5": ParamDigest.HMAC_MD5,
    "hmacsha256": ParamDigest.HMAC_SHA256,
}

ParamValue = str | int | Decimal | bool | None | list["ParamValue"] | Mapping[str, "ParamValue"]


def digest_for(sign_method: str) -> ParamDigest:
    """Return the digest of a JOS ``sign_method`` (case-insensitive; ``md5`` is the default)."""
    try:
        return _DIGESTS[sign_method.lower()]
    except KeyError:
        raise UsageError(f"unknown JOS sign_method {sign_method!r}") from None


_LITERALS: dict[object, str] = {None: "null", True: "true", False: "false"}


def _encode(value: ParamValue) -> str:
    if value is None or isinstance(value, bool):
        return _LITERALS[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UsageError(f"cannot send the non-finite number {value}")
        # Plain notation: JSON has no room for "1E+2" style exponents from Decimal.
        return format(value, "f")
    if isinstance(value, str):
        return encode_basestring(value)  # json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    return param_json(value)


def param_json(params: Mapping[str, ParamValue]) -> str:
    """Serialise business parameters as JOS expects: keys sorted, compact, UTF-8 text.

    ``Decimal`` values become JSON numbers written exactly (prices in yuan), never floats.
    """
    items = sorted(params.items(), key=lambda pair: pair[0])
    # encode_basestring_ascii(key) is json.dumps(key); the C encoders skip building a
    # JSONEncoder per value.
    return (
        "{"
        + ",".join([f"{encode_basestring_ascii(key)}:{_encode(value)}" for key, value in items])
        + "}"
    )


def format_timestamp(moment: datetime) -> str:
    """Format ``moment`` as the official SDK does: ``yyyy-MM-dd HH:mm:ss.SSS+0800`` (GMT+8)."""
    if moment.tzinfo is None:
        raise UsageError(f"naive datetime {moment!r}: channelsync only handles aware times")
    local = moment.astimezone(CHINA_STANDARD_TIME)
    # The same text as f"{local:%Y-%m-%d %H:%M:%S}.{ms:03d}+0800", without strftime.
    return "%04d-%02d-%02d %02d:%02d:%02d.%03d+0800" % (  # noqa: UP031 - the fastest here
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond // 1000,
    )


def sign_jos(params: Mapping[str, str], secret: str, sign_method: str = "md5") -> str:
    """Return the ``sign`` of the system parameters plus ``360buy_param_json`` (upper hex)."""
    return sign_params(params, secret, digest_for(sign_method))


class JosSigner(TokenSigner):
    """Adds the system parameters, the shop's access token and the signature to a call.

    The request arrives with ``method`` in its query string and ``360buy_param_json``
    in its form body; both are kept byte for byte. Every attempt gets a fresh
    timestamp, and a re-send after a token refresh is signed again. The transport hands
    the form fields over unencoded, so the body is encoded once, signed.
    """

    signs_form_fields: ClassVar[bool] = True

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
        self._sign_method = sign_method
        self._digest = digest_for(sign_method)
        self._clock = clock

    def sign_with(self, request: httpx.Request, token: str) -> httpx.Request:
        """Return ``request`` with system parameters, ``access_token`` and ``sign`` in its body.

        Everything travels in the form body, never in the URL: URLs end up in proxy and
        HTTP library logs, and the access token must not.
        """
        form = form_fields(request)
        method = form.get("method") or query_params(request).get("method")
        if not method:
            raise UsageError("a JOS call needs its method name")
        params = {
            "method": method,
            "app_key": self._app_key,
            "access_token": token,
            "timestamp": format_timestamp(self._clock.now()),
            "v": API_VERSION,
        }
        if self._digest is not ParamDigest.MD5:
            # Absent means MD5; any other method is named, and so signed too.
            params["sign_method"] = self._sign_method
        params[PARAM_JSON] = form.get(PARAM_JSON, "")
        params["sign"] = sign_params(params, self._secret(), self._digest)
        if request.url.query:
            request = with_query_params(request, {})
        return with_form_fields(request, params)

    def is_token_expired(self, response: httpx.Response) -> bool:
        """Return whether the gateway answered code ``19`` (token invalid or expired)."""
        try:
            body = decode_json(response, parse_float=Decimal)
        except ValueError:
            return False
        if not isinstance(body, dict):
            return False
        error = body.get("error_response")
        return isinstance(error, dict) and str(error.get("code")) == "19"
