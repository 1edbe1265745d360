"""A slice's pace answers each SKU as the formula over that SKU's own rates does."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channelsync.engine.pace import SlicePace, in_flight

NAMES = ("a", "b", "c")
rates = st.dictionaries(
    st.tuples(st.integers(1, 4), st.sampled_from(NAMES)),
    st.floats(-1, 5, allow_nan=False) | st.just(0.0),
    max_size=8,
)
delays = st.dictionaries(
    st.sampled_from(NAMES), st.floats(0, 900, allow_nan=False) | st.just(math.inf), max_size=3
)


def _formula(
    rates: dict[tuple[int, str], float], delays: dict[str, float], sku_id: int, names: list[str]
) -> int | str:
    try:
        return in_flight({n: rates.get((sku_id, n), 0.0) for n in names}, delays)
    except (ValueError, OverflowError) as error:
        return type(error).__name__


@given(rates, delays, st.lists(st.sampled_from(NAMES), max_size=4))
@settings(max_examples=400)
def test_each_sku_gets_what_the_formula_gives(
    rates: dict[tuple[int, str], float], delays: dict[str, float], names: list[str]
) -> None:
    pace = SlicePace(rates, delays)
    for sku_id in range(6):  # SKUs with and without rates
        expected = _formula(rates, delays, sku_id, names)
        try:
            found: int | str = pace.in_flight(sku_id, iter(names))
        except (ValueError, OverflowError) as error:
            found = type(error).__name__
        assert found == expected


def test_a_sku_without_sales_holds_nothing_back_unless_a_delay_is_unbounded() -> None:
    pace = SlicePace({(1, "a"): 0.5}, {"a": 10.0, "b": 30.0})
    assert pace.in_flight(1, ["a", "b"]) == 5
    assert pace.in_flight(2, ["a", "b"]) == 0
    # 0 units a second times an unbounded delay is no number: as the formula says.
    unbounded = SlicePace({(1, "a"): 0.5}, {"a": 10.0, "b": math.inf})
    with pytest.raises(ValueError):
        unbounded.in_flight(2, ["a", "b"])
