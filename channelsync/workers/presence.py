"""Whether ``channelsync worker`` processes are alive on a store, read without procrastinate.

``channelsync run`` must not work a store that workers are working (both would pull
and flush the same channels): it asks here first. Only the queue's own table of
workers is read, with plain SQL, so the check needs neither the optional dependency
nor the queue's tables (a store that never had workers has none alive).
"""

from __future__ import annotations

from sqlalchemy import Engine, text

__all__ = ["LIVE_WITHIN", "live_workers"]

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
