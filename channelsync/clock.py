"""Time as a port: the real clock, a fake one for tests, and marketplace time zones.

Everything in channelsync that waits or reads the time takes a :class:`Clock`, so
tests drive time forward by hand and never sleep for real. All datetimes are
timezone-aware; marketplace wall-clock times (GMT+8 on the Chinese platforms) are
converted to aware datetimes at the plugin edge with :func:`parse_local_time`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

__all__ = [
    "CHINA_STANDARD_TIME",
    "Clock",
    "FakeClock",
    "SystemClock",
    "format_local_time",
    "parse_local_time",
]

#: The fixed UTC+8 offset used by Taobao/Tmall, JD and Pinduoduo (China has no DST).
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "GMT+8")

_LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


@runtime_checkable
class Clock(Protocol):
    """Where time comes from: wall-clock for timestamps, monotonic for waits."""

    def now(self) -> datetime:
        """Return the current time as an aware datetime in UTC."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that never goes backwards (for rate limiting)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock advances instead of waiting)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep with :func:`asyncio.sleep`."""
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to, or when something sleeps on it.

    ``sleep`` advances the clock by the requested time at once and records it in
    :attr:`sleeps`, so a test can assert on the waits a component chose without
    waiting for them.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._monotonic = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """Return the fake current time."""
        return self._now

    def monotonic(self) -> float:
        """Return the fake monotonic reading."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self._monotonic += seconds
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        """Record the wait and advance by it; yields to the event loop once."""
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


def parse_local_time(value: str, tz: timezone = CHINA_STANDARD_TIME) -> datetime:
    """Parse a marketplace wall-clock time ``yyyy-MM-dd HH:mm:ss`` in ``tz``.

    Returns an aware datetime in UTC. Raises ``ValueError`` naming the value when it
    does not match the format.
    """
    try:
        naive = datetime.strptime(value.strip(), _LOCAL_FORMAT)  # noqa: DTZ007 - tz added next
    except ValueError:
        raise ValueError(f"not a 'yyyy-MM-dd HH:mm:ss' time: {value!r}") from None
    return naive.replace(tzinfo=tz).astimezone(UTC)


def format_local_time(moment: datetime, tz: timezone = CHINA_STANDARD_TIME) -> str:
    """Format an aware datetime as ``yyyy-MM-dd HH:mm:ss`` wall-clock time in ``tz``."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: channelsync only handles aware times")
    return moment.astimezone(tz).strftime(_LOCAL_FORMAT)
