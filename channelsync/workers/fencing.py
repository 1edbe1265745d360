"""Lease epochs: a worker taken for dead that comes back late may commit nothing.

A worker whose heartbeat stops (a long pause of its machine, a network partition) is
taken for dead, and the sweep gives its job to another worker
(:mod:`~channelsync.workers.stalled`). Should the first come back, two jobs of one
channel's step group would run side by side: a stale flush could settle an entry that
the new one has since planned lower, or send a raise the re-inflation guard has just
held. So each job fences the other:

* when a job of a channel's step group (``pull``, ``flush``, ``reconcile``) starts, it
  takes the group's lease: the epoch of ``(channel, group)`` in the store's ``leases``
  table moves on by one (:func:`take_lease`), and the job holds that epoch;
* every store transaction the job commits first reads the lease's epoch and locks its
  row for share until the commit (:class:`FenceOnCommit`). When the epoch has moved on,
  the commit is refused with :class:`LeaseLostError` and the transaction rolls back.

The row lock orders the two: a new job's :func:`take_lease` waits for a commit that
already passed the check, and sees everything it wrote; any later commit of the old
job fails. A flush commits just before each marketplace call (it reads the due
entries of its next few calls in a checked transaction, the first alone, each next
read in the transaction that settles the calls before it, and commits nothing but the
check before each further call), so a fenced flush stops before its next marketplace
call too; what remains is a call already under way when the lease moved (the
reconcile, or the next guarded flush, sees and corrects what it set).

The epoch is per workspace (the ``leases`` table is in the workspace's tables) and the
job's fence lives in a context variable, so only the transactions of the job's own
task are checked: the other jobs of the same worker process are not concerned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, event

from channelsync.errors import ChannelSyncError
from channelsync.store import schema as t
from channelsync.store.sql._common import upsert_insert
from channelsync.store.sql.engine import translated_schema

__all__ = ["Fence", "FenceOnCommit", "LeaseLostError", "fenced", "take_lease"]

logger = logging.getLogger(__name__)

# The fence of the job whose task is running (each job runs in a task of its own).
_current: ContextVar[Fence | None] = ContextVar("channelsync_fence", default=None)


class LeaseLostError(ChannelSyncError):
    """A job's lease was taken by a newer job of its step group: it may commit nothing."""

    def __init__(self, fence: Fence, current: int | None) -> None:
        self.fence = fence
        self.current = current
        now = "no lease" if current is None else f"epoch {current}"
        super().__init__(
            f"the {fence.group} lease of channel {fence.channel!r} moved on to {now} while "
            f"this job held epoch {fence.epoch} (another worker took the job over): its "
            "changes are refused"
        )


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease one job holds: the epoch of a channel's step group it took."""

    channel: str
    group: str
    epoch: int


def take_lease(engine: Engine, channel: str, group: str, holder: str, now: datetime) -> Fence:
    """Take the next epoch of ``(channel, group)``'s lease for ``holder``, committed at once.

    Waits for a transaction of the previous holder that is committing now (its fence
    check locks the row), so that what it wrote is there for the new holder.
    """
    c = t.leases.c
    with engine.begin() as connection:
        insert = upsert_insert(connection, t.leases).values(
            channel=channel, step=group, epoch=1, holder=holder, taken_at=now
        )
        statement = insert.on_conflict_do_update(
            index_elements=[c.channel, c.step],
            set_={"epoch": c.epoch + 1, "holder": holder, "taken_at": now},
        ).returning(c.epoch)
        epoch = int(connection.execute(statement).scalar_one())
    return Fence(channel, group, epoch)


@contextmanager
def fenced(fence: Fence) -> Iterator[Fence]:
    """Check every store commit of the running task against ``fence`` until the block ends."""
    token = _current.set(fence)
    try:
        yield fence
    finally:
        _current.reset(token)


class FenceOnCommit:
    """Refuses, on a store's PostgreSQL engine, the commits of a job whose lease moved on."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.refused = 0
        """Commits refused so far."""
        self._installed = False

    def install(self) -> None:
        """Start checking the engine's commits."""
        if not self._installed:
            event.listen(self.engine, "commit", self._committing)
            self._installed = True

    def remove(self) -> None:
        """Stop checking."""
        if self._installed:
            event.remove(self.engine, "commit", self._committing)
            self._installed = False

    def _committing(self, connection: Connection) -> None:
        fence = _current.get()
        if fence is None:
            return
        schema = translated_schema(connection)
        table = sql.Identifier(schema, "leases") if schema else sql.Identifier("leases")
        query = sql.SQL("SELECT epoch FROM {} WHERE channel = %s AND step = %s FOR SHARE")
        # The transaction's own psycopg connection: the check commits or rolls back with it.
        raw = cast(psycopg.Connection[Any], connection.connection.dbapi_connection)
        with raw.cursor() as cursor:
            cursor.execute(query.format(table), (fence.channel, fence.group))
            row = cursor.fetchone()
        current = None if row is None else int(row[0])
        if current != fence.epoch:
            self.refused += 1
            logger.warning(
                "%s of %s: lease moved on to epoch %s, this job's (%d) commits nothing",
                fence.group,
                fence.channel,
                current,
                fence.epoch,
            )
            raise LeaseLostError(fence, current)
