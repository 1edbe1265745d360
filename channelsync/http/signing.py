"""Per-request authentication hooks for marketplace plugins.

:class:`RequestSigner` is for gateways that sign each request's parameters: it runs
on every attempt, so a retried call gets a fresh timestamp and signature.
:class:`TokenSigner` is the same for gateways whose signed parameters include a
short-lived access token (TOP, JOS, PDD): it re-signs with a refreshed token when the
marketplace says the token expired. :class:`RefreshingAuth` sends a short-lived token
in a header (Amazon LWA). Both keep their token in a :class:`TokenCache`, which
refreshes ahead of expiry, one refresh at a time. :func:`sign_params` is the "sorted
name+value" signature TOP, JOS and PDD share.

A signer that sets :attr:`RequestSigner.signs_form_fields` (or the same attribute of a
:class:`TokenSigner`) receives the caller's form fields unencoded, under the request
extension :data:`FORM_FIELDS_EXTENSION`, and its body empty: :func:`form_fields` reads
them from there without parsing a body, and :func:`with_form_fields` encodes the signed
fields once. The signed request carries its body only, so reading it back parses the body.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar
from urllib.parse import parse_qsl, quote_plus

import httpx

from channelsync.clock import Clock, SystemClock
from channelsync.errors import UsageError
from channelsync.http.redaction import Redactor

__all__ = [
    "FORM_CONTENT_TYPE",
    "FORM_FIELDS_EXTENSION",
    "AccessToken",
    "ParamDigest",
    "RefreshingAuth",
    "RequestSigner",
    "TokenCache",
    "TokenSigner",
    "concatenate_params",
    "encode_form",
    "form_fields",
    "query_params",
    "sign_params",
    "with_form_fields",
    "with_query_params",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: The request extension under which the transport hands a form signer the unsigned
#: fields (a ``dict[str, str]``, in the caller's order) with an empty body; see
#: :attr:`RequestSigner.signs_form_fields`.
FORM_FIELDS_EXTENSION = "channelsync.form_fields"
_FORM_CONTENT_TYPE_BYTES = FORM_CONTENT_TYPE.encode("ascii")

#: Text ``quote_plus`` leaves as it is (its always-safe characters).
_FORM_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")
#: Encoded form of texts that needed quoting, for values sent again and again (a TOP
#: ``fields`` list, a method name); cleared when full.
_QUOTED: dict[str, str] = {}
_QUOTED_MAX = 512


def _quote_form(text: object) -> str:
    if not isinstance(text, str):
        # As urlencode: bytes are quoted as they are, anything else as its str().
        return quote_plus(text if isinstance(text, bytes) else str(text))
    if _FORM_SAFE.fullmatch(text):
        return text
    quoted = _QUOTED.get(text)
    if quoted is None:
        quoted = quote_plus(text)
        if len(_QUOTED) >= _QUOTED_MAX:
            _QUOTED.clear()
        _QUOTED[text] = quoted
    return quoted


def encode_form(fields: Mapping[str, str]) -> bytes:
    """Return ``fields`` as an ``x-www-form-urlencoded`` body, in order.

    Byte for byte what ``urllib.parse.urlencode(list(fields.items()))`` gives
    (``quote_plus``: space as ``+``, UTF-8 percent-escapes), faster for fields that
    repeat from call to call.
    """
    return "&".join(
        [_quote_form(name) + "=" + _quote_form(value) for name, value in fields.items()]
    ).encode("utf-8")


def form_fields(request: httpx.Request) -> dict[str, str]:
    """Return the fields of an ``x-www-form-urlencoded`` body (empty body: ``{}``).

    Fields the transport handed over unencoded (:data:`FORM_FIELDS_EXTENSION`) are
    returned as they are, without a body to parse. Otherwise the body must have been
    read (it is, inside a :class:`RequestSigner`).
    """
    handed: Mapping[str, str] | None = request.extensions.get(FORM_FIELDS_EXTENSION)
    if handed is not None:
        return dict(handed)
    content = request.content
    if not content:
        return {}
    kind = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if kind != FORM_CONTENT_TYPE:
        raise UsageError(f"request body is {kind or 'untyped'}, not {FORM_CONTENT_TYPE}")
    return dict(parse_qsl(content.decode("utf-8"), keep_blank_values=True))


def with_form_fields(request: httpx.Request, fields: Mapping[str, str]) -> httpx.Request:
    """Return a copy of ``request`` whose body is ``fields``, urlencoded in order.

    The copy drops :data:`FORM_FIELDS_EXTENSION`: its body is the one source of its fields.
    """
    body = encode_form(fields)
    # One pass over the headers: the content headers are replaced where they stand (a
    # stale Content-Length would be kept by httpx), the rest are kept as they are.
    length = str(len(body)).encode("ascii")
    raw: list[tuple[bytes, bytes]] = []
    typed = sized = hosted = False
    for name, value in request.headers.raw:
        key = name.lower()
        if key == b"content-type":
            if not typed:
                raw.append((name, _FORM_CONTENT_TYPE_BYTES))
                typed = True
        elif key == b"content-length":
            if not sized:
                raw.append((name, length))
                sized = True
        elif key != b"transfer-encoding":
            hosted = hosted or key == b"host"
            raw.append((name, value))
    if not hosted and request.url.host:
        raw.insert(0, (b"Host", request.url.netloc))
    if not sized:
        raw.append((b"Content-Length", length))
    if not typed:
        raw.append((b"Content-Type", _FORM_CONTENT_TYPE_BYTES))
    headers = httpx.Headers(raw, encoding=request.headers.encoding)
    extensions = dict(request.extensions)
    extensions.pop(FORM_FIELDS_EXTENSION, None)
    # Given as a stream, httpx adds no headers of its own (they are all set above) and
    # does not encode the body again; read() then holds it as the request's content.
    signed = httpx.Request(
        request.method,
        request.url,
        headers=headers,
        stream=httpx.ByteStream(body),
        extensions=extensions,
    )
    signed.read()
    return signed


def query_params(request: httpx.Request) -> dict[str, str]:
    """Return the query parameters of ``request`` (the last value of a repeated key)."""
    return dict(request.url.params.items())


def with_query_params(request: httpx.Request, params: Mapping[str, str]) -> httpx.Request:
    """Return a copy of ``request`` whose query string is exactly ``params``, in order."""
    url = request.url.copy_with(params=list(params.items()))
    return httpx.Request(
        request.method,
        url,
        headers=request.headers.copy(),
        content=request.content,
        extensions=request.extensions,
    )


class ParamDigest(StrEnum):
    """The digests of the Chinese gateways' "sorted name+value" signatures (TOP, JOS, PDD)."""

    #: ``MD5(secret + joined + secret)``: TOP ``md5``, JOS default, PDD (its only method).
    MD5 = "md5"
    #: ``HMAC-MD5(key=secret, msg=joined)``: TOP ``hmac``, JOS ``hmacmd5``.
    HMAC_MD5 = "hmac-md5"
    #: ``HMAC-SHA256(key=secret, msg=joined)``: TOP ``hmac-sha256``, JOS ``hmacsha256``.
    HMAC_SHA256 = "hmac-sha256"


def concatenate_params(params: Mapping[str, str]) -> str:
    """Join ``params`` as ``name1value1name2value2…``, sorted by name in byte order.

    ``sign`` itself and parameters with an empty name or value are skipped, as the
    official SDKs do (they disagree on empty values, so channelsync never sends any).
    """
    # UTF-8 keeps code point order, so names sort by their text as by their bytes (and,
    # being unique, alone decide the order of the pairs).
    pairs = sorted(
        (name, value) for name, value in params.items() if name and value and name != "sign"
    )
    return "".join([name + value for name, value in pairs])


def sign_params(params: Mapping[str, str], secret: str, digest: ParamDigest) -> str:
    """Return the upper-case hex signature of ``params`` under ``secret``.

    This is the algorithm TOP (Taobao/Tmall), JOS (JD) and the PDD gateway share; the
    gateways differ only in which parameters they send and which digests they accept.
    """
    joined = concatenate_params(params).encode("utf-8")
    key = secret.encode("utf-8")
    if digest is ParamDigest.MD5:
        return hashlib.md5(key + joined + key, usedforsecurity=False).hexdigest().upper()
    algorithm = hashlib.md5 if digest is ParamDigest.HMAC_MD5 else hashlib.sha256
    return hmac.new(key, joined, algorithm).hexdigest().upper()


class RequestSigner(httpx.Auth, abc.ABC):
    """Base for gateways that sign each request; subclasses implement :meth:`sign`."""

    requires_request_body = True
    #: Set by signers that read the request's fields only with :func:`form_fields` and
    #: sign them into a body with :func:`with_form_fields`: the transport then hands
    #: form data over unencoded (:data:`FORM_FIELDS_EXTENSION`), so the body is encoded
    #: once, signed, instead of encoded, parsed back and encoded again.
    signs_form_fields: ClassVar[bool] = False

    @abc.abstractmethod
    def sign(self, request: httpx.Request) -> httpx.Request:
        """Return the request to send: ``request`` changed in place, or a rebuilt one."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign and send once."""
        yield self.sign(request)


class TokenSigner(httpx.Auth, abc.ABC):
    """Base for gateways that sign each request *including* a refreshable access token.

    TOP, JOS and PDD send the shop's access token as a signed parameter. Subclasses
    implement :meth:`sign_with` (add the token and the signature) and
    :meth:`is_token_expired` (the marketplace's "token expired" answer, read from the
    body). When the token is rejected and ``tokens`` can refresh, the request is
    re-signed with a new token and sent once more; otherwise the answer goes back to
    the caller, whose classifier turns it into an authentication error.
    """

    requires_request_body = True
    requires_response_body = True
    #: See :attr:`RequestSigner.signs_form_fields`.
    signs_form_fields: ClassVar[bool] = False

    def __init__(self, tokens: TokenCache) -> None:
        self.tokens = tokens

    @abc.abstractmethod
    def sign_with(self, request: httpx.Request, token: str) -> httpx.Request:
        """Return ``request`` carrying ``token`` and a fresh signature."""

    @abc.abstractmethod
    def is_token_expired(self, response: httpx.Response) -> bool:
        """Return whether ``response`` says the access token expired or was revoked."""

    def sign_without_token(self, request: httpx.Request) -> httpx.Request | None:
        """Return ``request`` signed without a token if it is a token-issuing call, else ``None``.

        The refresh call itself runs while the token cache is held, so it must not ask
        the cache for a token. Override for gateways whose refresh is a gateway method.
        """
        return None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse: refreshing is asynchronous, so only ``httpx.AsyncClient`` is supported."""
        raise UsageError(f"{type(self).__name__} works only with an async client")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Sign with the current token; on an expired-token answer refresh and resend once."""
        await request.aread()
        tokenless = self.sign_without_token(request)
        if tokenless is not None:
            yield tokenless
            return
        token = await self.tokens.token()
        response = yield self.sign_with(request, token)
        # httpx hands the response over unread on a real connection.
        await response.aread()
        if self.tokens.can_refresh and self.is_token_expired(response):
            fresh = await self.tokens.token(rejected=token)
            yield self.sign_with(request, fresh)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A token and its lifetime in seconds from when it was issued (``None``: unknown)."""

    value: str = field(repr=False)
    expires_in: float | None = None


class TokenCache:
    """Holds a short-lived access token and refreshes it when needed.

    ``refresh`` is an async callable returning a new :class:`AccessToken` (``None``:
    the grant cannot be refreshed, so :meth:`token` only hands out ``initial``). A
    token is refreshed when missing or within ``margin`` seconds of expiry, or when
    the marketplace rejected it (``rejected``). Concurrent callers share one refresh.
    New tokens are registered with ``redactor`` so they never reach a log.

    A refresh that fails is not repeated at once: until a backoff has passed
    (``failure_backoff`` seconds, doubling after each further failure up to
    ``max_failure_backoff``) every caller gets the same error again without a call to
    the marketplace. Otherwise every request of a busy channel whose token was
    rejected would ask for a new token, and a refresh refused for good (the shop must
    authorize again) would be repeated on every call.
    """

    def __init__(
        self,
        refresh: Callable[[], Awaitable[AccessToken]] | None,
        *,
        initial: AccessToken | None = None,
        clock: Clock | None = None,
        margin: float = 60.0,
        redactor: Redactor | None = None,
        failure_backoff: float = 5.0,
        max_failure_backoff: float = 300.0,
    ) -> None:
        self._refresh = refresh
        self._clock: Clock = clock or SystemClock()
        self._margin = margin
        self._redactor = redactor
        self._token: str | None = None
        self._deadline: float | None = None
        self._lock = asyncio.Lock()
        self._failure_backoff = failure_backoff
        self._max_failure_backoff = max(failure_backoff, max_failure_backoff)
        self._failure: Exception | None = None
        self._failures = 0
        self._retry_at = 0.0
        #: Refreshes asked of the marketplace that returned a token.
        self.refresh_count = 0
        #: Refreshes asked of the marketplace that failed.
        self.failed_refreshes = 0
        if initial is not None:
            self._store(initial)

    def __repr__(self) -> str:
        state = "set" if self._token else "unset"
        return f"{type(self).__name__}(token={state})"

    @property
    def can_refresh(self) -> bool:
        """Return whether a new token can be fetched."""
        return self._refresh is not None

    def invalidate(self) -> None:
        """Forget the current token; the next request refreshes."""
        self._token = None
        self._deadline = None

    def _usable(self) -> bool:
        if self._token is None:
            return False
        return self._deadline is None or self._clock.monotonic() < self._deadline - self._margin

    def _store(self, issued: AccessToken) -> None:
        if self._redactor is not None:
            self._redactor.add_secret(issued.value)
        self._token = issued.value
        self._deadline = (
            None if issued.expires_in is None else self._clock.monotonic() + issued.expires_in
        )

    async def token(self, *, rejected: str | None = None) -> str:
        """Return a usable token, refreshing if needed or if it equals ``rejected``.

        Without a refresh callable the current token is returned as it is (the
        marketplace's rejection then reaches the caller as an authentication error).
        """
        async with self._lock:
            # Another request may have refreshed while this one waited for the lock.
            current = self._token
            if current is not None and current != rejected and self._usable():
                return current
            if self._refresh is None:
                if current is None:
                    raise UsageError(f"{type(self).__name__} has no token and cannot refresh")
                return current
            if self._failure is not None and self._clock.monotonic() < self._retry_at:
                # The last refresh failed moments ago: asking again now would fail again.
                raise self._failure.with_traceback(None)
            try:
                issued = await self._refresh()
            except Exception as error:
                self._failed(error)
                raise
            self._failure = None
            self._failures = 0
            self.refresh_count += 1
            self._store(issued)
            return issued.value

    def _failed(self, error: Exception) -> None:
        self.failed_refreshes += 1
        self._failures += 1
        wait = min(self._max_failure_backoff, self._failure_backoff * 2 ** (self._failures - 1))
        self._failure = error
        self._retry_at = self._clock.monotonic() + wait


class RefreshingAuth(TokenCache, httpx.Auth):
    """Sends a short-lived access token in a header, refreshing it when needed.

    See :class:`TokenCache` for when it refreshes. The token also refreshes once when
    :meth:`is_token_expired` says a response rejected it; the request is then
    replayed once.

    Subclasses set :attr:`header_name` and :attr:`header_prefix` (e.g.
    ``x-amz-access-token`` with no prefix) and override :meth:`is_token_expired`
    for marketplaces that report expiry in the body (then also set
    ``requires_response_body = True``).
    """

    header_name: ClassVar[str] = "Authorization"
    header_prefix: ClassVar[str] = "Bearer "
    requires_request_body = True  # the body is replayed after a refresh

    def __init__(
        self,
        refresh: Callable[[], Awaitable[AccessToken]],
        *,
        clock: Clock | None = None,
        margin: float = 60.0,
        redactor: Redactor | None = None,
        failure_backoff: float = 5.0,
        max_failure_backoff: float = 300.0,
    ) -> None:
        super().__init__(
            refresh,
            clock=clock,
            margin=margin,
            redactor=redactor,
            failure_backoff=failure_backoff,
            max_failure_backoff=max_failure_backoff,
        )

    def is_token_expired(self, response: httpx.Response) -> bool:
        """Return whether ``response`` rejected the token as expired (default: HTTP 401)."""
        return response.status_code == 401

    def _apply(self, request: httpx.Request, token: str) -> None:
        request.headers[self.header_name] = f"{self.header_prefix}{token}"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse: refreshing is asynchronous, so only ``httpx.AsyncClient`` is supported."""
        raise UsageError(f"{type(self).__name__} works only with an async client")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with a valid token; on an expired-token answer refresh and replay once."""
        await request.aread()
        token = await self.token()
        self._apply(request, token)
        response = yield request
        if self.requires_response_body:
            await response.aread()
        if self.is_token_expired(response):
            self._apply(request, await self.token(rejected=token))
            yield request
