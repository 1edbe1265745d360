"""SQLite's log checkpoints run in a background thread after commits."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channelsync.store import SqlStore, Store, open_store
from channelsync.store.sql.checkpoint import Checkpointer

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _add_skus(store: Store, count: int) -> None:
    with store.transaction() as s:
        for number in range(count):
            s.upsert_sku(
                merchant_code=f"A-{number}",
                product_id=None,
                title="Mug",
                price="12.30",
                currency="CNY",
                cost=None,
                barcode=None,
                attributes={},
                now=NOW,
            )


def _skus_in_database_file(path: Path, copy: Path) -> int:
    """Count the SKUs in the database file alone (its log left out): what was checkpointed."""
    shutil.copyfile(path, copy)
    connection = sqlite3.connect(copy)
    try:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "skus" not in tables:
            return 0
        return int(connection.execute("SELECT count(*) FROM skus").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0  # copied while a checkpoint was writing it: look again
    finally:
        connection.close()


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"sqlite-checkpoint {name}"]


def test_committed_pages_reach_the_database_file_without_a_full_log(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = open_store(f"sqlite:///{path}")
    try:
        _add_skus(store, 50)  # a few pages of log: far below the writers' own checkpoint
        deadline = time.monotonic() + 10
        found = 0
        while found < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
            found = _skus_in_database_file(path, tmp_path / "copy.db")
        assert found == 50
    finally:
        store.close()


def test_closing_the_store_stops_its_checkpoint_thread(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert len(_threads("state.db")) == 1
    _add_skus(store, 1)
    store.close()
    assert _threads("state.db") == []


def test_a_memory_store_has_no_checkpoint_thread() -> None:
    before = {t.name for t in threading.enumerate()}
    store = open_store("sqlite://")
    assert isinstance(store, SqlStore)
    try:
        added = {t.name for t in threading.enumerate()} - before
        assert not any(name.startswith("sqlite-checkpoint") for name in added)
    finally:
        store.close()


def test_a_checkpoint_of_a_missing_file_is_logged_and_creates_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gone.db"
    checkpointer = Checkpointer(path)
    try:
        with caplog.at_level(logging.WARNING, logger="channelsync.store.sql.checkpoint"):
            assert checkpointer.checkpoint() is False
    finally:
        checkpointer.stop()
    assert not path.exists()
    assert "log checkpoint of gone.db skipped" in caplog.text
    assert checkpointer.checkpoints == 0


def test_commits_in_quick_succession_share_one_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").fetchall()
    checkpointer = Checkpointer(path, delay=0.5)
    try:
        for _ in range(20):
            checkpointer.committed()
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.6)  # a second checkpoint would have run by now
        assert checkpointer.checkpoints == 1
    finally:
        checkpointer.stop()
    assert _threads("state.db") == []


class _StopWhenCleared(threading.Event):
    """A wish whose clearing comes just after a stop: the stop's wish is cleared too."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def clear(self) -> None:
        # What Checkpointer.stop does, landing between the thread's delay and its clear.
        self.stop.set()
        self.set()
        super().clear()


def test_a_stop_between_the_delay_and_the_checkpoint_still_ends_the_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stopped.db"  # a name no other test's thread has
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").fetchall()
    checkpointer = Checkpointer(path, delay=0.01)
    # White-box: that moment cannot be reached from outside. The thread waits on the
    # wish it holds; it is swapped, then the old one wakes the thread as a commit would.
    waiting = checkpointer._wanted
    checkpointer._wanted = _StopWhenCleared(checkpointer._stopping)
    waiting.set()
    deadline = time.monotonic() + 10
    while _threads("stopped.db") and time.monotonic() < deadline:
        time.sleep(0.01)
    # Not stopped again on failure: a join would wait for the stuck thread (a daemon).
    assert _threads("stopped.db") == [], "the thread waits for a wish forever"
    checkpointer.stop()
    assert checkpointer.checkpoints == 1
