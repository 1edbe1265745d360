"""The daemon killed with SIGKILL at seeded random moments loses nothing and does nothing twice.

A real ``channelsync run`` process works against the four plugin fakes on loopback
while buyers order, two to four channels race for last units and shipments are
recorded through the SDK; it is killed at seeded random moments and restarted, then
converges. The end state is judged from the fakes' own records and the store.

CI runs it at a reduced size, 12 kills; ``CHANNELSYNC_CHAOS_KILLS`` sets another
(``CHANNELSYNC_CHAOS_KILLS=50 python -m pytest -m chaos -s``), and the longer runs are
``benchmarks/chaos.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from channelsync.testing.chaos import run_chaos

pytestmark = [pytest.mark.reliability, pytest.mark.chaos]

SEED = 20261111
#: SIGKILLs of the CI-sized run.
KILLS = int(os.environ.get("CHANNELSYNC_CHAOS_KILLS", "12"))


def test_sigkills_lose_nothing_and_repeat_nothing(tmp_path: Path) -> None:
    result = run_chaos(
        kills=KILLS,
        seed=SEED,
        order_rate=2.0,
        life=(0.4, 1.4),
        directory=tmp_path,
        converge_timeout=120,
    )
    print("\n".join(result.lines()))  # noqa: T201 - the figures, shown with -s or on failure
    assert result.kills == KILLS
    assert result.starts == KILLS + 1
    assert result.orders_placed > KILLS
    assert result.shipments_requested > 0
    assert result.races > 0
    assert result.problems == []
    assert result.orders_imported == result.orders_placed
    assert result.shipments_pushed_once == result.shipments_requested
