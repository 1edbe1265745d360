"""Workers SIGKILLed at random under load lose nothing, repeat nothing, and stop cleanly.

Three real ``channelsync worker`` processes share a procrastinate queue in a PostgreSQL
schema of the run's own (``channelsync store migrate`` prepares it) and work the four
plugin fakes on loopback while buyers order, channels race for last units and
shipments are recorded through the SDK. At seeded random moments a random worker is
SIGKILLed and a replacement started; then the workers converge and are stopped with
SIGTERM. The end state is judged from the fakes' own records and the store, as for the
daemon (tests/reliability/test_chaos.py).

CHANNELSYNC_WORKER_CHAOS_KILLS sets the size (default 8, the CI size: about 40 s, the
workers' ``[workers]`` timings shortened by the harness so a killed worker's jobs come
back within seconds). The full size is ``benchmarks/worker_chaos.py --kills 50``.

Every check must pass: nothing lost or doubled, nothing shown that does not exist,
every step done by the workers themselves (convergence without help, every worker
stopping on SIGTERM) and no throttling answer at any marketplace (the rate limits are
shared by the workers, counted at the fakes).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from channelsync.clock import FakeClock
from channelsync.plugins import build_plugin_manager
from channelsync.testing.chaos_checks import _check_throttles
from channelsync.testing.chaos_workers import run_worker_chaos
from channelsync.testing.chaos_world import ChaosResult, _shops
from channelsync.testing.fakes import ThrottleRule

pytestmark = [pytest.mark.reliability]

SEED = 20261111
#: SIGKILLs of the CI-sized run.
KILLS = int(os.environ.get("CHANNELSYNC_WORKER_CHAOS_KILLS", "8"))
WORKERS = 3


@pytest.mark.chaos
@pytest.mark.postgres
def test_worker_sigkills_lose_nothing_and_repeat_nothing(postgres_url: str, tmp_path: Path) -> None:
    result = run_worker_chaos(
        workers=WORKERS,
        kills=KILLS,
        seed=SEED,
        order_rate=2.0,
        store_url=postgres_url,
        directory=tmp_path,
        converge_timeout=150,
    )
    print("\n".join(result.lines()))  # noqa: T201 - the figures, shown with -s or on failure
    assert result.kills == KILLS
    assert result.starts == WORKERS + KILLS
    assert result.orders_placed > KILLS
    assert result.shipments_requested > 0
    assert result.races > 0
    assert result.jobs["todo>doing"] > 0
    assert result.problems == []
    assert result.ok
    assert result.orders_imported == result.orders_placed
    assert result.shipments_pushed_once == result.shipments_requested
    assert sum(sum(calls.values()) for calls in result.throttles.values()) == 0


def test_the_fakes_throttling_answers_are_counted_and_each_is_a_problem() -> None:
    shops = _shops(
        build_plugin_manager(), seed=0, fault_rate=0.0, fault_kinds=None, clock=FakeClock()
    )
    assert len(shops) >= 2
    first, second = shops[0], shops[1]
    # Three calls at one instant against a burst of two: the third is throttled.
    waits = [first.fake.throttled("probe", ThrottleRule(rate=1.0, burst=2)) for _ in range(3)]
    assert waits[:2] == [None, None]
    assert waits[2] is not None
    assert first.throttles == Counter({"probe": 1})
    assert second.throttles == Counter()

    result = ChaosResult(suite="probe", seed=0)
    result.throttles = {shop.channel: Counter(shop.throttles) for shop in shops}
    found = _check_throttles(result)
    assert found == [
        f"{first.channel}: the marketplace throttled 1 call(s), its rate limit exceeded (probe 1)"
    ]
    assert result.problems == found
    assert any(
        "throttling answers at the marketplaces (a rate limit exceeded): 1" in line
        for line in result.lines()
    )
