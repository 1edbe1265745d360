"""Incremental pulls by modified time: cursors, windows and the overlap rule.

A cursor says "everything modified before ``since`` has been read". Each pull reads
one window ``[since - overlap, end)``, where ``end`` is at most one declared span
later and never closer to the marketplace clock than the declared lag. Reading the
overlap again makes pulls safe to repeat: a record written late on the marketplace
side is still seen, and the engine dedupes what it has seen twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

from channelsync.channels.capabilities import OrderWindow

__all__ = [
    "PullCursor",
    "TimeWindow",
    "WindowRead",
    "collect_newest",
    "plan_window",
    "read_next_window",
]

RecordT = TypeVar("RecordT")


class PullCursor(BaseModel):
    """Where the next incremental pull starts; stored by the engine between pulls.

    ``token`` is free for a plugin that needs resume state of its own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    since: AwareDatetime
    token: str | None = None

    @classmethod
    def starting_at(cls, moment: datetime) -> PullCursor:
        """Return a cursor that pulls everything modified from ``moment`` on."""
        return cls(since=moment)


class TimeWindow(BaseModel):
    """A half-open span of modified times ``[start, end)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")
        return self


def plan_window(cursor: PullCursor, rules: OrderWindow, now: datetime) -> TimeWindow | None:
    """Return the next window to read, or ``None`` when the cursor is already at the horizon.

    ``now`` is the marketplace's clock; the window ends at most ``rules.lag`` before it.
    """
    horizon = now - rules.lag
    if horizon <= cursor.since:
        return None
    start = cursor.since - rules.overlap
    return TimeWindow(start=start, end=min(start + rules.span, horizon))


async def collect_newest(
    records: AsyncIterator[RecordT],
    key: Callable[[RecordT], str],
    updated: Callable[[RecordT], datetime],
) -> list[RecordT]:
    """Drain ``records``, keeping the newest version of each key, oldest first.

    A record can appear on two pages when it changes while the pages are read.
    """
    newest: dict[str, RecordT] = {}
    async for record in records:
        seen = newest.get(key(record))
        if seen is None or updated(record) >= updated(seen):
            newest[key(record)] = record
    return sorted(newest.values(), key=updated)


@dataclass(frozen=True, slots=True)
class WindowRead(Generic[RecordT]):
    """What one window of an incremental pull produced."""

    records: list[RecordT]
    cursor: PullCursor
    window: TimeWindow | None
    caught_up: bool


async def read_next_window(
    cursor: PullCursor,
    rules: OrderWindow,
    now: datetime,
    fetch: Callable[[TimeWindow], AsyncIterator[RecordT]],
    *,
    key: Callable[[RecordT], str],
    updated: Callable[[RecordT], datetime],
) -> WindowRead[RecordT]:
    """Plan the window after ``cursor``, read it through ``fetch`` and advance the cursor.

    ``now`` is the marketplace clock. The cursor only moves forward, to the window's
    end; when there is nothing to read yet it is returned unchanged.
    """
    window = plan_window(cursor, rules, now)
    if window is None:
        return WindowRead([], cursor, None, caught_up=True)
    records = await collect_newest(fetch(window), key, updated)
    return WindowRead(
        records, PullCursor(since=window.end), window, caught_up=window.end >= now - rules.lag
    )
