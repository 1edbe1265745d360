"""Shared pacing when the store is out of reach, and on the plugins' own transports."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event, select

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.store import SqlStore, open_store
from channelsync.store.schema import rate_slots
from channelsync.workers.pacing import (
    SharedRateLimiter,
    SharedSchedule,
    SharedTokenBucket,
    install_shared_pacing,
)

from .pacing_world import (
    CLOSE,
    limiter,
    server_now,
    tat_of,
)


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
