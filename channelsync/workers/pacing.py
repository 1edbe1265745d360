"""Rate limits shared by every worker: one schedule per (channel, operation), in the store.

A marketplace limits a shop's calls, not a process's. A worker's own buckets know only
its own calls: with three workers on one channel each process's bucket lets its burst
through, and the marketplace sees three times the burst it allows. So a worker's
buckets also reserve each call in a schedule kept in the workspace's ``rate_slots``
table, one row per (channel, operation), shared by every worker on every machine.

The schedule is the generic cell rate algorithm, the token bucket's equivalent as one
number: the *theoretical arrival time* ``tat`` of the next call (:class:`Cadence`).
With ``T = 1 / rate`` and ``tau = (burst - 1) * T``, a call reserved at ``now`` moves
``tat`` to ``max(tat, now) + T`` and may go at ``max(tat, now) - tau``. One statement
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``) reserves and answers; the row is
locked only for that statement. ``now`` is the database server's clock
(``statement_timestamp()``, one reading for every mention in the statement), the one
clock every machine shares, whatever their own clocks say.

A call first takes a token from the worker's own bucket, then its reservation, and
waits for its slot. The process's bucket keeps the waiters of one process in arrival
order: nothing is awaited between a waiter's token and its reservation, so this
process's calls are reserved in the order the bucket served them. It also keeps
pacing the process's calls should the store be unreachable (then calls go on at the
process's own pace, one warning says so, and the store is tried again after
:data:`RETRY_AFTER` seconds, so an unreachable server costs one attempt per period).

What a worker learns from the marketplace moves the shared schedule too:

* a throttling answer with a stated wait (``penalise``) lets no call of any worker go
  before it ends, and then one; one without (``drain``) puts the next call of any
  worker one interval away. A call of this process already waiting for its slot when
  the answer came takes a new slot behind it;
* the rate a marketplace states (``follow``) spaces the reservations this worker makes;
  each worker follows what its own answers state;
* a call that lands after its place in the schedule (the first of a burst on a new
  connection, a call sent late by a busy event loop) moves the schedule on by its
  lateness (``landed``): the marketplace counts a call when it arrives, and one that
  arrives late leaves the marketplace's bucket behind the schedule.

A bucket's level (``tokens``, which a step's saved rate budgets and Amazon's orders
search read) is the lower of the process's and the schedule's. The budgets a step
restores (:mod:`channelsync.engine.budgets`) only lower the process's bucket, for calls
the schedule knows already: redundant for workers, and harmless.

The statements run synchronously on the store's engine. A reservation costs a round
trip to the store (a millisecond or a few on a local server, the pool's check-out
included) against a marketplace call of tens to hundreds, and a worker already runs
every store transaction of its steps on its event loop. In a thread it would cost a
hand-off more, and keeping the arrival order would take a lock held across it. Each
statement is a transaction of its own on a connection of its own (``AUTOCOMMIT``),
never inside another: steps make their calls between store transactions. It commits
nothing of the job that makes the call, so the job's lease fence
(:mod:`~channelsync.workers.fencing`) does not check it: a call is reserved whichever
job makes it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Float, cast, extract, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError

from channelsync.channels import Channel
from channelsync.clock import Clock
from channelsync.http.ratelimit import RateLimiter, RateLimitLike, TokenBucket
from channelsync.store import SqlStore
from channelsync.store.schema import rate_slots

__all__ = [
    "RETRY_AFTER",
    "Cadence",
    "Reservation",
    "SharedRateLimiter",
    "SharedSchedule",
    "SharedTokenBucket",
    "install_shared_pacing",
]

logger = logging.getLogger(__name__)

#: Seconds the schedule is left alone after a statement failed (calls pace locally).
RETRY_AFTER = 10.0

# Calls not yet landed whose places a bucket keeps, at most.
_OUTSTANDING = 1024

# Epoch seconds as a double are exact to about a quarter of a microsecond: a wait below
# this is the rounding of ``tat - T - tau - now``, not a wait.
_RESOLUTION = 1e-6

# The database server's clock, in epoch seconds.
_NOW = cast(extract("epoch", func.statement_timestamp()), Float)
_SLOT = rate_slots.c

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Cadence:
    """The generic cell rate algorithm's numbers for a rate and a burst."""

    rate: float
    """Calls per second."""
    burst: int
    """Calls at once after an idle period."""

    @property
    def interval(self) -> float:
        """``T``: the seconds one call adds to the schedule."""
        return 1.0 / self.rate

    @property
    def tolerance(self) -> float:
        """``tau``: how far ahead of ``tat`` a call may go (the burst less one)."""
        return (self.burst - 1) / self.rate

    def wait(self, tat: float, now: float) -> float:
        """Seconds from ``now`` until the call that moved the schedule to ``tat`` may go."""
        wait = tat - self.interval - self.tolerance - now
        return wait if wait > _RESOLUTION else 0.0

    def tokens(self, tat: float, now: float) -> float:
        """Return what a bucket in the schedule's state holds at ``now``."""
        return min(float(self.burst), max(0.0, (now - tat) * self.rate + self.burst))

    def penalty_hold(self, seconds: float) -> float:
        """How far past now ``tat`` goes so that the first call goes in ``seconds``, alone."""
        return max(0.0, seconds) + self.tolerance

    def drain_hold(self) -> float:
        """How far past now ``tat`` goes so that the next call is one interval away."""
        return self.tolerance + self.interval


@dataclass(frozen=True, slots=True)
class Reservation:
    """A call's slot in the shared schedule, on the database server's clock."""

    at: float
    """When it was reserved."""
    tat: float
    """The schedule after it."""
    wait: float
    """Seconds from ``at`` until the call may go."""


class SharedSchedule:
    """The ``rate_slots`` rows of one workspace: reserve calls, hold every worker back.

    Every method answers ``None`` (or does nothing) when the store cannot be reached;
    the first failure logs a warning, and the store is tried again after
    ``retry_after`` seconds of ``monotonic``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        retry_after: float = RETRY_AFTER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        """The store's engine (bound to the workspace's tables)."""
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._failed_at: float | None = None

    def __repr__(self) -> str:
        return f"SharedSchedule({self.engine!r}, reachable={self.reachable})"

    @property
    def reachable(self) -> bool:
        """Whether the last statement ran (``False`` while calls pace locally)."""
        return self._failed_at is None

    def reserve(self, channel: str, operation: str, cadence: Cadence) -> Reservation | None:
        """Reserve the next call of (``channel``, ``operation``)."""
        interval = cadence.interval
        statement = (
            insert(rate_slots)
            .values(channel=channel, operation=operation, tat=_NOW + interval)
            .on_conflict_do_update(
                index_elements=[_SLOT.channel, _SLOT.operation],
                set_={"tat": func.greatest(_SLOT.tat, _NOW, type_=Float) + interval},
            )
            .returning(_SLOT.tat, _NOW)
        )
        row = self._run(lambda connection: connection.execute(statement).one())
        if row is None:
            return None
        tat, at = float(row[0]), float(row[1])
        return Reservation(at, tat, cadence.wait(tat, at))

    def hold(self, channel: str, operation: str, seconds: float) -> None:
        """Move the schedule to at least ``seconds`` from now (a call goes ``tau`` sooner)."""
        until = _NOW + seconds
        statement = (
            insert(rate_slots)
            .values(channel=channel, operation=operation, tat=until)
            .on_conflict_do_update(
                index_elements=[_SLOT.channel, _SLOT.operation],
                set_={"tat": func.greatest(_SLOT.tat, until, type_=Float)},
            )
        )
        self._run(lambda connection: connection.execute(statement))

    def delay(self, channel: str, operation: str, seconds: float, cadence: Cadence) -> None:
        """Move the schedule on by ``seconds``, no further than an empty bucket's."""
        later = func.least(_SLOT.tat + seconds, _NOW + cadence.drain_hold(), type_=Float)
        statement = (
            update(rate_slots)
            .where(_SLOT.channel == channel, _SLOT.operation == operation)
            .values(tat=func.greatest(_SLOT.tat, later, type_=Float))
        )
        self._run(lambda connection: connection.execute(statement))

    def peek(self, channel: str, operation: str) -> tuple[float | None, float] | None:
        """Return the schedule's ``tat`` (``None``: no call yet) and the server's now."""
        statement = select(
            select(_SLOT.tat)
            .where(_SLOT.channel == channel, _SLOT.operation == operation)
            .scalar_subquery(),
            _NOW,
        )
        row = self._run(lambda connection: connection.execute(statement).one())
        if row is None:
            return None
        return (None if row[0] is None else float(row[0])), float(row[1])

    def _run(self, work: Callable[[Connection], _T]) -> _T | None:
        if self._failed_at is not None and (
            self._monotonic() - self._failed_at < self._retry_after
        ):
            return None
        try:
            with self._autocommit.connect() as connection:
                found = work(connection)
        except SQLAlchemyError as error:
            if self._failed_at is None:
                logger.warning(
                    "the shared rate limits are out of reach (%s): this worker paces its "
                    "own calls alone, and tries again every %g s",
                    type(error).__name__,
                    self._retry_after,
                )
            self._failed_at = self._monotonic()
            return None
        if self._failed_at is not None:
            self._failed_at = None
            logger.info("the shared rate limits are back: every worker paces together again")
        return found


class SharedTokenBucket(TokenBucket):
    """A process's bucket that also reserves each call in the shared schedule."""

    def __init__(
        self,
        rate_limit: RateLimitLike,
        clock: Clock | None = None,
        *,
        schedule: SharedSchedule,
        channel: str,
        operation: str,
    ) -> None:
        super().__init__(rate_limit, clock)
        self.schedule = schedule
        self.channel = channel
        self.operation = operation
        # Throttling answers noted so far: a call that waited across one takes a new slot.
        self._holds = 0
        # The places of the calls not yet landed, on this process's clock: see landed().
        self._slots: deque[float] = deque(maxlen=_OUTSTANDING)

    def __repr__(self) -> str:
        return f"Shared{super().__repr__()}"

    @property
    def cadence(self) -> Cadence:
        """The schedule's numbers at the rate in force now."""
        return Cadence(self.rate, self.burst)

    @property
    def tokens(self) -> float:
        """Tokens available now: the lower of this process's and the shared schedule's."""
        local = super().tokens
        found = self.schedule.peek(self.channel, self.operation)
        if found is None:
            return local
        tat, now = found
        return local if tat is None else min(local, self.cadence.tokens(tat, now))

    async def acquire(self) -> float:
        """Take a token here, then a slot in the shared schedule; return the total wait."""
        waited = 0.0
        while True:
            waited += await super().acquire()
            take = self._taken
            # Nothing is awaited from the token to the reservation: this process's calls
            # are reserved in the order its bucket served them.
            holds = self._holds
            asked = self._clock.monotonic()
            reservation = self.schedule.reserve(self.channel, self.operation, self.cadence)
            if reservation is None:
                return waited  # out of reach: the process's own pace, as without workers
            if reservation.wait > 0:
                await self._clock.sleep(reservation.wait)
                waited += reservation.wait
            if self._holds == holds:
                # The call's place in the schedule, on this process's clock: asked before
                # the statement ran, so never later than it was.
                place = reservation.tat - self.cadence.interval - reservation.at
                self._slots.append(asked + place)
                return waited
            # A throttling answer came while this call waited: its slot was before the hold.
            self._withdraw(take)

    def landed(self) -> None:
        """Note that a request has reached the marketplace, here and in the schedule.

        The schedule counts a call at its place (``tat`` less one interval after its
        reservation). The marketplace counts it when it arrives: one that arrives after
        its place (the first call of a burst on a new connection, a busy event loop, a
        slow network) puts the marketplace's bucket behind the schedule by that much, and
        the calls of every worker reserved after it would outrun it. So the schedule
        moves on by the lateness (to an empty bucket at most, as the process's bucket
        does), taking the arrival as now and the call as the oldest of this bucket's not
        yet landed (the conservative pick).
        """
        super().landed()
        if not self._slots:
            return
        late = self._clock.monotonic() - self._slots.popleft()
        if late > 0:
            self.schedule.delay(self.channel, self.operation, late, self.cadence)

    def withdraw(self) -> None:
        """Forget the call just reserved: its request will not be sent."""
        super().withdraw()
        if self._slots:
            self._slots.pop()

    def penalise(self, seconds: float) -> None:
        """Hand out no token for ``seconds``, here and on every worker, then one."""
        super().penalise(seconds)
        self._holds += 1
        self.schedule.hold(self.channel, self.operation, self.cadence.penalty_hold(seconds))

    def drain(self) -> None:
        """Empty the bucket here and on every worker: the next call in one interval."""
        super().drain()
        self._holds += 1
        self.schedule.hold(self.channel, self.operation, self.cadence.drain_hold())


class SharedRateLimiter(RateLimiter):
    """A limiter whose buckets reserve every call in a workspace's shared schedule."""

    def __init__(self, schedule: SharedSchedule, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.schedule = schedule

    def __repr__(self) -> str:
        return f"Shared{super().__repr__()}"

    def new_bucket(self, channel: str, operation: str, limit: RateLimitLike) -> TokenBucket:
        """Return a bucket of (``channel``, ``operation``) shared through the schedule."""
        return SharedTokenBucket(
            limit, self._clock, schedule=self.schedule, channel=channel, operation=operation
        )


def install_shared_pacing(channels: Iterable[Channel[Any]], store: SqlStore) -> SharedSchedule:
    """Give each of ``channels`` a limiter shared through ``store``; return the schedule.

    Call it before the channels open: an open channel's transport keeps the limiter it
    opened with until it is opened again.
    """
    schedule = SharedSchedule(store.engine)
    for channel in channels:
        if channel.is_open:
            logger.warning(
                "channel %s is open already: its calls are paced with every worker's "
                "only once it is reopened",
                channel.name,
            )
        channel.rate_limiter = SharedRateLimiter(schedule, channel.clock)
    return schedule
