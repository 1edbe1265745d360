"""Client-side pacing: one token bucket per (channel, operation key).

Buckets wait on the injected clock, so tests drive them with a fake clock and
never sleep for real. Waiters are served in arrival order: the bucket lock is held
while a waiter sleeps for its token, and :class:`asyncio.Lock` is FIFO-fair.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from typing import Protocol

from channelsync.clock import Clock, SystemClock

__all__ = ["LimitsSource", "RateLimitLike", "RateLimiter", "TokenBucket"]

# Refills are computed in floating point; a token that is "almost" whole after
# sleeping exactly the computed wait must count as whole, or the bucket would
# schedule a second, vanishingly small sleep.
_EPSILON = 1e-9

# Takes whose requests have not landed yet, at most: a bucket whose tokens are taken
# for something other than a request (a quota) never hears of them landing.
_OUTSTANDING = 1024


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
        # Every take is numbered; those whose requests have not landed wait here.
        self._taken = 0
        self._outstanding: deque[int] = deque(maxlen=_OUTSTANDING)
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"TokenBucket(rate={self._rate:g}, declared_rate={self._declared_rate:g},"
            f" burst={self._burst})"
        )

    @property
    def rate(self) -> float:
        """The rate in force now (the declared rate, or the one the marketplace stated)."""
        return self._rate

    @property
    def declared_rate(self) -> float:
        """The rate the bucket was created with (before any :meth:`follow`)."""
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
                        self._take()
                        self._tokens -= 1.0
                        return waited
                    wait = (1.0 - self._tokens) / self._rate
                if now + wait == now:
                    # A wait below the clock's resolution would never move it (a
                    # simulated clock far from zero): the token is as good as there.
                    self._take()
                    self._tokens = max(self._tokens - 1.0, 0.0)
                    self._blocked_until = min(self._blocked_until, now)
                    return waited
                await self._clock.sleep(wait)
                waited += wait

    def _take(self) -> None:
        self._taken += 1
        self._outstanding.append(self._taken)

    def landed(self) -> None:
        """Note that a request has reached the marketplace (its answer is back).

        The marketplace takes a request's token when the request arrives, which may be
        long after this bucket gave it out (a new connection's handshake, a busy event
        loop, a slow network). A bucket near full loses refill at the marketplace while
        the request is on its way: right after its arrival the marketplace holds at most
        the burst less one, less the requests given out since. So this bucket holds no
        more than that now, taking the oldest request not yet landed as this one (the
        conservative pick). Without this the requests that follow on a warm connection
        outrun the marketplace's own bucket by the first one's flight time and draw a
        throttling answer. A request that is never sent is noted the same way.
        """
        if not self._outstanding:
            return
        since = self._taken - self._outstanding.popleft()
        self._refill(self._clock.monotonic())
        self._tokens = min(self._tokens, max(0.0, self._burst - 1.0 - since))

    def withdraw(self) -> None:
        """Forget the token just given out: its request will not be sent.

        Call it before awaiting anything after :meth:`acquire`, so that the latest
        token is that request's.
        """
        self._withdraw(self._taken)

    def _withdraw(self, take: int) -> None:
        with contextlib.suppress(ValueError):
            self._outstanding.remove(take)

    def restore(self, tokens: float, elapsed: float) -> None:
        """Carry over a level saved ``elapsed`` seconds ago (by an earlier process).

        The saved level refills at the declared rate for the time since; the bucket
        keeps the lower of that and what it holds, so a restore never adds tokens.
        """
        if not math.isfinite(tokens) or not math.isfinite(elapsed):
            return
        now = self._clock.monotonic()
        self._refill(now)
        carried = min(float(self._burst), max(0.0, tokens) + max(0.0, elapsed) * self._rate)
        self._tokens = min(self._tokens, carried)

    def follow(self, rate: float) -> None:
        """Pace at the rate the marketplace states it grants (e.g. a rate-limit header).

        The marketplace's word is the seller's real plan: lower than the declared
        default slows down, higher (a seller granted more) speeds up. Non-positive or
        non-finite values are ignored.
        """
        if not rate > 0 or math.isinf(rate):
            return
        # Account for the time that passed at the old rate before switching.
        self._refill(self._clock.monotonic())
        self._rate = float(rate)

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
            bucket = self.new_bucket(channel, operation, source.rate_limit(operation))
            self._buckets[key] = bucket
        return bucket

    def new_bucket(self, channel: str, operation: str, limit: RateLimitLike) -> TokenBucket:
        """Return a new bucket for (``channel``, ``operation``) at ``limit``.

        A limiter whose buckets are shared beyond this process overrides it
        (:class:`channelsync.workers.pacing.SharedRateLimiter`).
        """
        del channel, operation  # a process's own bucket needs only its limit
        return TokenBucket(limit, self._clock)

    def levels(self, channel: str) -> dict[str, float]:
        """Return the tokens each of ``channel``'s buckets holds now, by operation key."""
        return {op: b.tokens for (name, op), b in self._buckets.items() if name == channel}

    def restore(self, channel: str, saved: dict[str, tuple[float, float]]) -> None:
        """Carry over ``channel``'s saved levels: ``{operation: (tokens, seconds ago)}``.

        Operations the channel's limits no longer name are skipped.
        """
        for operation, (tokens, elapsed) in saved.items():
            try:
                bucket = self.bucket(channel, operation)
            except (KeyError, ValueError):
                continue
            bucket.restore(tokens, elapsed)

    async def acquire(self, channel: str, operation: str) -> float:
        """Take a token from the (``channel``, ``operation``) bucket; return the wait."""
        return await self.bucket(channel, operation).acquire()
