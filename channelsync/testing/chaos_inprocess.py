"""The in-process runs: the engine cycle by cycle against the fakes, on a fake clock.

The faults suite (a share of every marketplace call answered with a fault) and the
load suite (tens of thousands of orders against scarce stock) run here; the chaos run
with a real daemon is :func:`channelsync.testing.chaos.run_chaos`.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from channelsync.clock import FakeClock
from channelsync.config import EngineConfig
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.store import open_store
from channelsync.testing.chaos_checks import (
    _check_cycle,
    _check_end,
    _check_plan,
    _converged,
    _in_process_engine,
    _release_held,
)
from channelsync.testing.chaos_world import (
    ChaosResult,
    _catalogue,
    _extend_fakes,
    _Run,
    _ship_some,
    _shops,
    _Watch,
)
from channelsync.testing.fakes import Fault

__all__ = ["run_in_process"]


#: 12:00 in Beijing on a weekday, inside every fake's business hours.
_START = datetime(2024, 11, 11, 4, 0, tzinfo=UTC)


def run_in_process(
    *,
    orders: int = 2000,
    seed: int = 0,
    fault_rate: float = 0.0,
    fault_kinds: Iterable[Fault] | None = None,
    items: int = 8,
    quantity: int | None = None,
    cycle_seconds: float = 10.0,
    orders_per_cycle: int = 40,
    ship_per_cycle: int = 2,
    directory: Path | None = None,
    suite: str = "in-process",
    host: PluginHost | None = None,
    max_converge_cycles: int = 200,
) -> ChaosResult:
    """Drive the engine cycle by cycle against the fakes in-process on a fake clock.

    Buyers place ``orders`` orders, ``orders_per_cycle`` per simulated
    ``cycle_seconds``; races for scarce SKUs run every few cycles; ``ship_per_cycle``
    imported orders are shipped per cycle. After every cycle no channel may show more
    than the ledger has available, and, for a scarce SKU, the channels together no
    more than that. ``quantity`` per SKU defaults to about nine tenths of the expected
    demand, so the stock runs scarce towards the end.
    """
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - repeatable runs, not security
    result = ChaosResult(suite=suite, seed=seed)
    clock = FakeClock(_START)
    host = host or build_plugin_manager()
    shops = _shops(host, seed=seed, fault_rate=fault_rate, fault_kinds=fault_kinds, clock=clock)
    _extend_fakes(shops, items)
    skus = items * 2
    if quantity is None:
        quantity = max(4, int(orders * 2.25 * 0.9 / skus))
    csv_text, initial = _catalogue(items, quantity, None)
    where = directory or Path(tempfile.mkdtemp(prefix=f"channelsync-{suite}-"))
    store = open_store(f"sqlite:///{where / 'state.db'}")
    try:
        import_catalogue(store, parse_catalogue(csv_text, "csv"), now=clock.now())
        config = EngineConfig(scarce_threshold=2 * len(shops))
        engine = _in_process_engine(store, shops, clock, config=config, host=host)
        run = _Run(store, engine, shops, initial, {}, result)
        asyncio.run(engine.run_cycle())
        result.cycles += 1
        streaming = time.monotonic()
        _stream(run, clock, rng, orders, orders_per_cycle, cycle_seconds, ship_per_cycle)
        result.ingest_seconds = time.monotonic() - streaming
        converging = time.monotonic()
        clock.advance(max(shop.lag for shop in shops).total_seconds() + cycle_seconds)
        _settle_down(run, clock, max_converge_cycles)
        result.converge_seconds = time.monotonic() - converging
        result.shipments_requested = len(run.shipped)
        _check_end(run)
        _release_held(run, clock, max_held=0)  # settled on a fake clock: nothing may be held
        _check_plan(run)
    finally:
        store.close()
    result.elapsed_seconds = time.monotonic() - started
    return result


def _stream(  # noqa: PLR0917 - the knobs of run_in_process, passed on
    run: _Run,
    clock: FakeClock,
    rng: random.Random,
    orders: int,
    per_cycle: int,
    cycle_seconds: float,
    ship_per_cycle: int,
) -> None:
    """Buyers order between cycles; every cycle is checked as soon as it ends."""
    watch = _Watch(run.shops, run.initial, run.result)
    placed = 0
    while placed < orders:
        batch = min(per_cycle, orders - placed)
        got = sum(len(rng.choice(run.shops).place(1)) for _ in range(batch))
        placed += batch
        if got == 0:
            break  # sold out everywhere the marketplaces show stock
        if run.result.cycles % 5 == 0:
            watch.race(rng)
        clock.advance(cycle_seconds)
        _ship_some(run, rng, ship_per_cycle)
        asyncio.run(run.engine.run_cycle())
        run.result.cycles += 1
        _check_cycle(run)
        watch.sample()


def _settle_down(run: _Run, clock: FakeClock, max_cycles: int) -> None:
    """Run cycles without new orders until everything is imported, sent and recorded."""
    for _ in range(max_cycles):
        asyncio.run(run.engine.run_cycle())
        run.result.cycles += 1
        _check_cycle(run)
        with run.store.transaction() as session:
            # What a merchant does with a refused item (``channelsync outbox retry``):
            # an injected refusal is not the marketplace's last word.
            retried = session.requeue_parked(clock.now())
        run.result.parked_retried += retried
        with run.store.transaction() as session:
            # Units held back for their pace are planned again as the pace decays: a
            # SKU still marked changed is not settled, whatever the outbox says.
            replanning = bool(session.changed_skus())
        if not retried and not replanning and _converged(run.store, run.shops, run.shipped):
            return
        # Failed sends back off (30 s doubling): let simulated time pass for them.
        clock.advance(300)
