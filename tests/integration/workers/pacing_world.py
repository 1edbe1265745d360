"""What the shared pacing tests share: limits, a recording schedule, the schedule's row."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, select, text

from channelsync.channels import RateLimit
from channelsync.clock import FakeClock
from channelsync.store.schema import rate_slots
from channelsync.workers.pacing import (
    Cadence,
    Reservation,
    SharedRateLimiter,
    SharedSchedule,
)

# The database's clock moves on between two statements of a test (a few milliseconds,
# up to about a tenth of a second on a loaded machine): waits read from it are compared
# this closely. Every wrong schedule the tests tell apart differs by a quarter second
# or more.
CLOSE = 0.2
# One call a second, two at once after a pause.
LIMIT = RateLimit(rate=1.0, burst=2)


class Limits:
    """Every operation of a channel at one limit."""

    def __init__(self, limit: RateLimit = LIMIT) -> None:
        self.limit = limit

    def rate_limit(self, operation: str) -> RateLimit:
        del operation
        return self.limit


class RecordingSchedule(SharedSchedule):
    """A schedule that keeps every reservation, with the task that made it."""

    def __init__(self, engine: Engine, **options: Any) -> None:
        super().__init__(engine, **options)
        self.reserved: list[tuple[str, Reservation]] = []

    def reserve(self, channel: str, operation: str, cadence: Cadence) -> Reservation | None:
        found = super().reserve(channel, operation, cadence)
        if found is not None:
            task = asyncio.current_task()
            self.reserved.append(("" if task is None else task.get_name(), found))
        return found


def limiter(
    schedule: SharedSchedule, limit: RateLimit = LIMIT
) -> tuple[SharedRateLimiter, FakeClock]:
    """A worker process's limiter for channel ``tmall``: its own clock, the shared schedule."""
    clock = FakeClock()
    found = SharedRateLimiter(schedule, clock)
    found.configure("tmall", Limits(limit))
    return found, clock


def conforms(go: list[float], rate: float, burst: int) -> bool:
    """Whether no window of the calls going at ``go`` holds more than ``burst + rate * t``.

    A microsecond is given: epoch seconds as doubles are exact to a quarter of one.
    """
    times = sorted(go)
    return all(
        j - i + 1 <= burst + rate * (times[j] - times[i] + 1e-6)
        for i in range(len(times))
        for j in range(i, len(times))
    )


def tat_of(engine: Engine, operation: str = "op") -> float:
    with engine.connect() as connection:
        found = connection.execute(
            select(rate_slots.c.tat).where(
                rate_slots.c.channel == "tmall", rate_slots.c.operation == operation
            )
        ).scalar_one()
    return float(found)


def server_now(engine: Engine) -> float:
    with engine.connect() as connection:
        return float(
            connection.execute(text("SELECT extract(epoch FROM clock_timestamp())")).one()[0]
        )
