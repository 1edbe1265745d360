"""Incremental pulls by modified time: cursors, windows and the overlap rule.

A cursor says "everything modified before ``since`` has been read". Each pull reads
one window ``[since - overlap, end)``, where ``end`` is at most one declared span
later and never closer to the marketplace clock than the declared lag. Reading the
overlap again makes pulls safe to repeat: a record written late on the marketplace
side is still seen, and the engine dedupes what it has seen twice.

A fresh read (asked for, and declared by the channel with ``fresh_lag``) stretches
the last window of a pull over the span the lag excludes, up to ``fresh_lag`` before
the marketplace clock: what it finds there is early, possibly not all of it. The
cursor still moves to the lagged end only, so the next pulls read that span again
while it becomes complete.
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
    "plan_fresh_read",
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


def plan_fresh_read(
    cursor: PullCursor, window: TimeWindow | None, rules: OrderWindow, now: datetime
) -> TimeWindow | None:
    """Return ``window`` stretched over the fresh span, or ``None`` when there is none.

    Only a window that reaches the lag horizon (the pull has caught up) is stretched,
    never beyond one span from its start; with no lagged window to read (the cursor
    is at the horizon) the fresh span alone is read.
    """
    if rules.fresh_lag is None:
        return None
    horizon = now - rules.lag
    if window is not None and window.end < horizon:
        return None  # still catching up: fresh reads wait for the last window
    start = window.start if window is not None else max(cursor.since, horizon)
    end = min(start + rules.span, now - rules.fresh_lag)
    if end <= (window.end if window is not None else start):
        return None
    return TimeWindow(start=start, end=end)


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
    """What one window of an incremental pull produced.

    ``window`` is the lagged window the cursor moved over; ``read`` the span actually
    read, longer than ``window`` when it was stretched by a fresh read.
    """

    records: list[RecordT]
    cursor: PullCursor
    window: TimeWindow | None
    caught_up: bool
    read: TimeWindow | None = None

    @property
    def fresh(self) -> bool:
        """Whether the read reached into the span the lag excludes."""
        return self.read is not None and (self.window is None or self.read.end > self.window.end)


async def read_next_window(
    cursor: PullCursor,
    rules: OrderWindow,
    now: datetime,
    fetch: Callable[[TimeWindow], AsyncIterator[RecordT]],
    *,
    key: Callable[[RecordT], str],
    updated: Callable[[RecordT], datetime],
    fresh: bool = False,
) -> WindowRead[RecordT]:
    """Plan the window after ``cursor``, read it through ``fetch`` and advance the cursor.

    ``now`` is the marketplace clock. The cursor only moves forward, to the window's
    end; when there is nothing to read yet it is returned unchanged. With ``fresh``
    (and a channel that declares ``fresh_lag``) the last window is read on into the
    span the lag excludes (:func:`plan_fresh_read`); the cursor does not move over it.
    """
    window = plan_window(cursor, rules, now)
    stretched = plan_fresh_read(cursor, window, rules, now) if fresh else None
    read = stretched or window
    caught_up = window is None or window.end >= now - rules.lag
    after = cursor if window is None else PullCursor(since=window.end)
    if read is None:
        return WindowRead([], cursor, None, caught_up=True)
    records = await collect_newest(fetch(read), key, updated)
    return WindowRead(records, after, window, caught_up=caught_up, read=read)
