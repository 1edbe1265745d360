"""The one HTTP transport every marketplace plugin talks through.

Each call is paced by a token bucket, signed by the plugin's ``httpx.Auth``,
classified into the channelsync error tree, retried by policy and counted in
metrics. Everything that reaches a log is redacted; exception text never holds
headers, query strings or bodies.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from functools import partial
from types import TracebackType
from typing import Any, Self

import httpx

from channelsync._version import __version__
from channelsync.clock import Clock, SystemClock
from channelsync.errors import (
    ChannelError,
    DataError,
    InvalidRequestError,
    OutcomeUnknownError,
    RateLimitedError,
    RetryableChannelError,
    TransientError,
    UsageError,
)
from channelsync.http.classify import (
    HttpStatusClassifier,
    ResponseClassifier,
    decode_json,
    parse_json,
    transport_error,
)
from channelsync.http.metrics import OUTCOME_OK, TransportMetrics
from channelsync.http.ratelimit import LimitsSource, RateLimiter, TokenBucket
from channelsync.http.redaction import RedactingFilter, Redactor
from channelsync.http.retry import RetryPolicy, build_retrying
from channelsync.http.signing import FORM_CONTENT_TYPE, FORM_FIELDS_EXTENSION, encode_form
from channelsync.http.tls import is_loopback_url, tls_context, tls_verification

__all__ = [
    "DEFAULT_POOL_LIMITS",
    "DEFAULT_TIMEOUT",
    "REQUEST_ID_HEADERS",
    "ChannelHttpClient",
    "amazon_rate_limit",
    "is_loopback_url",
    "request_id_from_headers",
    "tls_verification",
]

logger = logging.getLogger("channelsync.http")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_POOL_LIMITS = httpx.Limits(
    max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0
)
#: Response headers that carry the marketplace's request id, in order of preference.
REQUEST_ID_HEADERS = (
    "x-amzn-RequestId",
    "x-amz-request-id",
    "x-request-id",
    "x-requestid",
    "request-id",
)


#: Transport failures that happen before a request leaves: resending is always safe.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Absolute URLs a client keeps parsed (forgotten all at once when full).
_MAX_PARSED_URLS = 64


def _plain_fields(data: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Return form ``data`` as a dict of text fields, or ``None`` if it is anything else.

    Only text names and values are handed to a signer unencoded; any other value
    (numbers, lists of repeated fields) goes through httpx's own encoding as before.
    """
    if data is None:
        return None
    fields = dict(data)
    for name, value in fields.items():
        if type(name) is not str or type(value) is not str:
            return None
    return fields


def _outcome_unknown(cause: ChannelError) -> OutcomeUnknownError:
    """Wrap a failure of an unsafe write whose fate the answer did not tell."""
    error = OutcomeUnknownError(
        f"outcome unknown, not resent ({cause.message})",
        cause=cause,
        channel=cause.channel,
        operation=cause.operation,
        code=cause.code,
        status_code=cause.status_code,
        request_id=cause.request_id,
    )
    error.__cause__ = cause
    return error


def amazon_rate_limit(response: httpx.Response) -> float | None:
    """Read SP-API's ``x-amzn-RateLimit-Limit`` (requests per second), if present."""
    value = response.headers.get("x-amzn-RateLimit-Limit")
    if value is None:
        return None
    try:
        rate = float(value)
    except ValueError:
        return None
    return rate if rate > 0 else None


#: Lower-case names of :data:`REQUEST_ID_HEADERS`, by preference (lower is preferred).
_REQUEST_ID_RANKS = {
    name.lower().encode("ascii"): rank for rank, name in enumerate(REQUEST_ID_HEADERS)
}


def request_id_from_headers(response: httpx.Response) -> str | None:
    """Return the first of :data:`REQUEST_ID_HEADERS` present on ``response``.

    A repeated header is read as httpx reads it (values joined by ``", "``); an empty
    one counts as absent. The headers are read once, not once per name.
    """
    found: dict[int, list[bytes]] = {}
    for name, value in response.headers.raw:
        rank = _REQUEST_ID_RANKS.get(name.lower())
        if rank is not None:
            found.setdefault(rank, []).append(value)
    if not found:
        return None
    encoding = response.headers.encoding
    for rank in sorted(found):
        text = ", ".join(value.decode(encoding) for value in found[rank])
        if text:
            return text
    return None


class _Cookies(httpx.Cookies):
    """A cookie store that leaves the jar alone for answers that set no cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Store the cookies ``response`` sets; skip the jar when it sets none."""
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _AsyncClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose cookie store skips answers without ``Set-Cookie``.

    httpx hands every answer to ``http.cookiejar``, building a urllib request and an
    email message from it, although the jar does nothing with one that sets no cookie
    (marketplace APIs set none): about a tenth of httpx's own CPU per call. Cookies
    that are set are stored and sent as before.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookie_store = _Cookies(super().cookies)

    @property
    def cookies(self) -> httpx.Cookies:
        """Cookie values to include when sending requests."""
        return self._cookie_store

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._cookie_store = _Cookies(cookies)


class ChannelHttpClient:
    """An ``httpx.AsyncClient`` wrapped with pacing, retries, errors and metrics.

    Use it as an async context manager (or call :meth:`aclose`). ``limits`` gives a
    rate limit per operation key (a ``ChannelLimits`` fits); pass a shared
    ``rate_limiter`` to pace several clients of one channel together.
    ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    ``verify`` is on by default; decide it with :func:`tls_verification`, which
    refuses to turn it off silently for a marketplace host.
    """

    def __init__(
        self,
        channel: str,
        base_url: str,
        *,
        limits: LimitsSource,
        unsafe_operations: Collection[str] = (),
        auth: httpx.Auth | None = None,
        classifier: ResponseClassifier | None = None,
        retry_policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        metrics: TransportMetrics | None = None,
        redactor: Redactor | None = None,
        rate_limiter: RateLimiter | None = None,
        rate_limit_from_response: Callable[[httpx.Response], float | None]
        | None = amazon_rate_limit,
        request_id_from_response: Callable[[httpx.Response], str | None]
        | None = request_id_from_headers,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        pool_limits: httpx.Limits = DEFAULT_POOL_LIMITS,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        verify: bool | ssl.SSLContext = True,
        on_success: Callable[[], None] | None = None,
    ) -> None:
        self.channel = channel
        self._on_success = on_success
        self.unsafe_operations = frozenset(unsafe_operations)
        if verify is False and not is_loopback_url(base_url) and transport is None:
            # The only way here is past tls_verification's checks: say it every time.
            logger.warning(
                "TLS certificate verification is off for channel %r (%s)",
                channel,
                httpx.URL(base_url).host,
                extra={"channel": channel, "operation": "connect"},
            )
        self.clock: Clock = clock or SystemClock()
        self.classifier: ResponseClassifier = classifier or HttpStatusClassifier(self.clock)
        self.retry_policy = retry_policy or RetryPolicy()
        self.metrics = metrics or TransportMetrics()
        self.redactor = redactor or Redactor()
        self.rate_limiter = rate_limiter or RateLimiter(self.clock)
        if not self.rate_limiter.is_configured(channel):
            self.rate_limiter.configure(channel, limits)
        self._rate_from_response = rate_limit_from_response
        self._request_id_from_response = request_id_from_response
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._closed = False
        self._signs_form_fields = bool(getattr(auth, "signs_form_fields", False))
        #: Absolute URLs already parsed: a gateway plugin posts every call to one URL.
        self._urls: dict[str, httpx.URL] = {}
        # httpx logs every request URL at INFO; some grants (JD's OAuth refresh) put
        # secrets in the query string, so its records are scrubbed while this client lives.
        self._httpx_log_filter = RedactingFilter(self.redactor)
        logging.getLogger("httpx").addFilter(self._httpx_log_filter)
        self._client = _AsyncClient(
            base_url=base_url,
            auth=auth,
            headers={"User-Agent": f"channelsync/{__version__}", **(headers or {})},
            timeout=timeout,
            limits=pool_limits,
            transport=transport,
            verify=tls_context(verify),  # one per process, not one per client
            http1=True,
            http2=False,
            follow_redirects=False,
        )
        base = self._client.base_url
        #: The base URL as text to put a relative path after (``None``: let httpx join them).
        self._url_prefix: str | None = None
        if not (base.query or base.fragment or base.userinfo):
            self._url_prefix = (
                f"{base.scheme}://{base.netloc.decode('ascii')}{base.raw_path.decode('ascii')}"
            )

    def __repr__(self) -> str:
        return f"ChannelHttpClient(channel={self.channel!r}, base_url={str(self.base_url)!r})"

    @property
    def base_url(self) -> httpx.URL:
        """The base URL relative request URLs are joined to."""
        return self._client.base_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    async def __aenter__(self) -> Self:
        if self._closed:
            raise UsageError(f"HTTP client for channel {self.channel!r} is already closed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; further requests raise :class:`UsageError`."""
        self._closed = True
        logging.getLogger("httpx").removeFilter(self._httpx_log_filter)
        await self._client.aclose()

    def _extra(self, operation: str) -> dict[str, str]:
        return {"channel": self.channel, "operation": operation}

    async def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        expect_json: bool = False,
        resend_safe: bool | None = None,
    ) -> httpx.Response:
        """Send a request, retrying per policy; return the successful response.

        ``operation`` is the rate-limit key and the label in logs, errors and
        metrics. With ``expect_json`` a successful answer whose body is not JSON (an
        HTML error page, a body cut short) counts as a failed attempt and is retried
        like a timeout (:class:`~channelsync.http.classify.UnreadableResponseError`).
        ``resend_safe`` says whether sending the call twice does no harm; by default
        it is unless ``operation`` is among the client's ``unsafe_operations``. An
        unsafe call is resent only when it provably never reached the marketplace (no
        connection, throttled); a lost, cut or garbled answer or a server error raises
        :class:`~channelsync.errors.OutcomeUnknownError` instead.
        Raises a :class:`~channelsync.errors.ChannelError` subclass with channel,
        operation and request id filled in.
        """
        if self._closed:
            raise UsageError(f"HTTP client for channel {self.channel!r} is closed")
        if resend_safe is None:
            resend_safe = operation not in self.unsafe_operations
        attempt_once = partial(
            self._attempt,
            method,
            url,
            operation=operation,
            params=params,
            data=data,
            json=json,
            content=content,
            headers=headers,
            expect_json=expect_json,
            resend_safe=resend_safe,
        )
        # The first attempt runs without a retry controller: most calls succeed at once,
        # and building one costs more than the rest of the transport's bookkeeping.
        try:
            return await attempt_once()
        except RetryableChannelError as error:
            first_failure: RetryableChannelError = error
        except ChannelError as error:
            self._log_failure(
                method, url, params=params, operation=operation, attempts=1, error=error
            )
            raise
        retrying = build_retrying(
            self.retry_policy,
            clock=self.clock,
            channel=self.channel,
            operation=operation,
            rng=self._rng,
            on_retry=lambda _error, _wait: self.metrics.count_retry(self.channel, operation),
        )
        replayed = False
        try:
            async for attempt in retrying:
                with attempt:
                    if not replayed:
                        # The controller's first attempt is the one that already failed:
                        # it waits, logs and counts the backoff exactly as for any other.
                        replayed = True
                        raise first_failure
                    return await attempt_once()
        except ChannelError as error:
            attempts = retrying.statistics.get("attempt_number", 1)
            self._log_failure(
                method, url, params=params, operation=operation, attempts=attempts, error=error
            )
            raise
        raise UsageError("retry loop ended without an outcome")  # not reached: reraise=True

    def _log_failure(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        operation: str,
        attempts: int,
        error: ChannelError,
    ) -> None:
        # Logged once per call here; each backoff was logged by the retry policy.
        logger.warning(
            "%s %s failed after %d attempt(s): %s",
            method,
            self._describe_url(url, params),
            attempts,
            error,
            extra=self._extra(operation),
        )

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        resend_safe: bool | None = None,
    ) -> Any:
        """Like :meth:`request`, returning the decoded JSON body.

        A body that is not JSON is retried like a timeout, then raised as
        :class:`~channelsync.http.classify.UnreadableResponseError` (a :class:`DataError`).
        """
        response = await self.request(
            method,
            url,
            operation=operation,
            params=params,
            data=data,
            json=json,
            content=content,
            headers=headers,
            expect_json=True,
            resend_safe=resend_safe,
        )
        try:
            # Decoded and checked inside the attempt already: this is the cached body.
            return decode_json(response)
        except ValueError:
            return parse_json(
                response,
                channel=self.channel,
                operation=operation,
                request_id=self._request_id(response),
            )

    def _target(
        self, url: str, params: Mapping[str, Any] | None
    ) -> tuple[httpx.URL | str, Mapping[str, Any] | None]:
        """Return the URL and query to build a request with, parsing the URL text once.

        httpx parses a relative URL, then the joined one, then again with the query;
        the same URL is built here from one parse (an absolute URL is parsed once per
        client). Anything unusual (a query or fragment in ``url``, a scheme-relative or
        scheme-only URL, a base URL with a query) is left to httpx as it is.
        """
        if not isinstance(url, str) or "?" in url or "#" in url:
            return url, params
        if url.startswith("/") and not url.startswith("//") and self._url_prefix is not None:
            text = self._url_prefix + url.lstrip("/")
            query = "" if params is None else str(httpx.QueryParams(params))
            return httpx.URL(f"{text}?{query}" if query else text), None
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if parsed.is_relative_url:
                return url, params
            if len(self._urls) >= _MAX_PARSED_URLS:
                self._urls.clear()
            self._urls[url] = parsed
        return parsed, params

    def _describe_url(self, url: str, params: Mapping[str, Any] | None) -> str:
        try:
            full = self._client.build_request("GET", url, params=params).url
        except (httpx.InvalidURL, TypeError, ValueError):
            return self.redactor.redact_text(url)
        return self.redactor.redact_url(full)

    def _request_id(self, response: httpx.Response) -> str | None:
        if self._request_id_from_response is None:
            return None
        return self._request_id_from_response(response)

    def _follow(self, bucket: TokenBucket, response: httpx.Response) -> None:
        if self._rate_from_response is None:
            return
        rate = self._rate_from_response(response)
        if rate is not None:
            bucket.follow(rate)

    def _classify(
        self, response: httpx.Response, operation: str, *, expect_json: bool
    ) -> ChannelError | None:
        try:
            classified = self.classifier.classify(response, operation)
            if classified is None and expect_json:
                # Decoded here, inside the retried attempt: a body cut short or replaced
                # on the way is a transport accident, not the marketplace's answer.
                parse_json(response, channel=self.channel, operation=operation)
        except ChannelError as raised:
            return raised
        return classified

    def _finish(self, error: ChannelError, operation: str, seconds: float) -> ChannelError:
        """Fill in context, scrub known secrets from the message and count the outcome."""
        error.with_context(channel=self.channel, operation=operation)
        # A plugin's classifier may quote the marketplace's message, which can echo input.
        error.message = self.redactor.redact_text(error.message)
        error.args = (error.message,)
        self.metrics.observe_request(self.channel, operation, type(error).__name__, seconds)
        return error

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        json: Any,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
        expect_json: bool = False,
        resend_safe: bool = True,
    ) -> httpx.Response:
        bucket = self.rate_limiter.bucket(self.channel, operation)
        await bucket.acquire()
        # A form signer gets the fields as they are and encodes the body once, signed.
        handed = self._signs_form_fields and content is None and json is None
        fields = _plain_fields(data) if handed else None
        # Built afresh for every attempt so a signer stamps a new timestamp and signature.
        try:
            target, query = self._target(url, params)
            request = self._client.build_request(
                method,
                target,
                params=query,
                data=None if fields is not None else data,
                json=json,
                content=content,
                headers=headers,
                extensions=None if fields is None else {FORM_FIELDS_EXTENSION: fields},
            )
        except httpx.InvalidURL as exc:
            # An id taken from a marketplace answer that cannot go in a URL (control bytes).
            bucket.withdraw()
            invalid = InvalidRequestError(f"{method} {self.redactor.redact_text(url)!r}: {exc}")
            raise self._finish(invalid, operation, 0.0) from None
        extra = self._extra(operation)
        if logger.isEnabledFor(logging.DEBUG):
            self._log_request(request, fields, extra)
        started = time.perf_counter()
        try:
            try:
                response = await self._client.send(request)
            finally:
                # Answered, failed or cancelled on its way: it may have arrived either way.
                bucket.landed()
        except httpx.TransportError as exc:
            failure = transport_error(exc, channel=self.channel, operation=operation)
            if not resend_safe and not isinstance(exc, _NEVER_SENT):
                failure = _outcome_unknown(failure)
            error = self._finish(failure, operation, time.perf_counter() - started)
            if logger.isEnabledFor(logging.DEBUG):
                url_text = self.redactor.redact_url(request.url)
                logger.debug("%s %s: %s", method, url_text, error, extra=extra)
            raise error from exc
        except ChannelError as error:
            # Raised by the auth hook, e.g. a token refresh that failed.
            raise self._finish(error, operation, time.perf_counter() - started) from None
        elapsed = time.perf_counter() - started

        request_id = self._request_id(response)
        self._follow(bucket, response)
        classified = self._classify(response, operation, expect_json=expect_json)
        if logger.isEnabledFor(logging.DEBUG):
            # Response bodies are not logged: order payloads carry buyers' personal data.
            logger.debug(
                "%s %s -> HTTP %d in %.3fs (%d bytes, request id %s)",
                method,
                self.redactor.redact_url(response.request.url),
                response.status_code,
                elapsed,
                len(response.content),
                request_id,
                extra=extra,
            )
        if classified is None:
            self.metrics.observe_request(self.channel, operation, OUTCOME_OK, elapsed)
            if self._on_success is not None:
                self._on_success()
            return response
        classified.with_context(request_id=request_id)
        if classified.status_code is None:
            classified.status_code = response.status_code
        raise self._finish(
            self._failed_answer(classified, bucket, operation, resend_safe=resend_safe),
            operation,
            elapsed,
        )

    def _log_request(
        self, request: httpx.Request, fields: dict[str, str] | None, extra: Mapping[str, str]
    ) -> None:
        """Log a request about to go, its body redacted (at debug level)."""
        if fields is None:
            body = self.redactor.redact_body(request.content, request.headers.get("Content-Type"))
        else:
            body = self.redactor.redact_body(encode_form(fields), FORM_CONTENT_TYPE)
        url = self.redactor.redact_url(request.url)
        logger.debug("%s %s body=%s", request.method, url, body, extra=extra)

    def _failed_answer(
        self, error: ChannelError, bucket: TokenBucket, operation: str, *, resend_safe: bool
    ) -> ChannelError:
        """Act on an answer classified as a failure; return the error to raise."""
        if isinstance(error, RateLimitedError):
            self.metrics.count_throttle(self.channel, operation)
            if error.retry_after is not None:
                bucket.penalise(min(error.retry_after, self.retry_policy.max_server_wait))
            else:
                bucket.drain()
        elif not resend_safe and isinstance(error, TransientError | DataError):
            # A server error or an unreadable answer says nothing of whether it was applied.
            return _outcome_unknown(error)
        return error
