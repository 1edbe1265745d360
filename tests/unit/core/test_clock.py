from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from channelsync.clock import CHINA_STANDARD_TIME, FakeClock, format_local_time, parse_local_time


def test_gmt8_wall_clock_is_converted_to_the_same_instant() -> None:
    moment = parse_local_time("2026-01-01 08:00:00")
    assert moment == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert format_local_time(moment) == "2026-01-01 08:00:00"
    assert format_local_time(moment, CHINA_STANDARD_TIME) == "2026-01-01 08:00:00"


def test_bad_wall_clock_text_names_the_value() -> None:
    with pytest.raises(ValueError, match="'2026/01/01'"):
        parse_local_time("2026/01/01")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_local_time(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_fake_clock_advances_when_slept_on() -> None:
    clock = FakeClock()
    start, mono = clock.now(), clock.monotonic()
    asyncio.run(clock.sleep(2.5))
    assert clock.sleeps == [2.5]
    assert (clock.now() - start).total_seconds() == 2.5
    assert clock.monotonic() - mono == 2.5
