"""Replanning in slices: what one replan queues, a slice of SKUs per transaction.

The daemon and the workers replan after every pull; after a channel is bound or the
settings change, that is the whole catalogue, which must not hold the other channels'
steps back for the whole plan.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.engine import sync as engine_sync
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
