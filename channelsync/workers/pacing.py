"""Rate limits shared by every worker: one schedule per (channel, operation), in the store.

A marketplace limits a shop's calls, not a process's. A worker's own buckets know only
its own calls: when a channel's steps move from one worker to another (a pull here, the
next one there), each process's bucket is full again and the marketplace sees twice
the burst it allows. So a worker's buckets also reserve each call in a schedule kept in
the workspace's ``rate_slots`` table, one row per (channel, operation), shared by every
worker on every machine.

The schedule is the generic cell rate algorithm, the token bucket's equivalent as one
number: the *theoretical arrival time* ``tat`` of the next call. With ``T = 1 / rate``
and ``tau = (burst - 1) * T``, a call reserved at ``now`` may go at
``max(now, tat - tau)`` and moves ``tat`` to ``max(tat, now) + T``. One statement
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``) reserves and answers the wait, the row
locked only for that statement; ``now`` is the database server's clock, the one clock
every machine shares.

A call first takes a token from the worker's own bucket (which keeps what only this
process can see: the first request's flight time, the rate the marketplace states in
its answers), then its reservation, and waits for the later of the two. A throttling
answer (``penalise``, ``drain``) moves the shared schedule too, so every worker holds
back. Should the database be unreachable, calls go on at the process's own pace and
one warning says so.

The statement runs synchronously on the store's engine, in its own short
transaction: a local round trip of well under a millisecond, against a marketplace
call of tens to hundreds, and no thread to hand the connection to. It never runs inside
another transaction of the engine: calls are made between store transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from channelsync.channels import Channel
from channelsync.clock import Clock
from channelsync.http.ratelimit import RateLimiter, RateLimitLike, TokenBucket
from channelsync.store import SqlStore
from channelsync.store.sql.engine import translated_schema

__all__ = ["SharedRateLimiter", "SharedSchedule", "SharedTokenBucket", "install_shared_pacing"]

logger = logging.getLogger(__name__)

# One statement: reserve the next slot, return how long to wait for it.
_RESERVE = """
INSERT INTO {table} (channel, operation, tat)
VALUES (:channel, :operation, extract(epoch FROM statement_timestamp()) + :interval)
ON CONFLICT (channel, operation) DO UPDATE
SET tat = greatest({table}.tat, extract(epoch FROM statement_timestamp())) + :interval
RETURNING greatest(
    0, {table}.tat - :interval - :tolerance - extract(epoch FROM statement_timestamp())
)
"""
# Nothing goes before ``seconds`` from now: the schedule's next slot is pushed past it.
_HOLD = """
INSERT INTO {table} (channel, operation, tat)
VALUES (:channel, :operation, extract(epoch FROM statement_timestamp()) + :until)
ON CONFLICT (channel, operation) DO UPDATE
SET tat = greatest({table}.tat, extract(epoch FROM statement_timestamp()) + :until)
"""


class SharedSchedule:
    """The ``rate_slots`` rows of one workspace: reserve a call, hold every call back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        schema = translated_schema(engine)
        table = f'"{schema}".rate_slots' if schema else "rate_slots"
        self._reserve = text(_RESERVE.format(table=table))
        self._hold = text(_HOLD.format(table=table))
        self._warned = False

    def reserve(self, channel: str, operation: str, rate: float, burst: int) -> float | None:
        """Reserve the next call; return the seconds to wait for it (``None``: unreachable)."""
        interval = 1.0 / rate
        values = {
            "channel": channel,
            "operation": operation,
            "interval": interval,
            "tolerance": (burst - 1) * interval,
        }
        found = self._run(self._reserve, values, answers=True)
        return None if found is None else float(found)

    def hold(self, channel: str, operation: str, seconds: float) -> None:
        """Let no call of (``channel``, ``operation``) go, on any worker, for ``seconds``."""
        values = {"channel": channel, "operation": operation, "until": seconds}
        self._run(self._hold, values, answers=False)

    def _run(self, statement: Any, values: dict[str, Any], *, answers: bool) -> Any:
        try:
            with self.engine.begin() as connection:
                result = connection.execute(statement, values)
                found = result.scalar() if answers else 0.0
        except SQLAlchemyError as error:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "shared rate limits unreachable (%s): pacing this process's calls alone",
                    type(error).__name__,
                )
            return None
        if self._warned:
            self._warned = False
            logger.info("shared rate limits reachable again")
        return 0.0 if found is None else found


class SharedTokenBucket(TokenBucket):
    """A process's bucket that also reserves each call in the shared schedule."""

    def __init__(
        self,
        rate_limit: RateLimitLike,
        clock: Clock,
        *,
        schedule: SharedSchedule,
        channel: str,
        operation: str,
    ) -> None:
        super().__init__(rate_limit, clock)
        self._schedule = schedule
        self._channel = channel
        self._operation = operation

    def __repr__(self) -> str:
        return f"Shared{super().__repr__()}"

    async def acquire(self) -> float:
        """Take a token here, then a slot in the shared schedule; return the total wait."""
        waited = await super().acquire()
        shared = self._schedule.reserve(self._channel, self._operation, self.rate, self.burst)
        if shared:
            await self._clock.sleep(shared)
            waited += shared
        return waited

    def penalise(self, seconds: float) -> None:
        """Hand out no token for ``seconds``, here and on every worker."""
        super().penalise(seconds)
        # Then exactly one call goes first, as the local bucket has it.
        tolerance = (self.burst - 1) / self.rate
        self._schedule.hold(self._channel, self._operation, max(0.0, seconds) + tolerance)

    def drain(self) -> None:
        """Empty the bucket here and on every worker: the next call in one interval."""
        super().drain()
        self._schedule.hold(self._channel, self._operation, self.burst / self.rate)


class SharedRateLimiter(RateLimiter):
    """A limiter whose buckets reserve every call in a workspace's shared schedule."""

    def __init__(self, schedule: SharedSchedule, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.schedule = schedule

    def new_bucket(self, channel: str, operation: str, limit: RateLimitLike) -> TokenBucket:
        """Return a bucket of (``channel``, ``operation``) shared through the schedule."""
        return SharedTokenBucket(
            limit, self._clock, schedule=self.schedule, channel=channel, operation=operation
        )


def install_shared_pacing(channels: Iterable[Channel[Any]], store: SqlStore) -> SharedSchedule:
    """Give each of ``channels`` (not yet open) a limiter shared through ``store``."""
    schedule = SharedSchedule(store.engine)
    for channel in channels:
        channel.rate_limiter = SharedRateLimiter(schedule, channel.clock)
    return schedule
