"""The worker chaos run's database: its schema, the store's migration, the queue's job log.

For :mod:`channelsync.testing.chaos_workers` (and the scale benchmark, which migrates
and logs its jobs the same way): a schema of the run's own, ``channelsync store
migrate`` run as the operator runs it, and a trigger on procrastinate's jobs that keeps
every change of a job's status past procrastinate's deletion of succeeded jobs, from
which the run's figures are counted.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from channelsync.testing.chaos import _CLI
from channelsync.testing.chaos_world import ChaosResult
from channelsync.workers.extra import conninfo

if TYPE_CHECKING:
    from channelsync.testing.chaos_workers import WorkerChaosResult

__all__ = ["run_schema", "schema_url"]

# How the stalled-job sweep says it gave a job back, or found a pending copy doing it.
_GIVEN_BACK = re.compile(r"of a stopped worker queued again")
_SUPERSEDED = re.compile(r"of a stopped worker \(.*\) is superseded by a pending copy")


def schema_url(base: str, schema: str) -> str:
    """Return the URL of server ``base`` whose connections find their tables in ``schema``."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


@contextlib.contextmanager
def run_schema(
    base: str, schema: str, *, keep: bool, also_like: str | None = None
) -> Iterator[str]:
    """Make ``schema`` on server ``base``; yield a store URL whose tables go there.

    At the end, unless ``keep``, drop it and every schema whose name is ``LIKE``
    ``also_like`` (those the run made beside it, such as its workspaces').
    """
    import psycopg  # noqa: PLC0415 - the workers extra brings it

    with psycopg.connect(conninfo(base), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(base, schema)
    finally:
        if not keep:
            with psycopg.connect(conninfo(base), autocommit=True) as connection:
                made = (
                    []
                    if also_like is None
                    else [
                        str(row[0])
                        for row in connection.execute(
                            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (also_like,)
                        )
                    ]
                )
                for name in [*made, schema]:
                    connection.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextlib.contextmanager
def _schema(base: str, *, keep: bool, given: str | None) -> Iterator[tuple[str, str]]:
    """Make a fresh schema on ``base``; yield it and a store URL whose tables go there.

    With ``given`` (a store URL whose schema the caller made), yield that instead.
    """
    if given is not None:
        yield "the caller's", given
        return
    schema = f"cs_chaos_{uuid.uuid4().hex[:12]}"
    with run_schema(base, schema, keep=keep) as url:
        yield schema, url


def _migrate(config: Path, log: Path, result: ChaosResult) -> None:
    """Run the real ``channelsync store migrate``; a failure ends the run with its output."""
    with log.open("wb") as out:
        done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-c", _CLI, "store", "migrate", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=120,
        )
    text = log.read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0:
        result.problems.append(f"store migrate exited {done.returncode}: {text.strip()}")
        raise RuntimeError(f"channelsync store migrate failed (see {log}): {text.strip()}")


# Every change of a job's status, kept past procrastinate's deletion of succeeded jobs.
_JOB_LOG = """
CREATE TABLE chaos_job_log (
    job_id bigint NOT NULL,
    task_name text NOT NULL,
    lock text,
    worker_id bigint,
    change text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION chaos_log_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO chaos_job_log (job_id, task_name, lock, worker_id, change)
        VALUES (NEW.id, NEW.task_name, NEW.lock, NEW.worker_id, 'deferred');
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        -- procrastinate deletes a job that succeeded (the workers' delete_jobs).
        IF OLD.status = 'doing' THEN
            INSERT INTO chaos_job_log (job_id, task_name, lock, worker_id, change)
            VALUES (OLD.id, OLD.task_name, OLD.lock, OLD.worker_id, 'succeeded');
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO chaos_job_log (job_id, task_name, lock, worker_id, change)
        VALUES (NEW.id, NEW.task_name, NEW.lock, COALESCE(NEW.worker_id, OLD.worker_id),
                OLD.status::text || '>' || NEW.status::text);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER chaos_log_job
    AFTER INSERT OR DELETE OR UPDATE OF status ON procrastinate_jobs
    FOR EACH ROW EXECUTE FUNCTION chaos_log_job();
"""


def _install_job_log(info: str) -> None:
    """Log every job's changes of status in the run's schema (see :data:`_JOB_LOG`)."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(info, autocommit=True) as connection:
        connection.execute(_JOB_LOG)


def _job_figures(info: str, result: WorkerChaosResult) -> None:
    """Count the jobs from the run's job log and what is still marked running."""
    import psycopg  # noqa: PLC0415

    from channelsync.workers.app import CLOCK_TASK  # noqa: PLC0415 - the workers extra

    with psycopg.connect(info) as connection:
        for change, count in connection.execute(
            "SELECT change, count(*) FROM chaos_job_log GROUP BY change"
        ):
            result.jobs[str(change)] = int(count)
        for task, count in connection.execute(
            "SELECT task_name, count(*) FROM chaos_job_log WHERE change = 'todo>doing' "
            "GROUP BY task_name"
        ):
            result.jobs_run[str(task)] = int(count)
        row = connection.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'"
        ).fetchone()
        result.left_running = int(row[0]) if row else 0
        # Up to now, the stop: a clock that stopped for good has a gap that never closed.
        row = connection.execute(
            "SELECT coalesce(max(extract(epoch FROM gap)), 0) FROM ("
            "  SELECT lead(at, 1, clock_timestamp()) OVER (ORDER BY at) - at AS gap"
            "  FROM chaos_job_log WHERE task_name = %s AND change = 'todo>doing') AS ticks",
            (CLOCK_TASK,),
        ).fetchone()
        result.clock_gap_seconds = float(row[0]) if row else 0.0


def _since_last_tick(info: str) -> float | None:
    """Return the seconds since a clock tick last ran (``None`` before the first)."""
    import psycopg  # noqa: PLC0415

    from channelsync.workers.app import CLOCK_TASK  # noqa: PLC0415

    with psycopg.connect(info) as connection:
        row = connection.execute(
            "SELECT extract(epoch FROM clock_timestamp() - max(at)) FROM chaos_job_log "
            "WHERE task_name = %s AND change = 'todo>doing'",
            (CLOCK_TASK,),
        ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _stalled_figures(directory: Path, result: WorkerChaosResult) -> None:
    """Count the sweep's give-backs from the workers' logs (they are its only record)."""
    for log in sorted(directory.glob("worker-*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        result.given_back += len(_GIVEN_BACK.findall(text))
        result.superseded += len(_SUPERSEDED.findall(text))
