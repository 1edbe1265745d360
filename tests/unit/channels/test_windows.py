from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from channelsync.channels import (
    OrderWindow,
    PullCursor,
    TimeWindow,
    WindowRead,
    collect_newest,
    plan_window,
    read_next_window,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_window_reaches_back_by_the_overlap_and_forward_by_the_span() -> None:
    rules = OrderWindow(
        max_span=timedelta(days=1),
        default_span=timedelta(minutes=30),
        overlap=timedelta(minutes=5),
        lag=timedelta(minutes=2),
    )
    window = plan_window(PullCursor(since=T0), rules, now=T0 + timedelta(hours=3))
    assert window == TimeWindow(start=T0 - timedelta(minutes=5), end=T0 + timedelta(minutes=25))


def test_window_never_ends_closer_to_the_marketplace_clock_than_the_lag() -> None:
    rules = OrderWindow(max_span=timedelta(minutes=30), lag=timedelta(minutes=3))
    window = plan_window(PullCursor(since=T0), rules, now=T0 + timedelta(minutes=10))
    assert window is not None
    assert window.end == T0 + timedelta(minutes=7)


def test_no_window_while_the_cursor_is_at_the_horizon() -> None:
    rules = OrderWindow(max_span=timedelta(minutes=30), lag=timedelta(minutes=3))
    assert plan_window(PullCursor(since=T0), rules, now=T0 + timedelta(minutes=3)) is None


def test_overlap_must_be_shorter_than_the_span() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        OrderWindow(max_span=timedelta(minutes=5), overlap=timedelta(minutes=5))


def test_default_span_cannot_exceed_the_maximum() -> None:
    with pytest.raises(ValidationError, match="default_span"):
        OrderWindow(max_span=timedelta(minutes=30), default_span=timedelta(hours=1))


def test_cursor_refuses_naive_time() -> None:
    with pytest.raises(ValidationError, match="since"):
        PullCursor(since=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_collect_newest_keeps_the_latest_version_of_each_record() -> None:
    records = [("a", T0), ("b", T0 + timedelta(seconds=1)), ("a", T0 + timedelta(seconds=5))]

    async def stream() -> AsyncIterator[tuple[str, datetime]]:
        for r in records:
            yield r

    newest = asyncio.run(collect_newest(stream(), lambda r: r[0], lambda r: r[1]))
    assert newest == [("b", T0 + timedelta(seconds=1)), ("a", T0 + timedelta(seconds=5))]


def test_read_next_window_reads_once_and_moves_the_cursor_forward_only() -> None:
    rules = OrderWindow(max_span=timedelta(minutes=30), overlap=timedelta(minutes=5))
    asked: list[TimeWindow] = []

    async def fetch(window: TimeWindow) -> AsyncIterator[tuple[str, datetime]]:
        asked.append(window)
        yield ("r1", window.start)
        yield ("r1", window.start + timedelta(minutes=1))

    def read(cursor: PullCursor, now: datetime) -> WindowRead[tuple[str, datetime]]:
        return asyncio.run(
            read_next_window(cursor, rules, now, fetch, key=lambda r: r[0], updated=lambda r: r[1])
        )

    first = read(PullCursor(since=T0), now=T0 + timedelta(hours=1))
    assert first.records == [("r1", T0 - timedelta(minutes=4))]
    assert first.cursor.since == T0 + timedelta(minutes=25)
    assert not first.caught_up

    idle = read(first.cursor, now=first.cursor.since)
    assert (idle.records, idle.cursor, idle.window, idle.caught_up) == (
        [],
        first.cursor,
        None,
        True,
    )
    assert len(asked) == 1
