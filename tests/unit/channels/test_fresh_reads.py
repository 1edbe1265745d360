"""Fresh reads: the last window of a pull reads on into the span the lag excludes."""

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
    plan_fresh_read,
    plan_window,
    read_next_window,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = OrderWindow(
    max_span=timedelta(minutes=30),
    lag=timedelta(minutes=5),
    overlap=timedelta(minutes=5),
    fresh_lag=timedelta(minutes=3),
)


def test_fresh_lag_must_lie_between_zero_and_the_lag() -> None:
    with pytest.raises(ValidationError, match="fresh_lag"):
        OrderWindow(
            max_span=timedelta(hours=1), lag=timedelta(minutes=2), fresh_lag=timedelta(minutes=3)
        )
    with pytest.raises(ValidationError, match="fresh_lag"):
        OrderWindow(max_span=timedelta(hours=1), fresh_lag=timedelta(seconds=-1))


def test_a_caught_up_window_is_stretched_to_the_fresh_floor() -> None:
    now = T0 + timedelta(minutes=5, seconds=15)
    cursor = PullCursor(since=T0)
    window = plan_window(cursor, RULES, now)
    assert window == TimeWindow(start=T0 - timedelta(minutes=5), end=T0 + timedelta(seconds=15))
    read = plan_fresh_read(cursor, window, RULES, now)
    assert read == TimeWindow(start=window.start, end=now - timedelta(minutes=3))


def test_a_window_still_catching_up_is_not_stretched() -> None:
    now = T0 + timedelta(hours=2)
    window = plan_window(PullCursor(since=T0), RULES, now)
    assert window is not None
    assert window.end < now - RULES.lag
    assert plan_fresh_read(PullCursor(since=T0), window, RULES, now) is None


def test_the_stretch_never_exceeds_one_span_from_the_start() -> None:
    rules = RULES.model_copy(update={"overlap": timedelta(minutes=20)})
    now = T0 + timedelta(minutes=14)  # the lagged window spans 29 of 30 minutes
    window = plan_window(PullCursor(since=T0), rules, now)
    assert window is not None
    read = plan_fresh_read(PullCursor(since=T0), window, rules, now)
    assert read is not None
    assert read.end - read.start == rules.span


def test_at_the_horizon_the_fresh_span_alone_is_read() -> None:
    now = T0 + timedelta(minutes=5)
    cursor = PullCursor(since=T0)
    assert plan_window(cursor, RULES, now) is None
    assert plan_fresh_read(cursor, None, RULES, now) == TimeWindow(
        start=T0, end=T0 + timedelta(minutes=2)
    )


def test_no_fresh_read_without_a_declared_floor() -> None:
    rules = RULES.model_copy(update={"fresh_lag": None})
    now = T0 + timedelta(minutes=6)
    window = plan_window(PullCursor(since=T0), rules, now)
    assert plan_fresh_read(PullCursor(since=T0), window, rules, now) is None


def test_the_cursor_moves_by_the_lagged_rule_only() -> None:
    records = [("old", T0 - timedelta(minutes=1)), ("young", T0 + timedelta(minutes=1))]
    asked: list[TimeWindow] = []

    async def fetch(window: TimeWindow) -> AsyncIterator[tuple[str, datetime]]:
        asked.append(window)
        for record in records:
            if window.start <= record[1] < window.end:
                yield record

    now = T0 + timedelta(minutes=5)
    read = asyncio.run(
        read_next_window(
            PullCursor(since=T0 - timedelta(minutes=2)),
            RULES,
            now,
            fetch,
            key=lambda r: r[0],
            updated=lambda r: r[1],
            fresh=True,
        )
    )
    assert [r[0] for r in read.records] == ["old", "young"]
    assert read.fresh
    assert read.caught_up
    assert read.cursor.since == now - RULES.lag  # the young record is read again later
    assert asked == [TimeWindow(start=T0 - timedelta(minutes=7), end=now - RULES.fresh_lag)]
    plain = asyncio.run(
        read_next_window(
            PullCursor(since=T0 - timedelta(minutes=2)),
            RULES,
            now,
            fetch,
            key=lambda r: r[0],
            updated=lambda r: r[1],
        )
    )
    assert [r[0] for r in plain.records] == ["old"]
    assert not plain.fresh
    assert plain.cursor == read.cursor
