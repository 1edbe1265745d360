"""Putting a channel's step in the queue, with the locks that keep it single.

Every step job carries two keys:

* its **lock**, ``channel:<name>:<group>``: procrastinate runs one job of a lock at a
  time across the cluster, and the next in the order they were queued. The groups are
  the daemon's loops: ``pull`` (orders and refunds, which the daemon's pull loop runs
  one after the other), ``flush``, ``reconcile`` and ``events`` (the reads that answer
  marketplace events, see :mod:`~channelsync.workers.listening`). So two pulls of one channel never
  overlap, yet a channel's flush never waits behind its pull or a long listing read,
  as in the daemon, where the three loops of a channel run side by side. Each group
  calls its own marketplace operations, and pacing is per (channel, operation), so one
  operation's rate is still spent by one process at a time.
* its **queueing lock**, ``<step>:<name>``: the queue holds at most one *pending* job
  of a step of a channel, so deferring the same step again while one waits is a no-op
  (a running one does not count: work queued while it runs gets a fresh job).

Workspaces: a channel of workspace ``acme`` is named ``acme/<name>`` in both keys
(``channel:acme/tmall:pull``, ``pull_orders:acme/tmall``), its jobs carry
``workspace="acme"`` and go to the workspace's own queue (``channelsync/acme``), so
two merchants' channels of one name never wait for each other, and a worker fetches
only the jobs of the workspaces it serves. The ``default`` workspace's keys, queue and
arguments are those of a store with one merchant.

:meth:`Deferrer.defer` queues through the app's own pool; :meth:`Deferrer.defer_on`
queues on the caller's psycopg connection, inside the caller's transaction (see
:mod:`channelsync.workers.on_commit`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import psycopg
from procrastinate import App, SyncPsycopgConnector, exceptions, jobs
from procrastinate.manager import JobManager

from channelsync.config import DEFAULT_WORKSPACE

__all__ = [
    "ANSWER_EVENTS",
    "FLUSH",
    "PULL_ORDERS",
    "PULL_REFUNDS",
    "QUEUE",
    "RECONCILE",
    "STEPS",
    "Deferrer",
    "channel_lock",
    "group_queue",
    "queue_of",
    "queueing_lock",
    "step_group",
    "task_name",
    "workspace_key",
]

logger = logging.getLogger(__name__)

#: The queue every channelsync job goes to (a database may hold other apps' queues).
QUEUE = "channelsync"

PULL_ORDERS = "pull_orders"
PULL_REFUNDS = "pull_refunds"
FLUSH = "flush"
RECONCILE = "reconcile"
ANSWER_EVENTS = "answer_events"
#: The per-channel steps, each a task of its own.
STEPS = (PULL_ORDERS, PULL_REFUNDS, FLUSH, RECONCILE, ANSWER_EVENTS)

# Which of the daemon's loops a step belongs to: one job of a group runs at a time.
# Events are answered beside the pulls, as the daemon's pump answers them.
_GROUPS = {
    PULL_ORDERS: "pull",
    PULL_REFUNDS: "pull",
    FLUSH: "flush",
    RECONCILE: "reconcile",
    ANSWER_EVENTS: "events",
}
_SAVEPOINT = "channelsync_defer"
#: How long queuing a job inside a caller's transaction waits for another transaction
#: that holds the same pending step, before leaving that step to it.
LOCK_WAIT_MS = 200


def task_name(step: str) -> str:
    """Return the procrastinate task name of a step."""
    return f"channelsync.{step}"


def queue_of(workspace: str = DEFAULT_WORKSPACE) -> str:
    """Return the queue of a workspace's jobs (``channelsync`` for ``default``)."""
    return QUEUE if workspace == DEFAULT_WORKSPACE else f"{QUEUE}/{workspace}"


def group_queue(group: str) -> str:
    """Return the queue of the periodic jobs of the workers serving one set of workspaces.

    ``""`` (a worker of the ``default`` workspace alone) is :data:`QUEUE`. ``+`` is not
    allowed in a workspace's name, so a group's queue is never a workspace's.
    """
    return QUEUE if not group else f"{QUEUE}+{group}"


def workspace_key(name: str, workspace: str = DEFAULT_WORKSPACE) -> str:
    """Return a name as the queue's keys spell it: ``acme/name`` in workspace ``acme``."""
    return name if workspace == DEFAULT_WORKSPACE else f"{workspace}/{name}"


def step_group(step: str) -> str:
    """Return the daemon loop ``step`` belongs to: ``pull``, ``flush`` or ``reconcile``."""
    return _GROUPS[step]


def channel_lock(step: str, channel: str, workspace: str = DEFAULT_WORKSPACE) -> str:
    """Return the lock a job of ``step`` on ``channel`` holds while it runs."""
    return f"channel:{workspace_key(channel, workspace)}:{_GROUPS[step]}"


def queueing_lock(step: str, channel: str, workspace: str = DEFAULT_WORKSPACE) -> str:
    """Return the key that keeps a single pending job of ``step`` on ``channel``."""
    return f"{step}:{workspace_key(channel, workspace)}"


class Deferrer:
    """Queues the steps of one workspace's channels on one procrastinate app."""

    def __init__(self, app: App, workspace: str = DEFAULT_WORKSPACE) -> None:
        self.app = app
        self.workspace = workspace
        # Only ever used with the caller's connection: its pool is never opened.
        self._on_connection = JobManager(connector=SyncPsycopgConnector())

    def job(self, step: str, channel: str) -> jobs.Job:
        """Return the job of ``step`` on ``channel``, with its locks, not yet queued."""
        workspace = self.workspace
        arguments: dict[str, str] = {"channel": channel}
        if workspace != DEFAULT_WORKSPACE:
            arguments["workspace"] = workspace
        return (
            self.app.tasks[task_name(step)]
            .configure(
                lock=channel_lock(step, channel, workspace),
                queueing_lock=queueing_lock(step, channel, workspace),
                queue=queue_of(workspace),
            )
            .make_new_job(**arguments)
        )

    async def defer(self, step: str, channel: str) -> bool:
        """Queue ``step`` on ``channel``; ``False`` when a pending copy is there already."""
        try:
            await self.app.job_manager.defer_job_async(self.job(step, channel))
        except exceptions.AlreadyEnqueued:
            return False
        logger.debug("queued %s of %s", step, workspace_key(channel, self.workspace))
        return True

    async def defer_many(self, steps: Iterable[tuple[str, str]]) -> int:
        """Queue each ``(step, channel)`` not pending already; return how many were queued."""
        queued = 0
        for step, channel in steps:
            queued += await self.defer(step, channel)
        return queued

    def defer_on(self, connection: psycopg.Connection[Any], step: str, channel: str) -> bool:
        """Queue ``step`` on ``channel`` inside the transaction open on ``connection``.

        The job commits or rolls back with the caller's transaction. A pending copy
        (the queueing lock) is no error: a savepoint undoes the refused insert, the
        caller's transaction goes on, and ``False`` is returned; so too when another
        transaction holds a pending copy it has not committed for :data:`LOCK_WAIT_MS`
        (that copy, or the clock, flushes the work). Any other failure is raised, so
        the caller's work does not commit without its job.
        """
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            found = cursor.fetchone()
            before = str(found[0]) if found else "0"
            cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", (f"{LOCK_WAIT_MS}ms",))
            try:
                self._on_connection.defer_job(self.job(step, channel), connection=connection)
            except exceptions.AlreadyEnqueued:
                cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                return False
            except exceptions.ConnectorException as error:
                if not isinstance(error.__cause__, psycopg.errors.LockNotAvailable):
                    raise
                # Another transaction is queuing this very step and has not committed:
                # its job (or, should it roll back, the step's own deferral after it
                # and the clock) runs the flush. Waiting longer would hold this
                # transaction's locks, and a worker's event loop, on someone else's.
                cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                logger.debug("%s of %s is being queued elsewhere", step, channel)
                return False
            # The setting is the transaction's (a released savepoint keeps it): restore it.
            cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
        return True
