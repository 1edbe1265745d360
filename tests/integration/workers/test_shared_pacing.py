"""Rate limits shared by every worker: one schedule per (channel, operation) in the store.

The waits are read from the reservations (the database's clock) and the buckets sleep
on fake clocks, so no test waits for real: a schedule seconds long is reserved in a
few milliseconds, and the assertions are on its arithmetic.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest
from sqlalchemy import Engine, text

from channelsync.channels import RateLimit
from channelsync.clock import FakeClock
from channelsync.store import SqlStore, open_store
from channelsync.store.schema import rate_slots
from channelsync.workers.fencing import Fence, FenceOnCommit, LeaseLostError, fenced
from channelsync.workers.pacing import (
    Cadence,
    SharedSchedule,
    SharedTokenBucket,
)

from .pacing_world import (
    CLOSE,
    LIMIT,
    RecordingSchedule,
    conforms,
    limiter,
    server_now,
    tat_of,
)

# -- the arithmetic ------------------------------------------------------------------


def test_a_cadence_has_the_algorithms_two_numbers() -> None:
    cadence = Cadence(rate=2.0, burst=3)
    assert cadence.interval == 0.5
    assert cadence.tolerance == 1.0
    # A throttle's stated wait: the next call goes when it ends (tat less tau), alone.
    assert cadence.penalty_hold(30) == 31.0
    assert cadence.penalty_hold(-1) == 1.0
    assert cadence.drain_hold() == 1.5  # the next call one interval from now
    assert Cadence(rate=1.0, burst=1).tolerance == 0.0


def test_reservations_of_a_cadence_pace_like_a_token_bucket() -> None:
    # One call a second, two at once: the schedule as the statement moves it.
    cadence = Cadence(rate=1.0, burst=2)
    tat = None
    waits = []
    for now in (100.0, 100.0, 100.0, 100.5, 110.0, 110.25):
        tat = max(now if tat is None else tat, now) + cadence.interval
        waits.append(cadence.wait(tat, now))
    assert waits == [0.0, 0.0, 1.0, 1.5, 0.0, 0.0]
    # The full bucket, half a token, an empty one, one interval after emptying.
    assert cadence.tokens(100.0, 100.0) == 2.0
    assert cadence.tokens(101.5, 100.0) == 0.5
    assert cadence.tokens(100.0 + cadence.drain_hold(), 100.0) == 0.0
    assert cadence.tokens(100.0 + cadence.drain_hold(), 101.0) == 1.0
    assert cadence.tokens(50.0, 100.0) == 2.0  # never more than the burst


def test_a_call_waits_exactly_when_the_schedule_has_no_token_for_it() -> None:
    rng = random.Random(7)
    for rate, burst in ((1.0, 1), (5.0, 3), (0.2, 10)):
        cadence = Cadence(rate=rate, burst=burst)
        now, tat = 1.8e9, 1.8e9  # epoch seconds: the rounding the server's clock has
        for _ in range(200):
            now += rng.choice((0.0, 0.0, cadence.interval / 3, cadence.interval * 2))
            had = cadence.tokens(tat, now)
            tat = max(tat, now) + cadence.interval
            assert (cadence.wait(tat, now) == 0.0) == (had >= 1.0 - 1e-6), (rate, burst, had)


def test_the_window_check_sees_a_burst_too_many() -> None:
    assert conforms([0.0, 0.0, 0.0, 1.0, 2.0], rate=1.0, burst=3)
    assert not conforms([0.0, 0.0, 0.0, 0.5], rate=1.0, burst=3)
    assert not conforms([0.0, 0.0, 0.0, 0.0, 0.0, 0.0], rate=1.0, burst=3)


# -- on the store --------------------------------------------------------------------


@pytest.mark.postgres
def test_the_statement_moves_the_schedule_as_the_algorithm_does(store: SqlStore) -> None:
    schedule = SharedSchedule(store.engine)
    cadence = Cadence(rate=2.0, burst=3)
    before: float | None = None
    for _ in range(6):
        found = schedule.reserve("tmall", "op", cadence)
        assert found is not None
        start = found.at if before is None else max(before, found.at)
        assert found.tat == pytest.approx(start + cadence.interval, abs=1e-6)
        assert found.wait == pytest.approx(max(0.0, start - cadence.tolerance - found.at), abs=1e-6)
        before = found.tat
    assert tat_of(store.engine) == pytest.approx(before, abs=1e-6)
    # A schedule at rest (its last call long ago) starts again from now, not from then.
    with store.engine.begin() as connection:
        connection.execute(rate_slots.update().values(tat=rate_slots.c.tat - 100))
    found = schedule.reserve("tmall", "op", cadence)
    assert found is not None
    assert found.wait == 0.0
    assert found.tat == pytest.approx(found.at + cadence.interval, abs=1e-6)


@pytest.mark.postgres
async def test_two_workers_calls_keep_to_one_burst_and_one_rate(
    store: SqlStore, other_process: Engine
) -> None:
    limit = RateLimit(rate=5.0, burst=3)
    schedules = [RecordingSchedule(store.engine), RecordingSchedule(other_process)]
    first, _ = limiter(schedules[0], limit)
    second, _ = limiter(schedules[1], limit)
    assert isinstance(first.bucket("tmall", "op"), SharedTokenBucket)
    for calls in range(12):
        await (first, second)[calls % 2].acquire("tmall", "op")
    reserved = [found for schedule in schedules for _, found in schedule.reserved]
    go = [found.at + found.wait for found in reserved]
    assert len(go) == 12
    assert conforms(go, limit.rate, limit.burst)
    # Each process alone would let three go at once: six in all. Shared, three go at
    # once and the other nine a fifth of a second apart, whoever calls.
    assert sum(found.wait == 0.0 for found in reserved) == 3
    assert max(go) - min(go) == pytest.approx(9 / limit.rate, abs=CLOSE)
    # Another operation is another schedule.
    assert await second.acquire("tmall", "other") == 0.0


@pytest.mark.postgres
async def test_one_process_reserves_its_waiting_calls_in_arrival_order(store: SqlStore) -> None:
    schedule = RecordingSchedule(store.engine)
    limit = RateLimit(rate=10.0, burst=2)
    shared, _ = limiter(schedule, limit)
    calls = [asyncio.create_task(shared.acquire("tmall", "op"), name=f"call-{n}") for n in range(8)]
    await asyncio.gather(*calls)
    assert [name for name, _ in schedule.reserved] == [f"call-{n}" for n in range(8)]
    go = [found.at + found.wait for _, found in schedule.reserved]
    assert go == sorted(go)
    assert conforms(go, limit.rate, limit.burst)


@pytest.mark.postgres
async def test_a_throttle_seen_by_one_worker_holds_every_worker_back(
    store: SqlStore, other_process: Engine
) -> None:
    first, _ = limiter(SharedSchedule(store.engine))
    second, clock = limiter(SharedSchedule(other_process))
    assert await second.acquire("tmall", "op") == 0.0
    first.bucket("tmall", "op").penalise(30)
    # The other worker's next calls wait for the marketplace's stated wait, then one
    # goes, then the rest at the rate: not a burst when the wait ends.
    waits = [await second.acquire("tmall", "op") for _ in range(2)]
    assert waits == pytest.approx([30.0, 31.0], abs=CLOSE)
    assert clock.sleeps == pytest.approx(waits, abs=CLOSE)
    # A throttle without a stated wait: the next call of any worker one interval away.
    assert await second.acquire("tmall", "other") == 0.0
    first.bucket("tmall", "other").drain()
    assert await second.acquire("tmall", "other") == pytest.approx(1.0, abs=CLOSE)


@pytest.mark.postgres
async def test_a_call_waiting_across_a_throttle_takes_a_slot_behind_it(
    store: SqlStore, other_process: Engine
) -> None:
    other, _ = limiter(SharedSchedule(other_process))
    for _ in range(2):
        await other.acquire("tmall", "op")  # the shared burst is spent elsewhere
    spent = time.monotonic()
    schedule = RecordingSchedule(store.engine)
    shared, _ = limiter(schedule)
    waiting = asyncio.create_task(shared.acquire("tmall", "op"))
    await asyncio.sleep(0)  # it has its slot, a second after the burst, and sleeps for it
    (wait,) = [found.wait for _, found in schedule.reserved]
    # A second after the burst was spent: less what a loaded machine took to get here.
    assert 1.0 - (time.monotonic() - spent) - CLOSE <= wait <= 1.0 + CLOSE
    shared.bucket("tmall", "op").penalise(20)
    # Its slot was before the throttle: it takes another, when the throttle ends.
    assert await waiting >= 20.0
    assert len(schedule.reserved) == 2
    assert schedule.reserved[1][1].wait == pytest.approx(20.0, abs=CLOSE)


@pytest.mark.postgres
async def test_the_rate_the_marketplace_states_spaces_the_shared_schedule(
    store: SqlStore,
) -> None:
    shared, clock = limiter(SharedSchedule(store.engine))
    bucket = shared.bucket("tmall", "op")
    bucket.follow(4.0)  # a seller granted four calls a second
    waits = []
    for _ in range(4):
        clock.advance(60)  # this process's own bucket is full: only the schedule waits
        waits.append(await bucket.acquire())
    assert waits == pytest.approx([0.0, 0.0, 0.25, 0.5], abs=CLOSE)
    # Then one call every two seconds: the burst of two is four seconds' worth.
    bucket.follow(0.5)
    waits = []
    for _ in range(3):
        clock.advance(60)
        waits.append(await bucket.acquire())
    assert waits == pytest.approx([0.0, 1.0, 3.0], abs=CLOSE)


@pytest.mark.postgres
async def test_a_burst_whose_first_call_lands_late_moves_the_schedule_on(store: SqlStore) -> None:
    shared, clock = limiter(SharedSchedule(store.engine))
    bucket = shared.bucket("tmall", "op")
    await bucket.acquire()  # the schedule was at rest: this call starts a burst
    before = tat_of(store.engine)
    clock.advance(0.4)  # a new connection's handshake
    bucket.landed()
    assert tat_of(store.engine) - before == pytest.approx(0.4, abs=1e-6)
    await bucket.acquire()  # the second of the burst: it does not start one
    before = tat_of(store.engine)
    clock.advance(0.4)
    bucket.landed()
    assert tat_of(store.engine) == before
    # After a long flight no more than an empty bucket: the next call one interval away.
    with store.engine.begin() as connection:
        connection.execute(rate_slots.update().values(tat=rate_slots.c.tat - 100))  # at rest
    await bucket.acquire()
    clock.advance(600)
    bucket.landed()
    empty = server_now(store.engine) + Cadence(LIMIT.rate, LIMIT.burst).drain_hold()
    assert tat_of(store.engine) == pytest.approx(empty, abs=CLOSE)


def _time_passes(clock: FakeClock, engine: Engine, seconds: float) -> None:
    """Move this process's clock on, and the schedule back as the server's clock would."""
    clock.advance(seconds)
    with engine.begin() as connection:
        connection.execute(rate_slots.update().values(tat=rate_slots.c.tat - seconds))


@pytest.mark.postgres
async def test_any_call_that_lands_after_its_place_moves_the_schedule_on(store: SqlStore) -> None:
    # One a second, two at once. The first call starts a burst and lands at once; the
    # second's place is a second later (the tolerance lets it go now), but it lands 1.5 s
    # later: the marketplace counted it half a second after its place, so the schedule
    # (and every worker's next call) moves on by that half second.
    shared, clock = limiter(SharedSchedule(store.engine))
    bucket = shared.bucket("tmall", "op")
    assert await bucket.acquire() == 0.0
    bucket.landed()
    assert await bucket.acquire() == 0.0
    _time_passes(clock, store.engine, 1.5)
    before = tat_of(store.engine)
    bucket.landed()
    assert tat_of(store.engine) - before == pytest.approx(0.5, abs=CLOSE)
    # One that lands before its place moves nothing.
    assert await bucket.acquire() == 0.0
    before = tat_of(store.engine)
    bucket.landed()
    assert tat_of(store.engine) == before


@pytest.mark.postgres
async def test_a_withdrawn_call_leaves_no_place_behind(store: SqlStore) -> None:
    shared, clock = limiter(SharedSchedule(store.engine))
    bucket = shared.bucket("tmall", "op")
    await bucket.acquire()
    bucket.withdraw()  # its request could not be built: it never goes
    await bucket.acquire()
    _time_passes(clock, store.engine, 0.5)
    before = tat_of(store.engine)
    bucket.landed()  # this call's place was a second on: it is not late
    assert tat_of(store.engine) == before


@pytest.mark.postgres
async def test_a_buckets_level_is_the_shared_schedules(
    store: SqlStore, other_process: Engine
) -> None:
    first, _ = limiter(SharedSchedule(store.engine))
    second, _ = limiter(SharedSchedule(other_process))
    assert second.bucket("tmall", "op").tokens == 2.0  # no call yet anywhere
    for _ in range(2):
        await first.acquire("tmall", "op")
    # The other process has called nothing, but the marketplace's bucket is empty.
    assert second.bucket("tmall", "op").tokens < 0.1
    assert second.levels("tmall")["op"] < 0.1


@pytest.mark.postgres
async def test_each_workspace_keeps_its_own_schedule(store: SqlStore, postgres_url: str) -> None:
    name = f"pace{uuid.uuid4().hex[:8]}"
    other = open_store(postgres_url, workspace=name, create=True)
    try:
        assert isinstance(other, SqlStore)
        here, here_clock = limiter(SharedSchedule(store.engine))
        there, _ = limiter(SharedSchedule(other.engine))
        for _ in range(2):
            assert await here.acquire("tmall", "op") == 0.0
        # The same channel name in another merchant's workspace: its own marketplace shop.
        assert await there.acquire("tmall", "op") == 0.0
        here_clock.advance(60)  # the process's own bucket is full again: the schedule is not
        assert await here.acquire("tmall", "op") == pytest.approx(1.0, abs=CLOSE)
        counted = f'SELECT count(*) FROM "{other.schema}".rate_slots'
        with store.engine.connect() as connection:
            assert connection.execute(text(counted)).scalar_one() == 1
        assert tat_of(other.engine) < tat_of(store.engine)
    finally:
        other.close()
        with store.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "cs_{name}" CASCADE'))


@pytest.mark.postgres
async def test_a_reservation_is_not_a_commit_of_the_job_making_the_call(store: SqlStore) -> None:
    fence = FenceOnCommit(store.engine)
    fence.install()
    try:
        with fenced(Fence("tmall", "pull", epoch=7)):  # a lease this job no longer holds
            with pytest.raises(LeaseLostError), store.transaction() as session:
                session.save_rate_budgets("tmall", {"op": 1.0}, FakeClock().now())
            shared, _ = limiter(SharedSchedule(store.engine))
            assert await shared.acquire("tmall", "op") == 0.0
    finally:
        fence.remove()
    assert fence.refused == 1
    assert tat_of(store.engine) > 0
