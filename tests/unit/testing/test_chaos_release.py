"""The chaos harness bounds the raises the re-inflation guard holds and sees them released.

A hold is made on purpose on the plugins' own fakes: a buyer's order dated back before
the last send (as the chaos run dates every order back past the marketplace's lag)
leaves a drop no imported order since that send explains, and a restock then queues a
raise over it. Moving the shared fake clock past the lag must release it. At the end,
the plan check names any change a fresh plan would still queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.config import EngineConfig
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import adjust_stock
from channelsync.plugins import build_plugin_manager
from channelsync.store import Store, open_store
from channelsync.testing import chaos_checks, chaos_inprocess, chaos_world
from channelsync.testing.chaos import ChaosResult

pytestmark = pytest.mark.reliability

START = chaos_inprocess._START


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _held_run(store: Store, clock: FakeClock) -> chaos_world._Run:
    """Return a run whose Tmall listing of the first SKU has its raise held by the guard."""
    host = build_plugin_manager()
    shops = [
        shop
        for shop in chaos_world._shops(host, seed=7, fault_rate=0.0, fault_kinds=None, clock=clock)
        if shop.type_name == "tmall"
    ]
    csv_text, initial = chaos_world._catalogue(8, 10, None)
    import_catalogue(store, parse_catalogue(csv_text, "csv"), now=clock.now())
    engine = chaos_checks._in_process_engine(store, shops, clock, config=EngineConfig(), host=host)
    run = chaos_world._Run(store, engine, shops, initial, {}, ChaosResult(suite="test", seed=7))
    asyncio.run(engine.run_cycle())  # everything bound and sent

    (shop,) = shops
    clock.advance(60)
    orders = shop.place(1)
    code = orders[0].lines[0].merchant_code
    chaos_world._backdate(shop, orders)  # dated before the send: no order "since" explains it
    clock.advance(60)
    adjust_stock(store, code, 5, key="restock-1", now=clock.now())
    asyncio.run(engine.run_cycle())  # imports the order, queues the raise, holds it
    with store.transaction() as session:
        held = [b for b in session.bindings() if b.held_since is not None]
    assert [b.merchant_code for b in held] == [code]
    run.result.held.append(f"{shop.channel} {code}")
    return run


def test_a_held_raise_is_released_once_the_lag_has_passed(store: Store) -> None:
    clock = FakeClock(START)
    run = _held_run(store, clock)

    chaos_checks._release_held(run, clock, max_held=1)

    assert run.result.problems == []
    lag = run.shops[0].lag
    assert run.result.released_after is not None
    assert run.result.released_after >= (lag + timedelta(seconds=60)).total_seconds()
    with store.transaction() as session:
        bindings = session.bindings()
    assert all(b.held_since is None for b in bindings)
    shown = chaos_world._snapshot(run.shops).stock[run.shops[0].channel]
    for binding in bindings:
        if binding.sku_id is not None and binding.merchant_code is not None:
            assert binding.planned_quantity == binding.sent_quantity
            assert shown[binding.merchant_code] == binding.sent_quantity
    assert any("released" in line for line in run.result.lines())


def test_more_held_raises_than_the_bound_is_a_problem(store: Store) -> None:
    clock = FakeClock(START)
    run = _held_run(store, clock)

    chaos_checks._release_held(run, clock, max_held=0)

    assert run.result.problems == [
        "1 raises held by the re-inflation guard at the end, at most 0 expected"
    ]


def test_a_hold_that_time_does_not_release_is_a_problem(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(START)
    run = _held_run(store, clock)
    # A guard that never takes a second look: the harness must say so, not wait forever.
    monkeypatch.setattr("channelsync.engine.guard._decide", _hold_forever)

    chaos_checks._release_held(run, clock, max_held=1)

    assert len(run.result.problems) == 1
    assert "not all released" in run.result.problems[0]
    assert run.result.released_after is None


def _hold_forever(*args: object, **kwargs: object) -> None:
    from channelsync.engine import guard  # noqa: PLC0415 - the real module, patched above

    session, _channel, item = args[0], args[1], args[2]
    now = args[6]
    guard._hold(session, item, now, "held", args[7])  # type: ignore[arg-type]


def test_taking_over_after_the_stop_finishes_queued_work_and_releases_holds(
    store: Store,
) -> None:
    clock = FakeClock(START)
    run = _held_run(store, clock)
    run.result.held.clear()  # _take_over finds the holds itself, as the chaos run's end
    # A change the stopped daemon queued and never sent: the next start sends it.
    with store.transaction() as session:
        (binding,) = [b for b in session.bindings() if b.held_since is None][:1]
    adjust_stock(store, binding.merchant_code or "", -1, key="count-2", now=clock.now())

    chaos_checks._take_over(run, clock, max_held=1)

    assert run.result.problems == []
    assert len(run.result.held) == 1
    assert run.result.released_after is not None
    with store.transaction() as session:
        assert all(b.held_since is None for b in session.bindings())
        assert [i for i in session.outbox() if i.state.value == "pending"] == []


def test_a_hold_a_buyers_order_after_the_send_explains_is_not_counted_against_the_bound(
    store: Store,
) -> None:
    clock = FakeClock(START)
    run = _held_run(store, clock)
    run.result.held.clear()

    chaos_checks._take_over(run, clock, max_held=0)

    assert run.result.problems == []
    assert len(run.result.held) == 1  # held at the end, and explained by the buyer's order


def test_a_hold_no_order_explains_is_counted_against_the_bound(store: Store) -> None:
    clock = FakeClock(START)
    run = _held_run(store, clock)
    run.result.held.clear()
    (shop,) = run.shops
    fake: Any = shop.fake
    # The buyer's order never happened: the drop it made stays unexplained.
    with fake.store.lock:
        fake.store.orders.clear()

    chaos_checks._take_over(run, clock, max_held=0)

    assert any("no buyer's order" in problem for problem in run.result.problems)


def test_the_plan_check_names_what_a_fresh_plan_would_still_queue(store: Store) -> None:
    clock = FakeClock(START)
    run = _held_run(store, clock)
    chaos_checks._release_held(run, clock, max_held=1)
    chaos_checks._check_plan(run)
    assert run.result.problems == []
    with store.transaction() as session:
        binding = next(b for b in session.bindings() if b.held_since is None and b.sku_id)
    code, shown = binding.merchant_code or "", binding.planned_quantity or 0
    adjust_stock(store, code, -1, key="count-3", now=clock.now())  # marked, not yet planned

    chaos_checks._check_plan(run)
    with store.transaction() as session:
        session.clear_changed([binding.sku_id or 0])  # as a plan that missed the change would
    chaos_checks._check_plan(run)

    left = f"{run.shops[0].channel}: 1 change(s) not yet sent after converging: stock {code} ="
    assert run.result.problems == [
        f"{left} {shown - 1} (its SKU marked changed)",
        f"{left} {shown - 1} (its SKU not marked)",
    ]
