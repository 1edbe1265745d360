"""A double-eleven burst against scarce stock: nobody is shown more than exists.

Two thousand orders across the four plugin fakes (in-process, their own rate limits,
a fake clock) against stock of about nine tenths of the demand. After every cycle no
channel shows more than the ledger has available, and the channels together show no
more than that for a scarce SKU; oversells the polling gap allowed are counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from channelsync.testing.chaos import run_in_process

pytestmark = pytest.mark.reliability


def test_a_burst_of_two_thousand_orders_against_scarce_stock(tmp_path: Path) -> None:
    result = run_in_process(
        orders=2000,
        seed=1111,
        items=16,
        orders_per_cycle=100,
        cycle_seconds=30.0,  # 20 cycles over 10 simulated minutes, past the 2-minute lag
        ship_per_cycle=3,
        directory=tmp_path,
        suite="load",
    )
    print("\n".join(result.lines()))  # noqa: T201 - the figures, shown with -s or on failure
    assert result.problems == []
    assert result.orders_placed >= 1500  # the stock runs out a little before the demand
    assert result.orders_imported == result.orders_placed
    assert result.shipments_pushed_once == result.shipments_requested > 0
    assert result.cycles > 10
