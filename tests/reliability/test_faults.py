"""The same end state with the marketplaces answering 30% of calls with a fault.

The four plugin fakes run in-process on a fake clock and draw faults with a seed;
buyers order, shipments are recorded, and the engine runs cycle after cycle until it
has converged. Judged from the fakes' records and the store: every order imported
once, every shipment pushed once, every channel showing the engine's allocation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from channelsync.testing.chaos import ChaosResult, run_in_process
from channelsync.testing.fakes import ALL_FAULTS, Fault

pytestmark = pytest.mark.reliability

SEED = 3

#: Faults the whole stack survives at 30% of calls.
SURVIVED = frozenset(
    {Fault.THROTTLE, Fault.SERVER_ERROR, Fault.TIMEOUT, Fault.RESET, Fault.PARTIAL_BATCH}
)

#: The token refresh call of each marketplace, as its fake names it.
REFRESH_OPERATIONS = (
    "lwaToken",
    "oauth2.refresh_token",
    "pdd.pop.auth.token.refresh",
    "taobao.top.auth.token.refresh",
)


def run(tmp_path: Path, kinds: frozenset[Fault]) -> ChaosResult:
    result = run_in_process(
        orders=200,
        seed=SEED,
        fault_rate=0.3,
        fault_kinds=kinds,
        orders_per_cycle=10,
        directory=tmp_path,
        suite="faults",
        max_converge_cycles=60,
    )
    print("\n".join(result.lines()))  # noqa: T201 - the figures, shown with -s or on failure
    # Survival is judged on the end state of the whole run: a kind counts as survived
    # when every one of its injections happened in a run that reached that state.
    for kind in sorted(kinds):
        injected = result.faults_injected[str(kind)]
        survived = injected if result.ok else 0
        print(f"  {kind}: injected {injected}, survived {survived}")  # noqa: T201
    return result


def test_throttles_5xx_timeouts_resets_and_partial_batches(tmp_path: Path) -> None:
    result = run(tmp_path, SURVIVED)
    assert result.problems == []
    assert result.orders_imported == result.orders_placed > 150
    assert result.shipments_pushed_once == result.shipments_requested > 0
    # Every kind was injected, many times over, and survived.
    assert {Fault(k) for k in result.faults_injected} == SURVIVED
    assert result.faults_injected.total() > 300


def test_every_fault_kind_including_bad_bodies_and_expired_tokens(tmp_path: Path) -> None:
    result = run(tmp_path, ALL_FAULTS)
    assert result.problems == []
    assert result.orders_imported == result.orders_placed > 150
    assert result.shipments_pushed_once == result.shipments_requested > 0
    assert {Fault(k) for k in result.faults_injected} == ALL_FAULTS
    # Bad bodies and expired tokens were among them, many times over.
    for kind in (Fault.MALFORMED, Fault.TRUNCATED, Fault.EXPIRED_TOKEN):
        assert result.faults_injected[str(kind)] > 50
    # A token refresh happens once per rejected token, never in a loop: the refresh
    # calls stay below the expired-token answers plus the refreshes that failed.
    refreshes = sum(calls[op] for calls in result.calls.values() for op in REFRESH_OPERATIONS)
    assert refreshes < 3 * result.faults_injected[str(Fault.EXPIRED_TOKEN)]
