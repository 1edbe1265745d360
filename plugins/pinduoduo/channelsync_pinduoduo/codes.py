"""The PDD gateway's published error codes, as data, and their channelsync error classes.

Every code PDD publishes on its API pages is here with the class that tells the
transport and the engine what to do: retry (throttled or transient) or stop
(authentication, authorization, invalid request). Codes PDD adds later fall back
by range: ``5xxxx`` are server-side and retried, the rest are permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "ERROR_CODES",
    "EXPIRED_TOKEN_CODE",
    "RETRYABLE_CODES",
    "THROTTLE_CODES",
    "ErrorRule",
    "rule_for",
]

#: ``access_token`` expired: refresh, then resend once.
EXPIRED_TOKEN_CODE = 10019


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """What one gateway error code means and which channelsync error it becomes."""

    error: type[ChannelError]
    meaning: str


ERROR_CODES: Mapping[int, ErrorRule] = {
    10000: ErrorRule(InvalidRequestError, "parameter error"),
    10001: ErrorRule(InvalidRequestError, "common-parameter error"),
    10016: ErrorRule(AuthenticationError, "client offline or wrong client_id"),
    10017: ErrorRule(InvalidRequestError, "wrong type"),
    10018: ErrorRule(InvalidRequestError, "bad target_client_id"),
    EXPIRED_TOKEN_CODE: ErrorRule(AuthenticationError, "access_token expired"),
    20004: ErrorRule(AuthenticationError, "signature check failed"),
    20005: ErrorRule(AuthorizationError, "caller IP not whitelisted"),
    20031: ErrorRule(AuthorizationError, "app not authorized for this API"),
    20032: ErrorRule(AuthenticationError, "wrong access_token or client_id"),
    20034: ErrorRule(InvalidRequestError, "API offline"),
    20035: ErrorRule(InvalidRequestError, "API not served by this gateway"),
    21001: ErrorRule(InvalidRequestError, "business parameter invalid"),
    21002: ErrorRule(InvalidRequestError, "business parameter missing"),
    30000: ErrorRule(AuthorizationError, "no permission for the target API"),
    30001: ErrorRule(AuthorizationError, "client_id and partner_id mismatch"),
    50000: ErrorRule(TransientError, "system error"),
    50001: ErrorRule(TransientError, "business service error"),
    50002: ErrorRule(TransientError, "business system internal error"),
    52001: ErrorRule(TransientError, "gateway business error"),
    52002: ErrorRule(TransientError, "gateway internal error"),
    52004: ErrorRule(InvalidRequestError, "request body too large"),
    52101: ErrorRule(RateLimitedError, "API currently rate-limited"),
    52102: ErrorRule(TransientError, "API temporarily unavailable"),
    52103: ErrorRule(TransientError, "service temporarily unavailable"),
    70031: ErrorRule(RateLimitedError, "calls too frequent"),
    70032: ErrorRule(AuthorizationError, "request forbidden"),
    # Maintenance can last long: a few quick retries, then the engine's outbox backs off.
    70033: ErrorRule(TransientError, "API offline for maintenance"),
    70034: ErrorRule(AuthorizationError, "user flagged as risky, calls forbidden"),
    70035: ErrorRule(AuthorizationError, "app flagged as risky, calls forbidden"),
    70036: ErrorRule(AuthorizationError, "app in test status, call quota exhausted"),
}

#: Codes that mean "too many calls": retried after a wait.
THROTTLE_CODES: frozenset[int] = frozenset(
    code for code, rule in ERROR_CODES.items() if rule.error is RateLimitedError
)

#: Every code the transport retries (throttles and server-side failures).
RETRYABLE_CODES: frozenset[int] = frozenset(
    code for code, rule in ERROR_CODES.items() if rule.error in (RateLimitedError, TransientError)
)


def rule_for(code: int | None) -> ErrorRule:
    """Return the rule for ``code``; unknown codes are classified by range."""
    if code is not None and code in ERROR_CODES:
        return ERROR_CODES[code]
    if code is not None and 50000 <= code < 60000:
        return ErrorRule(TransientError, "unlisted server-side error")
    return ErrorRule(InvalidRequestError, "unlisted error")
