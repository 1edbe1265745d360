"""The daemon killed with SIGKILL at seeded random moments loses nothing and does nothing twice.

A real ``channelsync run`` process works against the four plugin fakes on loopback
while buyers order, two to four channels race for last units and shipments are
recorded through the SDK; it is killed fifty times and restarted, then converges.
The end state is judged from the fakes' own records and the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from channelsync.testing.chaos import run_chaos

pytestmark = pytest.mark.reliability

SEED = 20261111


def test_fifty_sigkills_lose_nothing_and_repeat_nothing(tmp_path: Path) -> None:
    result = run_chaos(
        kills=50,
        seed=SEED,
        order_rate=2.0,
        life=(0.4, 1.4),
        directory=tmp_path,
        converge_timeout=120,
    )
    print("\n".join(result.lines()))  # noqa: T201 - the figures, shown with -s or on failure
    assert result.kills == 50
    assert result.starts == 51
    assert result.orders_placed > 50
    assert result.shipments_requested > 0
    assert result.races > 0
    assert result.problems == []
    assert result.orders_imported == result.orders_placed
    assert result.shipments_pushed_once == result.shipments_requested
