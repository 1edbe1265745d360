"""The store lock: a lease in the store so only one daemon works on it at a time.

A PID file lies after a crash or on another host; a lease does not. The holder writes
its host, pid and an expiry into the ``daemon_lock`` table and renews the expiry on a
heartbeat. Another daemon is refused while the lease is live and may take it over once
it has expired (its holder crashed, or lost the database for longer than the lease).
Every change is a compare-and-set on the row, so two daemons starting at once cannot
both win. The table is one of the workspace's own (the engine's ``schema_translate_map``
or its own SQLite file), so the lease is per workspace: two daemons may work two
workspaces of one database, never one workspace together.

A holder killed outright (``kill -9``, the OOM killer) leaves a live lease behind, and a
service manager restarting the daemon at once would meet a refusal until it expires.
So a daemon on the same machine as the holder, in the same process namespace, checks
whether the holder's pid still exists; when it does not, the lease is taken over at
once (and logged). "Same machine" is not the host name alone, which containers share:
the holder's token carries a digest of the kernel's boot id and the pid namespace. A
pid that was reused by another process looks alive, so the daemon then waits for the
expiry, the safe side. On another host nothing can be known, and the expiry is waited for.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from channelsync.clock import Clock, SystemClock
from channelsync.config import DEFAULT_WORKSPACE
from channelsync.errors import ChannelSyncError
from channelsync.store import schema as t
from channelsync.store.sql import workspace_of

__all__ = ["LockHolder", "StoreLease", "StoreLockedError", "lock_holder", "machine_identity"]

_NAME = "daemon"

logger = logging.getLogger(__name__)


def machine_identity() -> str:
    """Return a digest of this boot of this machine and this pid namespace (``""``: unknown).

    Two processes with equal identities see the same pids, so one can tell whether
    the other's pid still exists.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot}/{namespace}".encode()).hexdigest()[:16]


def pid_exists(pid: int) -> bool:
    """Return whether a process with ``pid`` exists on this machine (any owner)."""
    if pid <= 0:
        return True  # not a real pid: never treat its holder as gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds the store lock, since when, and until when the lease runs."""

    host: str
    pid: int
    since: datetime
    expires: datetime

    def describe(self) -> str:
        """Return ``host pid 123 since <time>``, for messages."""
        return f"{self.host} pid {self.pid} since {self.since.isoformat(timespec='seconds')}"


class StoreLockedError(ChannelSyncError):
    """Another live daemon holds the store lock."""

    def __init__(self, holder: LockHolder, url: str = "", workspace: str | None = None) -> None:
        self.holder = holder
        self.workspace = workspace
        where = f" {url}" if url else ""
        if workspace is not None and workspace != DEFAULT_WORKSPACE:
            where = f"'s workspace {workspace!r}" if not url else f" {url}, workspace {workspace!r}"
        super().__init__(
            f"another channelsync daemon is working on the store{where}: "
            f"{holder.describe()} (lease until {holder.expires.isoformat(timespec='seconds')}). "
            "Stop it first. If it was killed on this machine, the next start takes its "
            "lock over at once; if it ran elsewhere, its lock expires at that time"
        )


def lock_holder(engine: Engine, now: datetime | None = None) -> LockHolder | None:
    """Return the live holder of the store lock (``None``: free or expired at ``now``)."""
    with engine.connect() as connection:
        row = connection.execute(select(t.daemon_lock).where(t.daemon_lock.c.name == _NAME)).first()
    if row is None:
        return None
    holder = LockHolder(row.host, row.pid, row.since, row.expires)
    if now is not None and holder.expires <= now:
        return None
    return holder


class StoreLease:
    """This process's claim on the store lock: acquire, renew on a heartbeat, release."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float,
        clock: Clock | None = None,
        host: str | None = None,
        pid: int | None = None,
        url: str = "",
        identity: str | None = None,
        pid_alive: Callable[[int], bool] = pid_exists,
    ) -> None:
        self.engine = engine
        self.ttl = timedelta(seconds=ttl)
        self.clock: Clock = clock or SystemClock()
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.identity = machine_identity() if identity is None else identity
        # The identity rides in the token so a later daemon can tell it shares our pids.
        self.token = uuid.uuid4().hex + (f".{self.identity}" if self.identity else "")
        self.url = url
        self.held = False
        self._pid_alive = pid_alive

    def acquire(self) -> None:
        """Take the lock, or raise :class:`StoreLockedError` naming the live holder."""
        now = self.clock.now()
        table = t.daemon_lock
        values = {
            "holder": self.token,
            "host": self.host[:255],
            "pid": self.pid,
            "since": now,
            "expires": now + self.ttl,
        }
        try:
            with self.engine.begin() as connection:
                row = connection.execute(select(table).where(table.c.name == _NAME)).first()
                if row is None:
                    connection.execute(insert(table).values(name=_NAME, **values))
                elif row.holder == self.token or row.expires <= now or self._gone(row):
                    taken = connection.execute(
                        update(table)
                        .where(table.c.name == _NAME, table.c.holder == row.holder)
                        .where(table.c.expires == row.expires)
                        .values(**values)
                    )
                    if taken.rowcount != 1:
                        raise self._refused(now)
                else:
                    raise StoreLockedError(
                        LockHolder(row.host, row.pid, row.since, row.expires),
                        self.url,
                        workspace_of(self.engine),
                    )
        except IntegrityError:
            # Another daemon inserted the row between our read and our insert.
            raise self._refused(now) from None
        if row is not None and row.holder != self.token and row.expires > now:
            logger.warning(
                "took the store lock over from %s pid %d: that process no longer exists",
                row.host,
                row.pid,
            )
        self.held = True

    def _gone(self, row: Any) -> bool:
        """Whether the lease's holder shares this machine's pids and its pid is gone."""
        same_machine = (
            bool(self.identity)
            and row.host == self.host[:255]
            and str(row.holder).endswith(f".{self.identity}")
        )
        return same_machine and row.pid != self.pid and not self._pid_alive(row.pid)

    def renew(self) -> bool:
        """Push the expiry forward; return ``False`` if the lock was lost to another holder."""
        now = self.clock.now()
        table = t.daemon_lock
        with self.engine.begin() as connection:
            result = connection.execute(
                update(table)
                .where(table.c.name == _NAME, table.c.holder == self.token)
                .values(expires=now + self.ttl)
            )
        self.held = result.rowcount == 1
        return self.held

    def release(self) -> None:
        """Give the lock up (only if this process still holds it)."""
        table = t.daemon_lock
        with self.engine.begin() as connection:
            connection.execute(
                delete(table).where(table.c.name == _NAME, table.c.holder == self.token)
            )
        self.held = False

    def _refused(self, now: datetime) -> StoreLockedError:
        holder = lock_holder(self.engine)
        if holder is None:  # pragma: no cover - the winner released it at once
            holder = LockHolder("unknown", 0, now, now)
        return StoreLockedError(holder, self.url, workspace_of(self.engine))
