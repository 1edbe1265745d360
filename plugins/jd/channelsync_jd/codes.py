"""The JOS error table as data, and the mapping of JOS answers onto the core error tree.

Gateway codes arrive in ``error_response`` (always strings). Business failures arrive
inside a success root (``apiResult.success = false``, ``success = false``) with free
text; those are classified by the words JD uses, since their numeric codes are not
published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channelsync.clock import CHINA_STANDARD_TIME
from channelsync.errors import (
    AuthenticationError,
    ChannelError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "GATEWAY_CODES",
    "TOKEN_EXPIRED",
    "GatewayCode",
    "business_error",
    "gateway_error",
    "is_item_level",
    "seconds_until_quota_reset",
]

#: The gateway's "invalid or expired access_token" code.
TOKEN_EXPIRED = "19"  # noqa: S105 - an error code, not a secret


@dataclass(frozen=True, slots=True)
class GatewayCode:
    """One row of the JOS gateway error table."""

    code: str
    meaning: str
    error: type[ChannelError]


GATEWAY_CODES: dict[str, GatewayCode] = {
    row.code: row
    for row in (
        GatewayCode("2", "app call limited (daily quota spent)", RateLimitedError),
        GatewayCode("4", "missing version", InvalidRequestError),
        GatewayCode("5", "unsupported version", InvalidRequestError),
        GatewayCode("7", "missing timestamp", InvalidRequestError),
        GatewayCode(
            "8", "invalid timestamp (format, or more than 6 minutes off)", InvalidRequestError
        ),
        GatewayCode("11", "missing signature", InvalidRequestError),
        GatewayCode(
            "12", "invalid signature (check app_secret and sign_method)", AuthenticationError
        ),
        GatewayCode("14", "missing method", InvalidRequestError),
        GatewayCode("15", "invalid method", InvalidRequestError),
        GatewayCode(
            TOKEN_EXPIRED, "access_token invalid or expired: re-authorize", AuthenticationError
        ),
    )
}

# Words of the gateway's "backend busy / timed out" answers, whose codes were not captured.
_TRANSIENT_HINTS = (
    "timeout",
    "timed out",
    "time out",
    "unavailable",
    "busy",
    "超时",
    "繁忙",
    "不可用",
    "系统异常",
    "服务异常",
)
_NOT_FOUND_HINTS = ("not exist", "not found", "no such", "不存在", "未找到", "查询不到")
_CONFLICT_HINTS = (
    "already",
    "not in wait_",
    "state does not allow",
    "已出库",
    "已发货",
    "已取消",
    "已锁定",
    "当前状态",
    "状态不",
)


def seconds_until_quota_reset(now: datetime) -> float:
    """Return the seconds until the next midnight GMT+8, when daily call quotas reset."""
    local = now.astimezone(CHINA_STANDARD_TIME)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - local).total_seconds())


def _has(message: str, hints: tuple[str, ...]) -> bool:
    folded = message.casefold()
    return any(hint in folded for hint in hints)


def gateway_error(
    code: str,
    message: str,
    *,
    operation: str | None,
    now: datetime,
    request_id: str | None = None,
) -> ChannelError:
    """Map an ``error_response`` (or a non-zero root ``code``) to a core error."""
    row = GATEWAY_CODES.get(code)
    text = message or (row.meaning if row else "gateway error")
    context: dict[str, Any] = {"operation": operation, "code": code, "request_id": request_id}
    if row is None:
        return business_error(code, text, operation=operation, request_id=request_id)
    if row.error is RateLimitedError:
        # JD's advice for code 2 is to call again the next day.
        return RateLimitedError(
            f"{row.meaning}: {text}", retry_after=seconds_until_quota_reset(now), **context
        )
    return row.error(f"{row.meaning}: {text}" if message else row.meaning, **context)


def business_error(
    code: str | None,
    message: str,
    *,
    operation: str | None,
    request_id: str | None = None,
) -> ChannelError:
    """Map a business failure (or an unlisted gateway code) by what its message says."""
    context: dict[str, Any] = {"operation": operation, "code": code, "request_id": request_id}
    text = message or "the marketplace refused the call without a reason"
    if _has(text, _TRANSIENT_HINTS):
        return TransientError(text, **context)
    if _has(text, _NOT_FOUND_HINTS):
        return NotFoundError(text, **context)
    if _has(text, _CONFLICT_HINTS):
        return ConflictError(text, **context)
    return InvalidRequestError(text, **context)


def is_item_level(error: ChannelError) -> bool:
    """Return whether ``error`` concerns one item only (so the other items may still go).

    Gateway refusals (auth, signature, quota), transport failures and unreadable answers
    concern the call itself, whatever item it carried.
    """
    if error.code in GATEWAY_CODES:
        return False
    return isinstance(error, NotFoundError | ConflictError | InvalidRequestError)
