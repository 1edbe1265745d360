"""Rate limits shared by every worker: one schedule per (channel, operation) in the store."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import text

from channelsync.channels import RateLimit
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.store import SqlStore, open_store
from channelsync.workers.pacing import (
    SharedRateLimiter,
    SharedSchedule,
    SharedTokenBucket,
    install_shared_pacing,
)

from .queue_world import World

pytestmark = pytest.mark.postgres

# One call a second, two at once after a pause.
LIMIT = RateLimit(rate=1.0, burst=2)


class Limits:
    """Every operation of the channel at :data:`LIMIT`."""

    def rate_limit(self, operation: str) -> RateLimit:
        del operation
        return LIMIT


def worker_limiter(store: SqlStore) -> tuple[SharedRateLimiter, FakeClock]:
    """A worker process's limiter for channel ``tmall``: its own clock, the shared schedule."""
    clock = FakeClock()
    limiter = SharedRateLimiter(SharedSchedule(store.engine), clock)
    limiter.configure("tmall", Limits())
    return limiter, clock


def shared_waits(waits: list[float]) -> list[float]:
    """Round the waits: the database's clock moves on between two statements."""
    return [round(wait, 1) for wait in waits]


async def test_two_workers_calls_share_one_burst_and_one_rate(world: World) -> None:
    first, _ = worker_limiter(world.store)
    second, _ = worker_limiter(world.store)
    bucket = first.bucket("tmall", "taobao.trade.get")
    assert isinstance(bucket, SharedTokenBucket)
    waits = []
    for limiter in (first, second, first, second, first, second):
        waits.append(await limiter.acquire("tmall", "taobao.trade.get"))
    # Each process alone would let two go at once and then one a second: four at once
    # in all. Shared, two go at once and the rest one second apart, whoever calls.
    assert shared_waits(waits) == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    # Another operation is another schedule.
    assert await second.acquire("tmall", "taobao.refunds.get") == 0.0


async def test_a_throttle_seen_by_one_worker_holds_every_worker_back(world: World) -> None:
    first, _ = worker_limiter(world.store)
    second, _ = worker_limiter(world.store)
    assert await second.acquire("tmall", "op") == 0.0
    first.bucket("tmall", "op").penalise(30)
    # The other worker's next call waits for the marketplace's stated wait too.
    assert shared_waits([await second.acquire("tmall", "op")]) == [30.0]
    first.bucket("tmall", "other").drain()
    assert shared_waits([await second.acquire("tmall", "other")]) == [1.0]


async def test_the_rate_the_marketplace_states_spaces_the_shared_schedule(world: World) -> None:
    first, clock = worker_limiter(world.store)
    bucket = first.bucket("tmall", "op")
    bucket.follow(4.0)  # a seller granted four calls a second
    waits = []
    for _ in range(4):
        clock.advance(60)  # this process's own bucket is full: only the schedule waits
        waits.append(await bucket.acquire())
    assert waits == pytest.approx([0.0, 0.0, 0.25, 0.5], abs=0.05)


async def test_each_workspace_keeps_its_own_schedule(world: World, postgres_url: str) -> None:
    name = f"pace{uuid.uuid4().hex[:8]}"
    other = open_store(postgres_url, workspace=name, create=True)
    try:
        assert isinstance(other, SqlStore)
        here, _ = worker_limiter(world.store)
        there, _ = worker_limiter(other)
        for _ in range(2):
            assert await here.acquire("tmall", "op") == 0.0
        # The same channel name in another merchant's workspace: its own marketplace shop.
        assert await there.acquire("tmall", "op") == 0.0
    finally:
        other.close()
        with world.store.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "cs_{name}" CASCADE'))


async def test_an_unreachable_schedule_leaves_the_process_pacing_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = open_store("sqlite://")  # no PostgreSQL: the statement cannot run here
    assert isinstance(store, SqlStore)
    clock = FakeClock()
    limiter = SharedRateLimiter(SharedSchedule(store.engine), clock)
    limiter.configure("tmall", Limits())
    with caplog.at_level(logging.WARNING, logger="channelsync.workers.pacing"):
        waits = [await limiter.acquire("tmall", "op") for _ in range(4)]
    store.close()
    assert shared_waits(waits) == [0.0, 0.0, 1.0, 1.0]  # the local bucket's pace
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_plugins_calls_are_reserved_in_the_shared_schedule(world: World) -> None:
    from channelsync_tmall import TmallChannel, TmallSettings  # noqa: PLC0415 - a real transport
    from channelsync_tmall.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake  # noqa: PLC0415

    credentials = CredentialStore(
        backend=MemorySecretBackend({("tmall", k): v for k, v in DEMO_CREDENTIALS.items()}),
        environ={},
    )
    fake = demo_fake(clock=world.clock)
    with fake.serve() as server:
        settings = TmallSettings.model_validate(
            {**DEMO_SETTINGS, "base_url": f"{server.url}/router/rest"}
        )
        channel = TmallChannel(
            "tmall", settings, credentials.for_channel("tmall"), clock=world.clock
        )
        schedule = install_shared_pacing([channel], world.store)
        async with channel:
            limiter = channel.http.rate_limiter
            assert isinstance(limiter, SharedRateLimiter)
            assert limiter.schedule is schedule
            listings = [listing async for listing in channel.iter_listings()]
    assert listings
    with world.store.engine.connect() as connection:
        rows = connection.execute(text("SELECT channel, operation FROM rate_slots")).all()
    assert ("tmall", "taobao.items.onsale.get") in {tuple(row) for row in rows}
