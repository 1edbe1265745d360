"""TOP's error codes and sub-codes as data, and the rule that maps them to core errors.

An ``error_response`` carries a platform ``code`` and, for business errors (code 15,
and 50 in newer answers), a ``sub_code``: ``isp.*`` is the platform's fault and
usually passes on retry, ``isv.*`` is the caller's. Code 7 is the app's flow control;
its ``sub_msg`` says how long the ban lasts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "BAN_SECONDS_PATTERN",
    "BUSINESS_CODES",
    "PLATFORM_CODES",
    "SUB_CODE_ERRORS",
    "SUB_CODE_PREFIX_ERRORS",
    "TopErrorDetail",
    "ban_seconds",
    "error_for",
]

#: The platform codes (T7 table): the core error class each one becomes.
PLATFORM_CODES: Mapping[int, type[ChannelError]] = {
    3: InvalidRequestError,  # upload failed
    4: RateLimitedError,  # user call limited
    5: RateLimitedError,  # session call limited
    6: RateLimitedError,  # partner call limited
    7: RateLimitedError,  # app call limited; ban length in sub_msg
    8: RateLimitedError,  # app call exceeds limited frequency
    9: InvalidRequestError,  # HTTP action not allowed
    10: TransientError,  # service currently unavailable
    11: AuthorizationError,  # insufficient ISV permissions
    12: AuthorizationError,  # insufficient user permissions
    13: AuthorizationError,  # insufficient partner permissions
    21: InvalidRequestError,  # missing method
    22: InvalidRequestError,  # invalid method
    23: InvalidRequestError,  # invalid format
    24: AuthenticationError,  # missing signature
    25: AuthenticationError,  # invalid signature: a wrong app secret
    26: AuthenticationError,  # missing session
    27: AuthenticationError,  # invalid or expired session (after any refresh)
    28: AuthenticationError,  # missing app key
    29: AuthenticationError,  # invalid app key
    30: InvalidRequestError,  # missing timestamp
    31: InvalidRequestError,  # invalid timestamp / clock skew over 10 minutes
    32: InvalidRequestError,  # missing version
    33: InvalidRequestError,  # invalid version
    34: InvalidRequestError,  # unsupported version
    40: InvalidRequestError,  # missing required arguments
    41: InvalidRequestError,  # invalid arguments
    42: AuthorizationError,  # forbidden request
    43: InvalidRequestError,  # parameter error
}

#: Codes whose meaning is in the ``sub_code`` (15 in the classic table, 50 in newer answers).
BUSINESS_CODES = frozenset({15, 50})

#: Exact sub-codes (``-tmall`` variants are folded onto these before lookup).
SUB_CODE_ERRORS: Mapping[str, type[ChannelError]] = {
    "isp.top-remote-connection-timeout": TransientError,
    "isp.top-remote-service-unavailable": TransientError,
    "isp.top-remote-unknown-error": TransientError,
    "isp.remote-connection-error": TransientError,
    "isp.item-update-service-error:IC_SYSTEM_NOT_READY_TRY_AGAIN_LATER": TransientError,
    "isp.item-update-service-error:GENERIC_FAILURE": TransientError,
    "invalid-sessionkey": AuthenticationError,
    "session-expired": AuthenticationError,
    "isv.item-not-exist:invalid-numIid-or-iid": NotFoundError,
    "isv.item-is-delete:invalid-numIid-or-iid": NotFoundError,
    "isv.invalid-parameter:sku-properties": NotFoundError,
    "isv.invalid-parameter:quantity": InvalidRequestError,
    "isv.logistics-offline-service-error:ORDER_NOT_FOUND_ERROR": NotFoundError,
    "isv.logistics-offline-service-error:B150": TransientError,
    "isv.trade-not-exist": NotFoundError,
}

#: Sub-code prefixes, longest first; the first that matches wins.
SUB_CODE_PREFIX_ERRORS: tuple[tuple[str, type[ChannelError]], ...] = (
    ("isv.logistics-offline-service-error", ConflictError),
    ("isv.invalid-parameter", InvalidRequestError),
    ("isv.missing-parameter", InvalidRequestError),
    ("isp.", TransientError),
    ("isv.", InvalidRequestError),
)

#: ``This ban will last for 41 more seconds``.
BAN_SECONDS_PATTERN = re.compile(r"ban will last for (\d+) more seconds?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TopErrorDetail:
    """The fields of one ``error_response``."""

    code: int | None
    msg: str
    sub_code: str | None = None
    sub_msg: str | None = None
    request_id: str | None = None

    @property
    def label(self) -> str:
        """The code as channelsync reports it: ``"15/isv.item-not-exist:..."`` or ``"27"``."""
        code = "?" if self.code is None else str(self.code)
        return f"{code}/{self.sub_code}" if self.sub_code else code


def ban_seconds(sub_msg: str | None) -> float | None:
    """Return how long a code-7 ban asks to wait, one second more than it states.

    TOP states whole seconds left; the extra second covers the part it rounded away,
    so the retried call does not land inside the ban.
    """
    if not sub_msg:
        return None
    match = BAN_SECONDS_PATTERN.search(sub_msg)
    return float(int(match.group(1)) + 1) if match else None


def _sub_code_class(sub_code: str) -> type[ChannelError] | None:
    folded = sub_code.replace("-tmall", "")
    exact = SUB_CODE_ERRORS.get(folded)
    if exact is not None:
        return exact
    for prefix, error_class in SUB_CODE_PREFIX_ERRORS:
        if folded.startswith(prefix):
            return error_class
    return None


def error_for(detail: TopErrorDetail, *, operation: str | None = None) -> ChannelError:
    """Return the core error for one ``error_response`` (not raised here).

    The message quotes TOP's ``msg`` and ``sub_msg``; the transport scrubs known
    secrets from it before it is raised.
    """
    text = detail.msg or "error"
    if detail.sub_msg and detail.sub_msg != detail.msg:
        text = f"{text}: {detail.sub_msg}"
    # A platform code decides by itself; business and unknown codes defer to the sub-code.
    error_class = None if detail.code is None else PLATFORM_CODES.get(detail.code)
    if error_class is None and detail.sub_code:
        error_class = _sub_code_class(detail.sub_code)
    if error_class is None:
        error_class = InvalidRequestError
    if error_class is RateLimitedError:
        wait = ban_seconds(detail.sub_msg) if detail.code == 7 else None
        return RateLimitedError(
            text,
            retry_after=wait,
            operation=operation,
            code=detail.label,
            request_id=detail.request_id,
        )
    return error_class(text, operation=operation, code=detail.label, request_id=detail.request_id)
