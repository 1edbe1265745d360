from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from channelsync.config import ChannelSyncSettings
from channelsync.engine.allocation import ChannelShare, allocate, base_quantity

shares = st.decimals(min_value=0, max_value=1, places=2)
channel_settings = st.builds(
    ChannelSyncSettings,
    share=shares,
    cap=st.none() | st.integers(0, 50),
    buffer=st.integers(0, 5),
    priority=st.integers(-3, 3),
    managed_stock=st.booleans(),
)
channel_lists = st.lists(
    st.tuples(channel_settings, st.integers(0, 20)), min_size=0, max_size=6
).map(lambda items: [ChannelShare(f"c{i}", s, sales) for i, (s, sales) in enumerate(items)])


@given(st.integers(-20, 200), channel_lists, st.booleans(), st.none() | st.integers(0, 30))
@settings(max_examples=150)
def test_no_channel_is_shown_more_than_available_or_less_than_zero(
    available: int, channels: list[ChannelShare], strict: bool, threshold: int | None
) -> None:
    result = allocate(available, channels, strict=strict, threshold=threshold)
    for quantity in result.shown.values():
        assert 0 <= quantity <= max(available, 0)
    assert not result.overcommitted


@given(st.integers(-20, 200), channel_lists, st.booleans(), st.none() | st.integers(0, 30))
@settings(max_examples=150)
def test_in_the_scarce_state_the_sum_shown_never_exceeds_available(
    available: int, channels: list[ChannelShare], strict: bool, threshold: int | None
) -> None:
    result = allocate(available, channels, strict=strict, threshold=threshold)
    if result.scarce:
        assert result.total <= max(available, 0)


@given(st.integers(-5, 200), channel_lists)
def test_unmanaged_channels_are_never_allocated(
    available: int, channels: list[ChannelShare]
) -> None:
    result = allocate(available, channels)
    assert set(result.shown) == {c.channel for c in channels if c.settings.managed_stock}


@given(st.integers(1, 500), st.integers(1, 6))
def test_with_default_settings_and_plenty_every_channel_shows_everything(
    available: int, count: int
) -> None:
    channels = [ChannelShare(f"c{i}", ChannelSyncSettings()) for i in range(count)]
    result = allocate(available, channels)
    if available > count:
        assert not result.scarce
        assert set(result.shown.values()) == {available}


@given(st.integers(0, 500), channel_lists)
def test_strict_partitions_without_leaving_units_unshown(
    available: int, channels: list[ChannelShare]
) -> None:
    result = allocate(available, channels, strict=True)
    managed = [c for c in channels if c.settings.managed_stock]
    limit_total = sum(base_quantity(available, c.settings) for c in managed)
    # Every unit is dealt unless every channel has reached its own limit.
    assert result.total == min(available, limit_total)


def test_the_formula() -> None:
    settings_ = ChannelSyncSettings(share=Decimal("0.5"), cap=8, buffer=1)
    assert base_quantity(10, settings_) == 4
    assert base_quantity(100, settings_) == 8
    assert base_quantity(1, settings_) == 0
    assert base_quantity(-3, settings_) == 0


def test_the_last_unit_goes_to_one_channel_by_priority_then_recent_sales() -> None:
    channels = [
        ChannelShare("a", ChannelSyncSettings(), recent_sales=1),
        ChannelShare("b", ChannelSyncSettings(), recent_sales=9),
        ChannelShare("c", ChannelSyncSettings(priority=1)),
    ]
    assert allocate(1, channels).shown == {"a": 0, "b": 0, "c": 1}
    assert allocate(2, channels).shown == {"a": 0, "b": 1, "c": 1}
    assert allocate(3, channels).shown == {"a": 1, "b": 1, "c": 1}
    assert allocate(4, channels).shown == {"a": 4, "b": 4, "c": 4}


def test_strict_deals_units_in_turn() -> None:
    channels = [ChannelShare(n, ChannelSyncSettings()) for n in "abc"]
    assert allocate(10, channels, strict=True).shown == {"a": 4, "b": 3, "c": 3}


def test_a_minimum_breaks_the_guarantee_and_is_reported() -> None:
    channels = [
        ChannelShare("a", ChannelSyncSettings(minimum=2)),
        ChannelShare("b", ChannelSyncSettings()),
    ]
    result = allocate(1, channels)
    # The one unit is dealt by rank (a, by name), then a's minimum lifts it to 2.
    assert result.shown == {"a": 2, "b": 0}
    assert result.total == 2
    assert result.scarce
    assert result.overcommitted
    # The minimum is applied after the deal: when b ranks first it keeps the unit it
    # was dealt, and a still shows its minimum.
    ranked_b_first = [
        ChannelShare("a", ChannelSyncSettings(minimum=2)),
        ChannelShare("b", ChannelSyncSettings(), recent_sales=5),
    ]
    result = allocate(1, ranked_b_first)
    assert result.shown == {"a": 2, "b": 1}
    assert result.overcommitted
    # Without a minimum the same SKU is never overcommitted.
    plain = allocate(1, [ChannelShare("a", ChannelSyncSettings()), channels[1]])
    assert plain.shown == {"a": 1, "b": 0}
    assert not plain.overcommitted


def _reference_base_quantity(available: int, settings_: ChannelSyncSettings) -> int:
    """The formula as the module states it, computed the plain way."""
    if available <= 0:
        return 0
    shown = math.floor(available * settings_.share) - settings_.buffer
    if settings_.cap is not None:
        shown = min(shown, settings_.cap)
    return max(0, min(shown, available))


def _reference_allocate(
    available: int,
    channels: list[ChannelShare],
    *,
    strict: bool,
    threshold: int | None,
    in_flight: int,
) -> tuple[dict[str, int], bool, int, bool, int]:
    """The allocation rule step by step, as the module's docstring states it."""
    managed = [c for c in channels if c.settings.managed_stock]
    in_flight = max(0, in_flight)
    level = (len(managed) if threshold is None else threshold) + in_flight
    scarce = strict or available <= level
    limits = {c.channel: _reference_base_quantity(available, c.settings) for c in managed}
    if scarce:
        ranked = sorted(managed, key=lambda c: (-c.settings.priority, -c.recent_sales, c.channel))
        shown = {c.channel: 0 for c in ranked}
        remaining = max(available - in_flight, 0)
        # One unit at a time, in rank order, to each channel still under its limit.
        while remaining > 0:
            given = False
            for c in ranked:
                if remaining > 0 and shown[c.channel] < limits[c.channel]:
                    shown[c.channel] += 1
                    remaining -= 1
                    given = True
            if not given:
                break
    else:
        shown = dict(limits)
    for share in managed:
        shown[share.channel] = max(shown[share.channel], share.settings.minimum)
    total = sum(shown.values())
    over = (
        total > max(available, 0) if scarce else any(q > max(available, 0) for q in shown.values())
    )
    return shown, scarce, level, over, in_flight


varied_settings = st.builds(
    ChannelSyncSettings,
    share=st.sampled_from([Decimal(1), Decimal("1.00"), Decimal(0)]) | shares,
    cap=st.none() | st.integers(0, 50),
    buffer=st.integers(0, 5),
    priority=st.integers(-3, 3),
    minimum=st.integers(0, 4) | st.just(0),
    managed_stock=st.booleans(),
)
varied_lists = st.lists(
    st.tuples(st.sampled_from("abcdef"), varied_settings, st.integers(0, 20)),
    max_size=6,
    unique_by=lambda item: item[0],
).map(lambda items: [ChannelShare(name, s, sales) for name, s, sales in items])


@given(
    st.integers(-20, 300),
    varied_lists,
    st.booleans(),
    st.none() | st.integers(0, 30),
    st.integers(-5, 40),
)
@settings(max_examples=600)
def test_allocation_is_the_rule_step_by_step(
    available: int,
    channels: list[ChannelShare],
    strict: bool,
    threshold: int | None,
    in_flight: int,
) -> None:
    result = allocate(available, channels, strict=strict, threshold=threshold, in_flight=in_flight)
    shown, scarce, level, over, held = _reference_allocate(
        available, channels, strict=strict, threshold=threshold, in_flight=in_flight
    )
    assert dict(result.shown) == shown
    assert list(result.shown) == list(shown)
    assert (result.scarce, result.threshold, result.overcommitted, result.in_flight) == (
        scarce,
        level,
        over,
        held,
    )
    for share in channels:
        assert base_quantity(available, share.settings) == _reference_base_quantity(
            available, share.settings
        )
