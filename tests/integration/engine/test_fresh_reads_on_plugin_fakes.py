"""Each plugin's declared fresh floor is one its marketplace accepts, and it pays off.

On the plugins' own fakes (which refuse windows ending too close to their clock where
the marketplace does: Pinduoduo 3 minutes, Amazon 2): an order placed just past the
floor is read by a fresh pull, long before the completeness lag passes, and a pull
after the lag imports nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from channelsync.channels import OrdersCapability, PullCursor
from channelsync.clock import FakeClock
from tests.integration.engine.fake_shops import PLUGINS, START, open_shop


@pytest.mark.parametrize("name", sorted(PLUGINS))
async def test_a_fresh_pull_reads_past_the_lag_and_is_accepted(name: str) -> None:
    clock = FakeClock(START)
    shop = open_shop(name, clock)
    channel = shop.channel
    assert isinstance(channel, OrdersCapability)
    rules = channel.limits.order_window
    assert rules.fresh_lag is not None
    assert rules.fresh_lag < rules.lag
    (placed,) = shop.generate_orders(1)
    clock.advance(rules.fresh_lag.total_seconds() + 5)
    cursor = PullCursor.starting_at(START - timedelta(minutes=10))
    async with channel:
        plain = await channel.pull_orders(cursor)
        fresh = await channel.pull_orders(cursor, fresh=True)
    assert placed.order_id not in {o.order_id for o in plain.orders}
    assert placed.order_id in {o.order_id for o in fresh.orders}
    assert fresh.fresh
    assert fresh.cursor == plain.cursor
    assert fresh.cursor.since <= START  # the order's span is read again, complete, later
