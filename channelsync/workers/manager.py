"""procrastinate's job manager, with retries that give way to a pending copy.

A step job carries a queueing lock: the queue holds at most one *pending* job of a
step of a channel. A job that fails (or is cut short by a shutdown) is retried by
setting it back to pending, which the queue refuses while another pending copy is
there already — the clock or a new change queued one while it ran. procrastinate
then leaves the failed job marked running for good, holding its channel's step lock,
and every later job of that step waits behind it while its worker stays alive.

:func:`retry_or_give_way` retries the job, or, when a pending copy holds the queueing
lock, marks it ``aborted``: the copy does the step. :class:`StepJobManager` retries
every job that way; :func:`~channelsync.workers.app.build_app` gives it to the app.
"""

from __future__ import annotations

import logging
from datetime import datetime

from procrastinate import exceptions, jobs, manager, utils

__all__ = ["StepJobManager", "retry_or_give_way"]

logger = logging.getLogger(__name__)


async def retry_or_give_way(
    jobs_of: manager.JobManager,
    job: jobs.Job,
    *,
    retry_at: datetime | None = None,
    priority: int | None = None,
    queue: str | None = None,
    lock: str | None = None,
) -> bool:
    """Queue ``job`` again; ``False`` when a pending copy does its step instead."""
    assert job.id is not None
    try:
        await jobs_of.retry_job_by_id_async(
            job_id=job.id,
            retry_at=retry_at or utils.utcnow(),
            priority=priority,
            queue=queue,
            lock=lock,
        )
    except exceptions.UniqueViolation as error:
        if error.constraint_name != manager.QUEUEING_LOCK_CONSTRAINT:
            raise
        await jobs_of.finish_job(job=job, status=jobs.Status.ABORTED, delete_job=False)
        logger.info("%s is not retried: a pending copy of it does the step", job.call_string)
        return False
    return True


class StepJobManager(manager.JobManager):
    """A job manager whose retries give way to a pending copy (see the module docs)."""

    async def retry_job(
        self,
        job: jobs.Job,
        retry_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        """Queue ``job`` again, unless a pending copy of it is queued already."""
        await retry_or_give_way(
            self, job, retry_at=retry_at, priority=priority, queue=queue, lock=lock
        )
