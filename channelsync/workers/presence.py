"""Whether ``channelsync worker`` processes are alive on a store, read without procrastinate.

``channelsync run`` must not work a store that workers are working (both would pull
and flush the same channels): it asks here first. Only the queue's own table of
workers is read, with plain SQL, so the check needs neither the optional dependency
nor the queue's tables (a store that never had workers has none alive).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

__all__ = ["LIVE_WITHIN", "cluster_figures", "live_workers", "queue_name"]

#: A worker whose heartbeat is younger than this is alive (the stalled-job sweep's age).
LIVE_WITHIN = 60.0


def live_workers(engine: Engine, *, within: float = LIVE_WITHIN) -> int:
    """Return how many workers told the store they were alive in the last ``within`` seconds.

    Always 0 on a database other than PostgreSQL (workers need PostgreSQL).
    """
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as connection:
        if connection.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
            return 0
        count = connection.execute(
            text(
                "SELECT count(*) FROM procrastinate_workers "
                "WHERE last_heartbeat > now() - make_interval(secs => :within)"
            ),
            {"within": within},
        ).scalar()
    return int(count or 0)


def queue_name(workspace: str) -> str:
    """Return the queue of a workspace's jobs (as ``deferring.queue_of`` does)."""
    return "channelsync" if workspace == "default" else f"channelsync/{workspace}"


def cluster_figures(
    engine: Engine, workspace: str, *, within: float = LIVE_WITHIN
) -> dict[str, Any] | None:
    """Return how many workers are alive and the workspace's jobs, for ``channelsync status``.

    ``None`` where there is no job queue (not PostgreSQL, or ``store migrate`` never
    installed one). ``jobs`` counts the workspace's jobs by status; ``waiting`` counts
    the pending ones by task (``flush``, ``pull_orders`` …), ``oldest_waiting_s`` is
    how long the oldest due one has waited.
    """
    if engine.dialect.name != "postgresql":
        return None
    queue = queue_name(workspace)
    with engine.connect() as connection:
        if connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            return None
        alive = connection.execute(
            text(
                "SELECT count(*) FROM procrastinate_workers "
                "WHERE last_heartbeat > now() - make_interval(secs => :within)"
            ),
            {"within": within},
        ).scalar()
        statuses = connection.execute(
            text(
                "SELECT status::text, count(*) FROM procrastinate_jobs "
                "WHERE queue_name = :queue GROUP BY status"
            ),
            {"queue": queue},
        ).all()
        waiting = connection.execute(
            text(
                "SELECT task_name, count(*) FROM procrastinate_jobs "
                "WHERE queue_name = :queue AND status = 'todo' GROUP BY task_name"
            ),
            {"queue": queue},
        ).all()
        # Waiting since it was queued, or since its retry time came.
        oldest = connection.execute(
            text(
                "SELECT extract(epoch FROM now() - min(greatest(e.at, "
                "coalesce(j.scheduled_at, e.at)))) FROM procrastinate_jobs j "
                "JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred' "
                "WHERE j.queue_name = :queue AND j.status = 'todo' "
                "AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
            ),
            {"queue": queue},
        ).scalar()
    return {
        "alive": int(alive or 0),
        "jobs": {status: int(count) for status, count in statuses},
        "waiting": {task.removeprefix("channelsync."): int(count) for task, count in waiting},
        "oldest_waiting_s": None if oldest is None else round(float(oldest), 1),
    }
