"""The shared async HTTP transport for marketplace plugins.

:class:`ChannelHttpClient` paces, signs, classifies, retries, redacts and counts
every marketplace call; the other names are its parts, for plugins to extend.
"""

from __future__ import annotations

from channelsync.http.classify import (
    HttpStatusClassifier,
    ResponseClassifier,
    UnreadableResponseError,
    decode_json,
    parse_json,
    parse_retry_after,
    transport_error,
)
from channelsync.http.client import (
    DEFAULT_POOL_LIMITS,
    DEFAULT_TIMEOUT,
    REQUEST_ID_HEADERS,
    ChannelHttpClient,
    amazon_rate_limit,
    request_id_from_headers,
)
from channelsync.http.metrics import OUTCOME_OK, TransportMetrics
from channelsync.http.ratelimit import LimitsSource, RateLimiter, RateLimitLike, TokenBucket
from channelsync.http.redaction import DEFAULT_SECRET_KEYS, MASK, RedactingFilter, Redactor
from channelsync.http.retry import RetryPolicy, build_retrying
from channelsync.http.signing import (
    FORM_CONTENT_TYPE,
    FORM_FIELDS_EXTENSION,
    AccessToken,
    ParamDigest,
    RefreshingAuth,
    RequestSigner,
    TokenCache,
    TokenSigner,
    concatenate_params,
    encode_form,
    form_fields,
    query_params,
    sign_params,
    with_form_fields,
    with_query_params,
)

__all__ = [
    "DEFAULT_POOL_LIMITS",
    "DEFAULT_SECRET_KEYS",
    "DEFAULT_TIMEOUT",
    "FORM_CONTENT_TYPE",
    "FORM_FIELDS_EXTENSION",
    "MASK",
    "OUTCOME_OK",
    "REQUEST_ID_HEADERS",
    "AccessToken",
    "ChannelHttpClient",
    "HttpStatusClassifier",
    "LimitsSource",
    "ParamDigest",
    "RateLimitLike",
    "RateLimiter",
    "RedactingFilter",
    "Redactor",
    "RefreshingAuth",
    "RequestSigner",
    "ResponseClassifier",
    "RetryPolicy",
    "TokenBucket",
    "TokenCache",
    "TokenSigner",
    "TransportMetrics",
    "UnreadableResponseError",
    "amazon_rate_limit",
    "build_retrying",
    "concatenate_params",
    "decode_json",
    "encode_form",
    "form_fields",
    "parse_json",
    "parse_retry_after",
    "query_params",
    "request_id_from_headers",
    "sign_params",
    "transport_error",
    "with_form_fields",
    "with_query_params",
]
