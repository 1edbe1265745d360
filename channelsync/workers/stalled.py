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
worker taken since: so each job is given back by one statement that locks it and
changes it only if its stalled worker still holds it. Given back from under the live
worker, the step would run twice at once and the live worker's end of it would fail;
looked at in one statement and given back in the next, it could be, by a sweep that
gave it back and a worker that took it in between.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from procrastinate import App, exceptions, jobs, manager, utils
from procrastinate.sql import queries

from channelsync.workers.deferring import QUEUE

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
        try:
            held = await _if_held(app, job, _RETRY, retry_at=utils.utcnow())
        except exceptions.UniqueViolation as error:
            if error.constraint_name != manager.QUEUEING_LOCK_CONSTRAINT:
                raise
            # A pending copy of the step is queued: it does the work instead.
            if await _if_held(app, job, _ABORT):
                logger.warning(
                    "job %s of a stopped worker (%s) is superseded by a pending copy",
                    job.id,
                    job.call_string,
                )
            continue
        if not held:
            logger.debug("stalled job %s was given back or settled elsewhere", job.id)
            continue
        retried += 1
        logger.warning("job %s of a stopped worker queued again: %s", job.id, job.call_string)
    return retried


def _function(query: str) -> str:
    """Return the name of the SQL function procrastinate's query ``query`` calls."""
    found = re.search(r"\b(procrastinate_\w+)\(", queries[query])
    if found is None:  # pragma: no cover - a procrastinate whose queries changed shape
        raise RuntimeError(f"procrastinate's {query} query calls no function")
    return found.group(1)


# The job, locked, if its stalled worker still holds it; then one call on it. The
# functions are the installed procrastinate's own (their names carry a version).
_HELD = """
WITH held AS (
    SELECT id FROM procrastinate_jobs
    WHERE id = %(job_id)s AND status = 'doing' AND worker_id IS NOT DISTINCT FROM %(worker_id)s
    FOR UPDATE
)
SELECT id FROM held, {call}
"""
_RETRY = _HELD.format(
    call=f"LATERAL {_function('retry_job')}(held.id, %(retry_at)s, NULL, NULL, NULL) AS done"
)
_ABORT = _HELD.format(call=f"LATERAL {_function('finish_job')}(held.id, 'aborted', false) AS done")


async def _if_held(app: App, job: jobs.Job, query: str, **values: object) -> bool:
    """Run ``query`` on ``job`` if its stalled worker still holds it; whether it did."""
    rows = await app.connector.execute_query_all_async(
        query, job_id=job.id, worker_id=job.worker_id, **values
    )
    return bool(rows)
