"""Proof of the pace rule on a fake clock: at the observed pace, no unit is sold twice.

A model of one SKU on ``n`` marketplaces, run event by event on a FakeClock:

* marketplace ``c`` shows what the engine last sent it (an absolute quantity, as the
  engine sends) and lowers it itself at each sale;
* buyers on ``c`` buy at most what ``c`` shows, and no faster than the pace: within
  any span of ``c``'s visibility delay ``d_c`` at most ``r_c * d_c`` units;
* the engine sees each sale at most ``d_c`` after it, and then at once computes the
  allocation with the real :func:`allocate` and :func:`in_flight` (the rule: partition
  at or below the fixed level plus ``⌊Σ r_c d_c⌋``, holding that many back) and sends
  every marketplace its quantity.

Across random pace, delays, stock, channel counts, fixed levels and buyers, the units
sold never exceed the stock. The same model with the pace term off oversells (the
last test), so the property is not vacuous.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings
from channelsync.engine.allocation import ChannelShare, allocate
from channelsync.engine.pace import in_flight


@dataclass
class Market:
    rate: float
    delay: float
    shown: int = 0
    sales: list[tuple[float, int]] = field(default_factory=list)

    def recent(self, now: float) -> int:
        """Units sold within the last ``delay`` seconds (the pace window of the bound)."""
        return sum(q for at, q in self.sales if at > now - self.delay)

    @property
    def pace_bound(self) -> int:
        return math.floor(self.rate * self.delay)


def simulate(
    stock: int,
    markets: list[Market],
    buyers: list[tuple[float, int, int, float]],
    *,
    fixed: int | None,
    pace: bool = True,
) -> int:
    """Run the model; return the units sold. ``buyers``: (time, market, units, seen after)."""
    clock = FakeClock()
    start = clock.monotonic()
    shares = [ChannelShare(str(i), ChannelSyncSettings()) for i in range(len(markets))]
    rates = {str(i): m.rate for i, m in enumerate(markets)}
    delays = {str(i): m.delay for i, m in enumerate(markets)}
    held = in_flight(rates, delays) if pace else 0
    seen = 0

    def plan() -> None:
        allocation = allocate(stock - seen, shares, threshold=fixed, in_flight=held)
        for i, market in enumerate(markets):
            market.shown = allocation.shown[str(i)]

    plan()
    # (time, order, kind, market, units): "seen" (0) before "buy" (1) at the same moment.
    events: list[tuple[float, int, int, int, int]] = []
    for order, (at, index, units, _) in enumerate(buyers):
        heapq.heappush(events, (at, 1, order, index % len(markets), units))
    sold = 0
    lateness = [late for _, _, _, late in buyers]
    while events:
        at, kind, order, index, units = heapq.heappop(events)
        # max(): the clock's float sum may land a rounding error past ``at``.
        clock.advance(max(0.0, at - (clock.monotonic() - start)))
        market = markets[index]
        if kind == 0:
            seen += units
            plan()
            continue
        if units > market.shown or market.recent(at) + units > market.pace_bound:
            continue  # nothing to buy there, or faster than the pace
        market.shown -= units
        market.sales.append((at, units))
        sold += units
        heapq.heappush(events, (at + lateness[order] * market.delay, 0, order, index, units))
    return sold


markets_strategy = st.lists(
    st.builds(
        Market,
        rate=st.floats(min_value=0.0, max_value=3.0, allow_nan=False),
        delay=st.floats(min_value=0.5, max_value=400.0, allow_nan=False),
    ),
    min_size=1,
    max_size=5,
)
buyers_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=900.0, allow_nan=False),
        st.integers(min_value=0, max_value=4),
        st.integers(min_value=1, max_value=5),
        st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    ),
    max_size=150,
)


@settings(max_examples=150, deadline=None)
@given(
    stock=st.integers(min_value=0, max_value=400),
    markets=markets_strategy,
    buyers=buyers_strategy,
    fixed=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
)
def test_at_the_observed_pace_no_unit_is_sold_twice(
    stock: int,
    markets: list[Market],
    buyers: list[tuple[float, int, int, float]],
    fixed: int | None,
) -> None:
    assert simulate(stock, markets, buyers, fixed=fixed) <= stock


@settings(max_examples=60, deadline=None)
@given(
    stock=st.integers(min_value=0, max_value=400),
    markets=markets_strategy,
    fixed=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
    data=st.data(),
)
def test_buyers_who_take_every_chance_the_pace_allows_oversell_nothing(
    stock: int,
    markets: list[Market],
    fixed: int | None,
    data: st.DataObject,
) -> None:
    # A buyer every second on every marketplace, seen as late as the delay allows.
    buyers = [
        (float(t), i, data.draw(st.integers(1, 3)), 1.0)
        for t in range(150)
        for i in range(len(markets))
    ]
    assert simulate(stock, markets, buyers, fixed=fixed) <= stock


def test_without_the_pace_term_the_same_buyers_oversell() -> None:
    markets = [Market(rate=1.0, delay=60.0), Market(rate=1.0, delay=60.0)]
    buyers = [(float(t), i, 1, 1.0) for t in range(200) for i in range(2)]
    stock = 100
    assert simulate(stock, [Market(m.rate, m.delay) for m in markets], buyers, fixed=None) <= stock
    oversold = simulate(stock, markets, buyers, fixed=None, pace=False) - stock
    assert oversold > 0
