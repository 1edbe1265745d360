from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from channelsync.clock import FakeClock
from channelsync.store import SqlStore, StoreLease, StoreLockedError, lock_holder, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(opened, SqlStore)
    yield opened
    opened.close()


def lease(store: SqlStore, clock: FakeClock, host: str, pid: int) -> StoreLease:
    return StoreLease(store.engine, ttl=30, clock=clock, host=host, pid=pid)


def test_a_second_daemon_is_refused_with_the_holder_named(store: SqlStore) -> None:
    clock = FakeClock()
    first = lease(store, clock, "shop-server", 4242)
    first.acquire()
    with pytest.raises(StoreLockedError) as refused:
        lease(store, clock, "laptop", 7).acquire()
    message = str(refused.value)
    assert "shop-server pid 4242 since 2026-01-01T00:00:00+00:00" in message
    assert refused.value.holder.host == "shop-server"
    holder = lock_holder(store.engine, clock.now())
    assert holder is not None
    assert (holder.host, holder.pid) == ("shop-server", 4242)


def test_heartbeats_keep_the_lease_and_a_crashed_holder_expires(store: SqlStore) -> None:
    clock = FakeClock()
    first = lease(store, clock, "a", 1)
    first.acquire()
    for _ in range(5):  # 100 s of heartbeats every 20 s: never expires
        clock.advance(20)
        assert first.renew()
        with pytest.raises(StoreLockedError):
            lease(store, clock, "b", 2).acquire()
    clock.advance(31)  # the holder stopped beating (crashed)
    assert lock_holder(store.engine, clock.now()) is None
    second = lease(store, clock, "b", 2)
    second.acquire()
    assert not first.renew()  # the old holder learns it lost the lock
    assert not first.held


def test_release_frees_the_store_and_only_the_holder_can_release(store: SqlStore) -> None:
    clock = FakeClock()
    first = lease(store, clock, "a", 1)
    first.acquire()
    other = lease(store, clock, "b", 2)
    other.release()  # not the holder: changes nothing
    with pytest.raises(StoreLockedError):
        other.acquire()
    first.release()
    other.acquire()
    assert other.held


def test_the_lock_survives_reopening_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    clock = FakeClock()
    with open_store(url) as one:
        assert isinstance(one, SqlStore)
        lease(one, clock, "a", 1).acquire()
    with open_store(url) as two:
        assert isinstance(two, SqlStore)
        with pytest.raises(StoreLockedError, match="another channelsync daemon"):
            lease(two, clock, "b", 2).acquire()
