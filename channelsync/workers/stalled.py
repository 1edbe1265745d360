"""Giving the jobs of a killed worker back to the queue.

A worker killed outright (``kill -9``, the OOM killer, a lost machine) leaves the jobs
it was running in procrastinate's ``doing`` state, and their channel locks held: no
other job of that channel's step group would ever start. Each worker writes a
heartbeat every few seconds; a job whose worker's heartbeat is older than
``stalled_after`` seconds (or whose worker was pruned for it) is *stalled*, and
:func:`retry_stalled_jobs`, run by a periodic task on whichever worker gets it, puts
it back to ``todo`` for the next worker.

Running a step again is safe: orders are deduplicated by (channel, order id, version)
and ledger events by idempotency key, cursors move only after their window is
applied, and outbox entries settle only at their own version. So a step cut short
and run again imports, reserves and sends each thing once.

When a pending copy of the stalled step is queued already (the clock queued one while
it hung), that copy does the work: the stalled job is marked ``aborted`` instead,
since the queueing lock allows one pending job of a step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from procrastinate import App, exceptions

from channelsync.workers.deferring import QUEUE
from channelsync.workers.manager import retry_or_give_way

__all__ = ["retry_stalled_jobs"]

logger = logging.getLogger(__name__)


async def retry_stalled_jobs(
    app: App, *, stalled_after: float, queues: Iterable[str] = (QUEUE,)
) -> int:
    """Queue again every job in ``queues`` of a worker silent for ``stalled_after`` seconds.

    ``queues`` are the queues of the workspaces concerned (``channelsync``: the
    ``default`` workspace's). Returns how many jobs were queued again (superseded ones
    are not counted).
    """
    wanted = set(queues)
    # One look across the queues (a sweep of hundreds of workspaces is one statement);
    # other queues of the database, other applications' included, are left alone.
    stalled = [
        job
        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
        if job.queue in wanted
    ]
    retried = 0
    for job in stalled:
        try:
            if not await retry_or_give_way(app.job_manager, job):
                logger.warning(
                    "job %s of a stopped worker (%s) is superseded by a pending copy",
                    job.id,
                    job.call_string,
                )
                continue
        except exceptions.ConnectorException:
            # Another sweep (or the worker, back at last) settled it in the meantime.
            logger.debug("stalled job %s was settled elsewhere", job.id, exc_info=True)
            continue
        retried += 1
        logger.warning("job %s of a stopped worker queued again: %s", job.id, job.call_string)
    return retried
