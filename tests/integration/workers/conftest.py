"""Workers against the PostgreSQL test server and in-memory marketplaces.

Each test gets a schema of its own (``postgres_url`` in tests/conftest.py): the store's
tables and procrastinate's live there, dropped afterwards, so the queue's tables never
meet another test's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

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
