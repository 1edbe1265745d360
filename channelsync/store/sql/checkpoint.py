"""SQLite's log checkpoints, copied in a background thread instead of inside commits.

In WAL mode every commit appends the changed pages to the log; a checkpoint copies
them into the database file and syncs it. SQLite runs one automatically inside the
commit that fills the log past ``wal_autocheckpoint`` pages, so that one commit (an
order page, a flush's settle) waits for tens of megabytes of copying and two syncs:
on a large store a third of an order burst's time. SQLite's own advice
(https://sqlite.org/wal.html, "Automatic Checkpoint") is to run checkpoints in another
thread: this module does that.

A :class:`Checkpointer` follows an engine's commits. Shortly after a commit
(:data:`DELAY`, so a burst's commits are copied together) its thread runs a
``PASSIVE`` checkpoint on a connection of its own, with the GIL released while
SQLite copies. A passive checkpoint never waits for and never blocks a writer or a
reader. The writers keep their automatic checkpoint: when the log does reach its
limit, the pages the thread has already copied are not copied again, so that
checkpoint is short. It is also what restarts the log under sustained writes: SQLite
restarts it only once it has been copied whole with no commit in between, so while
commits keep coming it grows to the writers' limit. Durability is SQLite's either way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["DELAY", "Checkpointer"]

logger = logging.getLogger(__name__)

#: Seconds from a commit to the checkpoint that follows it; commits within it share one.
DELAY = 0.25


class Checkpointer:
    """A thread that checkpoints one SQLite file's log after its commits."""

    def __init__(self, path: Path, *, delay: float = DELAY) -> None:
        self.path = path
        self.delay = delay
        self.checkpoints = 0
        """How many checkpoints the thread has run (for tests and figures)."""
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"sqlite-checkpoint {path.name}", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Note a commit: a checkpoint follows within :data:`DELAY`."""
        self._wanted.set()

    def stop(self) -> None:
        """Stop the thread (a checkpoint under way finishes first); idempotent."""
        self._stopping.set()
        self._wanted.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        # Checked on each turn: a stop landing between the delay and the clearing of the
        # wish below is only seen here (its wish was cleared with the commits').
        while not self._stopping.is_set():
            self._wanted.wait()
            # Commits landing during the delay are copied by this same checkpoint.
            if self._stopping.wait(self.delay):
                return
            self._wanted.clear()
            self.checkpoint()

    def checkpoint(self) -> bool:
        """Run one passive checkpoint now; return whether it ran (a failure is logged)."""
        try:
            # mode=rw: a file removed meanwhile is an error here, never created anew.
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None
            )
        except sqlite3.Error as error:
            logger.warning("log checkpoint of %s skipped: %s", self.path.name, error)
            return False
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            # The writers' automatic checkpoint still bounds the log.
            logger.warning("log checkpoint of %s skipped: %s", self.path.name, error)
            return False
        finally:
            connection.close()
        self.checkpoints += 1
        return True
