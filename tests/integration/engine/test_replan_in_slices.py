"""Replanning in slices: what one replan queues, a slice of SKUs per transaction.

The daemon and the workers replan after every pull; after a channel is bound or the
settings change, that is the whole catalogue, which must not hold the other channels'
steps back for the whole plan.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.engine import context as engine_context
from channelsync.engine import sync as engine_sync
from channelsync.engine.planner import plan_changes
from channelsync.engine.sync import SyncEngine
from channelsync.store import OutboxState, Store
from channelsync.testing import MemoryChannel


def _pending(store: Store) -> dict[str, list[dict[str, Any]]]:
    queued: dict[str, list[dict[str, Any]]] = {"jd": [], "tmall": []}
    with store.transaction() as session:
        for item in session.outbox(state=OutboxState.PENDING):
            queued[item.channel].append({"kind": item.kind, "key": item.key, **item.payload})
    return queued


def _sorted(plan: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {name: sorted(entries, key=repr) for name, entries in plan.items()}


@pytest.fixture
async def engine(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> SyncEngine:
    """Return an engine of both shops, both bound (their SKUs marked changed)."""
    engine = SyncEngine(store, [tmall, jd], clock=clock)
    async with tmall, jd:
        await engine.bind_new("tmall")
        await engine.bind_new("jd")
    return engine


async def test_slices_queue_what_one_replan_queues_and_the_loop_runs_between_them(
    store: Store,
    clock: FakeClock,
    tmall: MemoryChannel,
    jd: MemoryChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_sync, "REPLAN_SLICE", 1)
    engine = SyncEngine(store, [tmall, jd], clock=clock)
    async with tmall, jd:
        await engine.bind_new("tmall")
        await engine.bind_new("jd")
    expected = _sorted(engine.plan())  # what one replan would queue (a preview)
    # 2 SKUs, stock and price, on 2 channels.
    assert sum(len(entries) for entries in expected.values()) == 8

    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(len(ticks))
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    report = await engine.replan_in_slices()
    ticking.cancel()

    assert _sorted(_pending(store)) == expected
    assert report.skus == 2
    assert len(ticks) >= 3  # the loop went on between (and on PostgreSQL during) slices
    with store.transaction() as session:
        assert list(session.changed_skus()) == []
    assert (await engine.replan_in_slices()).skus == 0  # nothing left marked


def _slices_of_one(store: Store, monkeypatch: pytest.MonkeyPatch, planned: Any) -> None:
    """Plan one SKU per slice, each through ``planned(session, context, ids)``."""
    if not store.concurrent_writers:
        pytest.skip("on SQLite, one writer: one slice at a time")
    monkeypatch.setattr(engine_sync, "REPLAN_SLICE", 1)
    monkeypatch.setattr(engine_context, "THREAD_ROWS", 1)  # each slice in a thread
    monkeypatch.setattr(engine_sync, "plan_changes", planned)


async def test_on_postgresql_two_slices_are_planned_at_once(
    store: Store, engine: SyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _sorted(engine.plan())
    # Each slice waits for the other: one at a time, the first would wait in vain.
    both = threading.Barrier(2, timeout=10)

    def planned(session: Any, context: Any, ids: Any) -> Any:
        both.wait()
        return plan_changes(session, context, ids)

    _slices_of_one(store, monkeypatch, planned)
    report = await engine.replan_in_slices()

    assert report.skus == 2
    assert _sorted(_pending(store)) == expected


async def test_a_failed_slice_is_raised_once_every_slice_at_once_has_ended(
    store: Store, engine: SyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Barrier(2, timeout=10)
    ended: list[int] = []

    def planned(session: Any, context: Any, ids: Any) -> Any:
        started.wait()
        report = plan_changes(session, context, ids)
        if ids == first:
            raise RuntimeError("slice failed")
        time.sleep(0.2)  # the other slice ends after the failure
        ended.append(ids[0])
        return report

    with store.transaction() as session:
        first = [min(session.changed_skus())]
    _slices_of_one(store, monkeypatch, planned)
    with pytest.raises(RuntimeError, match="slice failed"):
        await engine.replan_in_slices()

    assert len(ended) == 1  # the other slice had ended (and committed) by then
    with store.transaction() as session:
        assert list(session.changed_skus()) == first  # the failed slice rolled back
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_cancelled_replan_ends_once_its_slices_at_once_have(
    store: Store, engine: SyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = threading.Barrier(2, timeout=10)
    running = threading.Event()
    ended: list[int] = []

    def planned(session: Any, context: Any, ids: Any) -> Any:
        both.wait()
        running.set()
        time.sleep(0.2)
        report = plan_changes(session, context, ids)
        ended.append(ids[0])
        return report

    _slices_of_one(store, monkeypatch, planned)
    replanning = asyncio.create_task(engine.replan_in_slices())
    while not running.is_set():
        await asyncio.sleep(0.01)
    replanning.cancel()
    with pytest.raises(asyncio.CancelledError):
        await replanning

    assert len(ended) == 2  # neither transaction was left running behind the step
