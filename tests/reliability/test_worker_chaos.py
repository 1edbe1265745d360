"""Workers SIGKILLed at random under load lose nothing, repeat nothing, and stop cleanly.

Three real ``channelsync worker`` processes share a procrastinate queue in a PostgreSQL
schema of the run's own (``channelsync store migrate`` prepares it) and work the four
plugin fakes on loopback while buyers order, channels race for last units and
shipments are recorded through the SDK. At seeded random moments a random worker is
SIGKILLed and a replacement started; then the workers converge and are stopped with
SIGTERM. The end state is judged from the fakes' own records and the store, as for the
daemon (tests/reliability/test_chaos.py).

It runs only when ``CHANNELSYNC_WORKER_CHAOS_KILLS`` is set (the size; 8 is a CI-sized
run): the workers do not hold the proof yet (see the skip reason), so CI does not run
it. A killed worker's jobs wait for the stalled-job sweep (60 s after its last
heartbeat, not settable for a test), so a run lasts about that long after its last
kill whatever its size. The full size is ``benchmarks/worker_chaos.py``.

Two kinds of problem are known gaps of the workers today, found by this run, and make
it an expected failure (xfail, with the problems as the reason) while every other check
must pass:

- rate limits: every throttling answer of a fake is a problem of the run; workers pace
  their calls per process (docs/how-to/workers.md, "What workers do not do"), and the
  fakes do throttle them;
- liveness: the workers not converging by themselves, or a worker not stopping on
  SIGTERM. A worker's event loop can block for good on its own uncommitted job fetch
  (procrastinate's pool is not in autocommit, and the flush-on-commit hook defers
  synchronously in the loop), which freezes every worker deferring the same step.

The safety promises (nothing lost, nothing doubled, nothing shown that does not exist)
are judged after a take-over either way, and any failure of them fails the test.
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
@pytest.mark.skipif(
    "CHANNELSYNC_WORKER_CHAOS_KILLS" not in os.environ,
    reason=(
        "runs when CHANNELSYNC_WORKER_CHAOS_KILLS is set: the workers do not hold this proof "
        "yet (a listing left showing 1 of 0 in 2 of 3 runs of 50 kills, workers frozen on "
        "an uncommitted fetch, rate limits paced per process); benchmarks/worker_chaos.py"
    ),
)
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
    gaps = result.rate_limit_problems + result.liveness_problems
    assert [problem for problem in result.problems if problem not in gaps] == []
    assert result.orders_imported == result.orders_placed
    assert result.shipments_pushed_once == result.shipments_requested
    if gaps:
        pytest.xfail("known gaps of the workers: " + "; ".join(gaps))


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
