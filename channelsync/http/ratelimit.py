"""Client-side pacing: one token bucket per (channel, operation key).

Buckets wait on the injected clock, so tests drive them with a fake clock and
never sleep for real. Waiters are served in arrival order: the bucket lock is held
while a waiter sleeps for its token, and :class:`asyncio.Lock` is FIFO-fair.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from channelsync.clock import Clock, SystemClock

__all__ = ["LimitsSource", "RateLimitLike", "RateLimiter", "TokenBucket"]

# Refills are computed in floating point; a token that is "almost" whole after
# sleeping exactly the computed wait must count as whole, or the bucket would
# schedule a second, vanishingly small sleep.
_EPSILON = 1e-9


class RateLimitLike(Protocol):
    """What a bucket needs from a limit (``channelsync.channels.RateLimit`` fits)."""

    @property
    def rate(self) -> float:
        """Average requests per second."""
        ...

    @property
    def burst(self) -> int:
        """Requests allowed at once after an idle period."""
        ...


class LimitsSource(Protocol):
    """Where per-operation limits come from (``ChannelLimits`` fits)."""

    def rate_limit(self, operation: str) -> RateLimitLike:
        """Return the limit for a transport operation key."""
        ...


class TokenBucket:
    """A token bucket that starts full and refills at ``rate`` tokens per second."""

    def __init__(self, rate_limit: RateLimitLike, clock: Clock | None = None) -> None:
        rate = float(rate_limit.rate)
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive finite number, got {rate_limit.rate!r}")
        if int(rate_limit.burst) < 1:
            raise ValueError(f"burst must be at least 1, got {rate_limit.burst!r}")
        self._clock: Clock = clock or SystemClock()
        self._declared_rate = rate
        self._rate = rate
        self._burst = int(rate_limit.burst)
        self._tokens = float(self._burst)
        self._updated = self._clock.monotonic()
        self._blocked_until = -math.inf
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"TokenBucket(rate={self._rate:g}, declared_rate={self._declared_rate:g},"
            f" burst={self._burst})"
        )

    @property
    def rate(self) -> float:
        """The rate in force now (the declared rate or a tightened one)."""
        return self._rate

    @property
    def declared_rate(self) -> float:
        """The rate the bucket was created with; :meth:`tighten` never exceeds it."""
        return self._declared_rate

    @property
    def burst(self) -> int:
        """The bucket's capacity."""
        return self._burst

    @property
    def tokens(self) -> float:
        """Tokens available now (zero while a penalty lasts)."""
        now = self._clock.monotonic()
        if now < self._blocked_until:
            return 0.0
        self._refill(now)
        return self._tokens

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now

    async def acquire(self) -> float:
        """Take one token, waiting on the clock until one is available.

        Returns the seconds spent waiting (0.0 when a token was ready).
        """
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                else:
                    self._refill(now)
                    if self._tokens >= 1.0 - _EPSILON:
                        self._tokens -= 1.0
                        return waited
                    wait = (1.0 - self._tokens) / self._rate
                if now + wait == now:
                    # A wait below the clock's resolution would never move it (a
                    # simulated clock far from zero): the token is as good as there.
                    self._tokens = max(self._tokens - 1.0, 0.0)
                    self._blocked_until = min(self._blocked_until, now)
                    return waited
                await self._clock.sleep(wait)
                waited += wait

    def tighten(self, rate: float) -> None:
        """Set the rate in force from a run-time hint (e.g. a rate-limit header).

        The rate never rises above the declared one; a later, higher hint restores
        the pace up to it. Non-positive or non-finite hints are ignored.
        """
        if not rate > 0 or math.isinf(rate):
            return
        # Account for the time that passed at the old rate before switching.
        self._refill(self._clock.monotonic())
        self._rate = min(self._declared_rate, float(rate))

    def penalise(self, seconds: float) -> None:
        """Hand out no token for ``seconds`` (the server's wait after a throttle).

        When the penalty ends exactly one token is ready, then refilling resumes:
        the retried call goes first and the others follow at the normal pace.
        """
        now = self._clock.monotonic()
        until = now + max(0.0, seconds)
        if until <= self._blocked_until:
            return
        self._blocked_until = until
        self._tokens = 1.0
        self._updated = until

    def drain(self) -> None:
        """Empty the bucket (a throttle without a stated wait): next token in 1/rate s."""
        now = self._clock.monotonic()
        self._refill(now)
        self._tokens = min(self._tokens, 0.0)


class RateLimiter:
    """One :class:`TokenBucket` per (channel, operation key), created on first use.

    Each channel is registered with its limits source; a limiter can be shared by
    several clients of the same channel so they pace together.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._sources: dict[str, LimitsSource] = {}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def __repr__(self) -> str:
        return f"RateLimiter(channels={sorted(self._sources)}, buckets={len(self._buckets)})"

    def configure(self, channel: str, limits: LimitsSource) -> None:
        """Register (or replace) the limits for ``channel``; its buckets are rebuilt lazily."""
        self._sources[channel] = limits
        for key in [k for k in self._buckets if k[0] == channel]:
            del self._buckets[key]

    def is_configured(self, channel: str) -> bool:
        """Return whether ``channel`` has limits registered."""
        return channel in self._sources

    def bucket(self, channel: str, operation: str) -> TokenBucket:
        """Return the bucket for (``channel``, ``operation``), creating it if needed."""
        key = (channel, operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            try:
                source = self._sources[channel]
            except KeyError:
                raise KeyError(f"no rate limits configured for channel {channel!r}") from None
            bucket = TokenBucket(source.rate_limit(operation), self._clock)
            self._buckets[key] = bucket
        return bucket

    async def acquire(self, channel: str, operation: str) -> float:
        """Take a token from the (``channel``, ``operation``) bucket; return the wait."""
        return await self.bucket(channel, operation).acquire()
