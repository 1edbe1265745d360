"""Rate limits shared by every worker: one schedule per (channel, operation) in the store.

The waits are read from the reservations (the database's clock) and the buckets sleep
on fake clocks, so no test waits for real: a schedule seconds long is reserved in a
few milliseconds, and the assertions are on its arithmetic.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event, select, text

from channelsync.channels import RateLimit
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.store import SqlStore, open_store
from channelsync.store.schema import rate_slots
from channelsync.workers.fencing import Fence, FenceOnCommit, LeaseLostError, fenced
from channelsync.workers.pacing import (
    Cadence,
    Reservation,
    SharedRateLimiter,
    SharedSchedule,
    SharedTokenBucket,
    install_shared_pacing,
)

# The database's clock moves on between two statements of a test (a few milliseconds,
# up to about a tenth of a second on a loaded machine): waits read from it are compared
# this closely. Every wrong schedule the tests tell apart differs by a quarter second
# or more.
CLOSE = 0.2
# One call a second, two at once after a pause.
LIMIT = RateLimit(rate=1.0, burst=2)


class Limits:
    """Every operation of a channel at one limit."""

    def __init__(self, limit: RateLimit = LIMIT) -> None:
        self.limit = limit

    def rate_limit(self, operation: str) -> RateLimit:
        del operation
        return self.limit


class RecordingSchedule(SharedSchedule):
    """A schedule that keeps every reservation, with the task that made it."""

    def __init__(self, engine: Engine, **options: Any) -> None:
        super().__init__(engine, **options)
        self.reserved: list[tuple[str, Reservation]] = []

    def reserve(self, channel: str, operation: str, cadence: Cadence) -> Reservation | None:
        found = super().reserve(channel, operation, cadence)
        if found is not None:
            task = asyncio.current_task()
            self.reserved.append(("" if task is None else task.get_name(), found))
        return found


def limiter(
    schedule: SharedSchedule, limit: RateLimit = LIMIT
) -> tuple[SharedRateLimiter, FakeClock]:
    """A worker process's limiter for channel ``tmall``: its own clock, the shared schedule."""
    clock = FakeClock()
    found = SharedRateLimiter(schedule, clock)
    found.configure("tmall", Limits(limit))
    return found, clock


def conforms(go: list[float], rate: float, burst: int) -> bool:
    """Whether no window of the calls going at ``go`` holds more than ``burst + rate * t``.

    A microsecond is given: epoch seconds as doubles are exact to a quarter of one.
    """
    times = sorted(go)
    return all(
        j - i + 1 <= burst + rate * (times[j] - times[i] + 1e-6)
        for i in range(len(times))
        for j in range(i, len(times))
    )


def tat_of(engine: Engine, operation: str = "op") -> float:
    with engine.connect() as connection:
        found = connection.execute(
            select(rate_slots.c.tat).where(
                rate_slots.c.channel == "tmall", rate_slots.c.operation == operation
            )
        ).scalar_one()
    return float(found)


def server_now(engine: Engine) -> float:
    with engine.connect() as connection:
        return float(
            connection.execute(text("SELECT extract(epoch FROM clock_timestamp())")).one()[0]
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
    waits, idle = [], []
    for now in (100.0, 100.0, 100.0, 100.5, 110.0, 110.25):
        tat = max(now if tat is None else tat, now) + cadence.interval
        waits.append(cadence.wait(tat, now))
        idle.append(cadence.found_idle(tat, now))
    assert waits == [0.0, 0.0, 1.0, 1.5, 0.0, 0.0]
    assert idle == [True, False, False, False, True, False]
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


@pytest.fixture
def store(postgres_url: str) -> Iterator[SqlStore]:
    found = open_store(postgres_url)
    assert isinstance(found, SqlStore)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def other_process(store: SqlStore) -> Iterator[Engine]:
    """An engine of its own on the same store, as another worker process has."""
    engine = create_engine(store.engine.url)
    try:
        yield engine
    finally:
        engine.dispose()


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
        assert found.idle == (before is None or before <= found.at)
        before = found.tat
    assert tat_of(store.engine) == pytest.approx(before, abs=1e-6)
    # A schedule at rest (its last call long ago) starts again from now, not from then.
    with store.engine.begin() as connection:
        connection.execute(rate_slots.update().values(tat=rate_slots.c.tat - 100))
    found = schedule.reserve("tmall", "op", cadence)
    assert found is not None
    assert found.idle
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
    schedule = RecordingSchedule(store.engine)
    shared, _ = limiter(schedule)
    waiting = asyncio.create_task(shared.acquire("tmall", "op"))
    await asyncio.sleep(0)  # it has its slot, a second away, and sleeps for it
    assert [found.wait for _, found in schedule.reserved] == pytest.approx([1.0], abs=CLOSE)
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


def unreachable_engine(attempts: list[int]) -> Engine:
    """An engine of a server that refuses connections, counting the attempts."""
    engine = create_engine(
        "postgresql+psycopg://127.0.0.1:1/test", connect_args={"connect_timeout": 2}
    )

    @event.listens_for(engine, "do_connect")
    def _attempted(*_: Any) -> None:
        attempts.append(1)

    return engine


async def test_an_unreachable_store_leaves_each_process_pacing_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []
    engine = unreachable_engine(attempts)
    moments = [0.0]
    schedule = SharedSchedule(engine, retry_after=10.0, monotonic=lambda: moments[0])
    shared, _ = limiter(schedule)
    bucket = shared.bucket("tmall", "op")
    try:
        with caplog.at_level(logging.INFO, logger="channelsync.workers.pacing"):
            waits = [await bucket.acquire() for _ in range(4)]
            bucket.penalise(5)  # held here at least
            waits.append(await bucket.acquire())
            moments[0] = 11.0  # the store is tried again, once
            assert await bucket.acquire() == 1.0
    finally:
        engine.dispose()
    assert waits == [0.0, 0.0, 1.0, 1.0, 5.0]  # the process's own bucket's pace
    assert len(attempts) == 2
    assert not schedule.reachable
    records = [r for r in caplog.records if r.name == "channelsync.workers.pacing"]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "out of reach" in records[0].getMessage()


@pytest.mark.postgres
async def test_a_store_back_in_reach_shares_the_schedule_again(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(store.engine.url)
    refusing = [True]

    @event.listens_for(engine, "do_connect")
    def _refuse(*_: Any) -> None:
        if refusing[0]:
            raise psycopg.OperationalError("connection refused")

    moments = [0.0]
    schedule = SharedSchedule(engine, retry_after=10.0, monotonic=lambda: moments[0])
    shared, _ = limiter(schedule)
    try:
        with caplog.at_level(logging.INFO, logger="channelsync.workers.pacing"):
            assert await shared.acquire("tmall", "op") == 0.0
            refusing[0] = False
            moments[0] = 10.0
            assert await shared.acquire("tmall", "op") == 0.0
    finally:
        engine.dispose()
    assert schedule.reachable
    records = [r for r in caplog.records if r.name == "channelsync.workers.pacing"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    # Only the second call is in the schedule.
    assert tat_of(store.engine) == pytest.approx(server_now(store.engine) + 1.0, abs=CLOSE)


@pytest.mark.postgres
async def test_a_plugins_calls_are_reserved_in_the_shared_schedule(store: SqlStore) -> None:
    from channelsync_tmall import TmallChannel, TmallSettings  # noqa: PLC0415 - a real transport
    from channelsync_tmall.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake  # noqa: PLC0415

    clock = FakeClock()
    credentials = CredentialStore(
        backend=MemorySecretBackend({("tmall", k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    fake = demo_fake(clock=clock)
    with fake.serve() as server:
        settings = TmallSettings.model_validate(
            {**DEMO_SETTINGS, "base_url": f"{server.url}/router/rest"}
        )
        channel = TmallChannel("tmall", settings, credentials.for_channel("tmall"), clock=clock)
        schedule = install_shared_pacing([channel], store)
        async with channel:
            limiter = channel.http.rate_limiter
            assert isinstance(limiter, SharedRateLimiter)
            assert limiter.schedule is schedule
            listings = [listing async for listing in channel.iter_listings()]
    assert listings
    with store.engine.connect() as connection:
        rows = connection.execute(select(rate_slots.c.channel, rate_slots.c.operation)).all()
    assert ("tmall", "taobao.items.onsale.get") in {tuple(row) for row in rows}


@pytest.mark.postgres
async def test_amazons_second_transport_and_feed_quota_share_the_schedule(
    store: SqlStore,
) -> None:
    from channelsync_amazon import AmazonChannel, AmazonSettings  # noqa: PLC0415
    from channelsync_amazon.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake  # noqa: PLC0415
    from channelsync_amazon.feeds import FEED_QUOTA_KEY  # noqa: PLC0415

    clock = FakeClock()
    fake = demo_fake(clock=clock)
    credentials = CredentialStore(
        backend=MemorySecretBackend({("amazon", k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    settings = AmazonSettings.model_validate(
        {**DEMO_SETTINGS, "token_url": "https://api.amazon.com/auth/o2/token"}
    )
    channel = AmazonChannel(
        "amazon",
        settings,
        credentials.for_channel("amazon"),
        transport=fake.transport(),
        clock=clock,
    )
    install_shared_pacing([channel], store)
    async with channel:
        assert channel.plain.rate_limiter is channel.http.rate_limiter
        quota = channel.http.rate_limiter.bucket("amazon", FEED_QUOTA_KEY)
        assert isinstance(quota, SharedTokenBucket)
        listings = [listing async for listing in channel.iter_listings()]
    assert listings
    with store.engine.connect() as connection:
        operations = set(
            connection.execute(
                select(rate_slots.c.operation).where(rate_slots.c.channel == "amazon")
            ).scalars()
        )
    assert "searchListingsItems" in operations


def test_installing_on_an_open_channel_says_it_waits_for_a_reopen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Opened:
        name = "tmall"
        is_open = True
        clock = FakeClock()
        rate_limiter: object = None

    store = open_store("sqlite://")
    assert isinstance(store, SqlStore)
    try:
        with caplog.at_level(logging.WARNING, logger="channelsync.workers.pacing"):
            install_shared_pacing([Opened()], store)  # type: ignore[list-item]
    finally:
        store.close()
    assert "reopened" in caplog.text
