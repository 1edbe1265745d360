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


def _here(
    store: SqlStore,
    clock: FakeClock,
    pid: int,
    *,
    alive: set[int],
    host: str = "box",
    identity: str = "same",
) -> StoreLease:
    return StoreLease(
        store.engine,
        ttl=30,
        clock=clock,
        host=host,
        pid=pid,
        identity=identity,
        pid_alive=lambda p: p in alive,
    )


def test_a_killed_holder_on_this_machine_is_taken_over_at_once(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    _here(store, clock, 100, alive={100}).acquire()
    # The holder still runs: refused, even on the same machine.
    with pytest.raises(StoreLockedError):
        _here(store, clock, 200, alive={100, 200}).acquire()
    # Killed (its pid is gone): the next start takes the lease at once, long before expiry.
    clock.advance(1)
    restarted = _here(store, clock, 200, alive={200})
    with caplog.at_level("WARNING", logger="channelsync.store.lock"):
        restarted.acquire()
    assert restarted.held
    holder = lock_holder(store.engine, clock.now())
    assert holder is not None
    assert (holder.host, holder.pid) == ("box", 200)
    assert "took the store lock over from box pid 100" in caplog.text


@pytest.mark.parametrize(
    ("host", "identity"),
    [("elsewhere", "same"), ("box", "another-container"), ("box", "")],
    ids=["another-host", "same-name-other-pid-namespace", "identity-unknown"],
)
def test_a_holder_whose_pids_cannot_be_seen_is_waited_for(
    store: SqlStore, host: str, identity: str
) -> None:
    clock = FakeClock()
    _here(store, clock, 100, alive={100}, host=host, identity=identity).acquire()
    # Pid 100 does not exist here, but it may on the holder's machine: wait for expiry.
    with pytest.raises(StoreLockedError):
        _here(store, clock, 200, alive={200}).acquire()
    clock.advance(31)
    _here(store, clock, 200, alive={200}).acquire()


def test_a_daemon_killed_with_sigkill_is_replaced_at_once(store_url: str) -> None:
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from channelsync.store import StoreLease, open_store\n"
            "store = open_store(sys.argv[1])\n"
            "StoreLease(store.engine, ttl=3600).acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(3600)\n",
            store_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        opened = open_store(store_url)
        assert isinstance(opened, SqlStore)
        try:
            with pytest.raises(StoreLockedError):  # alive: refused
                StoreLease(opened.engine, ttl=30).acquire()
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)
            # The lease runs for another hour; the restart does not wait for it.
            restarted = StoreLease(opened.engine, ttl=30)
            restarted.acquire()
            assert restarted.held
            restarted.release()
        finally:
            opened.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
