"""When and how long to wait before repeating a failed marketplace call.

Only :class:`~channelsync.errors.RetryableChannelError` is retried; the decision is
made from the class alone. A throttle that states its wait is honoured exactly
(capped); everything else backs off exponentially with jitter.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from channelsync.clock import Clock
from channelsync.errors import RateLimitedError, RetryableChannelError

__all__ = ["RetryPolicy", "build_retrying"]

logger = logging.getLogger("channelsync.http")


class RetryPolicy(BaseModel):
    """Bounds for retrying one call.

    Attempt ``n`` (from 1) that fails waits ``initial_wait * multiplier**(n-1)``,
    multiplied by a random factor in ``[1 - jitter, 1 + jitter]`` and capped at
    ``max_wait``. A :class:`RateLimitedError` with ``retry_after`` waits exactly that
    long instead, capped at ``max_server_wait``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=5, ge=1)
    initial_wait: float = Field(default=0.5, ge=0)
    max_wait: float = Field(default=60.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.5, ge=0, le=1)
    max_server_wait: float = Field(default=900.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> RetryPolicy:
        if self.initial_wait > self.max_wait:
            raise ValueError(
                f"initial_wait {self.initial_wait} must not exceed max_wait {self.max_wait}"
            )
        return self

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Return the jittered exponential wait after failed attempt ``attempt`` (from 1)."""
        base = min(self.max_wait, self.initial_wait * self.multiplier ** max(0, attempt - 1))
        factor = rng.uniform(1.0 - self.jitter, 1.0 + self.jitter) if self.jitter else 1.0
        return min(self.max_wait, base * factor)

    def wait_for(self, error: BaseException | None, attempt: int, rng: random.Random) -> float:
        """Return the wait before the next attempt after ``error``."""
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return min(self.max_server_wait, max(0.0, error.retry_after))
        return self.backoff(attempt, rng)


def build_retrying(
    policy: RetryPolicy,
    *,
    clock: Clock,
    channel: str,
    operation: str,
    rng: random.Random | None = None,
    on_retry: Callable[[BaseException | None, float], None] | None = None,
) -> AsyncRetrying:
    """Build the tenacity controller for one call of ``operation`` on ``channel``.

    Retries only :class:`RetryableChannelError`, sleeps on ``clock``, stops after
    ``policy.max_attempts`` and re-raises the last error itself. ``on_retry`` is
    called with the error and the chosen wait before each backoff (for metrics).
    """
    random_source = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return policy.wait_for(error, state.attempt_number, random_source)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        # The single place a backoff is logged; the final failure is logged by the caller.
        logger.info(
            "retrying in %.2fs after attempt %d/%d failed: %s: %s",
            seconds,
            state.attempt_number,
            policy.max_attempts,
            type(error).__name__,
            error,
            extra={"channel": channel, "operation": operation},
        )
        if on_retry is not None:
            on_retry(error, seconds)

    return AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=wait,
        retry=retry_if_exception_type(RetryableChannelError),
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
