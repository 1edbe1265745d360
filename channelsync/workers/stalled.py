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

Two sweeps may run at once (the sweep has no lock: a killed worker's sweep would hold
it). What one read as stalled, the other may have given back already, and a live
worker taken since: so each job is looked at again just before it is given back, and
left alone unless its stalled worker still holds it. Given back from under the live
worker, the step would run twice at once and the live worker's end of it would fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from procrastinate import App, exceptions, jobs

from channelsync.workers.deferring import QUEUE
from channelsync.workers.manager import retry_or_give_way

__all__ = ["give_back", "retry_stalled_jobs"]

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
    return await give_back(app, stalled)


async def give_back(app: App, stalled: Iterable[jobs.Job]) -> int:
    """Queue again each of the ``stalled`` jobs its stalled worker still holds.

    Returns how many were queued again; superseded ones and those settled or taken
    by another worker since they were read are not counted.
    """
    retried = 0
    for job in stalled:
        if not await _still_held(app, job):
            logger.debug("stalled job %s was given back or settled elsewhere", job.id)
            continue
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


async def _still_held(app: App, job: jobs.Job) -> bool:
    """Whether ``job`` is still running on the worker it was read as stalled on."""
    row = await app.connector.execute_query_one_async(
        "SELECT status::text AS status, worker_id FROM procrastinate_jobs WHERE id = %(job_id)s",
        job_id=job.id,
    )
    return bool(row) and row["status"] == "doing" and row["worker_id"] == job.worker_id
