"""The store the suites of this directory share: a fresh one on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channelsync.store import Store, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Return a fresh store of ``store_url`` (each test runs on both databases), closed after."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
