"""Workers against the PostgreSQL test server and in-memory marketplaces.

Each test gets a schema of its own (``postgres_url`` in tests/conftest.py): the store's
tables and procrastinate's live there, dropped afterwards, so the queue's tables never
meet another test's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.store import SqlStore, open_store
from channelsync.workers.extra import conninfo
from channelsync.workers.schema import install_queue_schema

from .queue_world import CATALOGUE, World, memory_shop


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(postgres_url: str, clock: FakeClock) -> Iterator[World]:
    store = open_store(postgres_url)
    assert isinstance(store, SqlStore)
    import_catalogue(store, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    asyncio.run(install_queue_schema(conninfo(postgres_url)))
    shops = {name: memory_shop(name, clock) for name in ("tmall", "jd")}
    found = World(postgres_url, clock, shops, store)
    try:
        yield found
    finally:
        for opened in found.stores:
            opened.close()
        store.close()


@pytest.fixture
def store(postgres_url: str) -> Iterator[SqlStore]:
    """The store of a test's own schema, without a catalogue (the shared pacing's tests)."""
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
