"""The worker chaos harness's clock moves the workers' shared rate schedule with it."""

from __future__ import annotations

import pytest

from channelsync.store import SqlStore
from channelsync.testing.chaos_workers import _WorkersClock
from channelsync.workers.pacing import Cadence, SharedSchedule

from .pacing_world import tat_of

pytestmark = [pytest.mark.postgres]


def test_moving_the_clock_on_moves_every_slot_of_the_schedule_back(store: SqlStore) -> None:
    schedule = SharedSchedule(store.engine)
    # Amazon's orders search after its burst: the next call minutes away.
    for _ in range(3):
        schedule.reserve("tmall", "op", Cadence(rate=1 / 180, burst=1))
    schedule.reserve("tmall", "other", Cadence(rate=1.0, burst=1))
    before = tat_of(store.engine), tat_of(store.engine, "other")
    clock = _WorkersClock()
    clock.advance(60)  # no schedule yet: the workers' run, the schedule left alone
    assert (tat_of(store.engine), tat_of(store.engine, "other")) == before
    clock.schedule = store
    clock.advance(300)
    assert tat_of(store.engine) == pytest.approx(before[0] - 300)
    assert tat_of(store.engine, "other") == pytest.approx(before[1] - 300)
    assert clock.offset == 360  # the fakes' time moved on as much
