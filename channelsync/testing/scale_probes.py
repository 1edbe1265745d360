"""What the scale run measures beside the workers (:mod:`~channelsync.testing.scale`).

Its logs in PostgreSQL and the queries that read them, the connection sampler, and the
CPU time of the machine, the workers and PostgreSQL (from ``/proc``).

Each workspace gets two logs of its own, kept by triggers: ``scale_order_log`` (every
order inserted, with its transaction id) and ``scale_outbox_log`` (every outbox entry
inserted, and every change of its state or version, with its transaction id and
statement time). The outbox keeps an entry's latest version only; the log keeps each,
so an order's stock entries (queued in the transaction that imported it) and the time
each was settled can be read after the run. Statement times are UTC, as the store's.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "DEFINITIONS",
    "JobFigures",
    "Latencies",
    "Sampler",
    "backlog",
    "cpu_now",
    "cpu_share",
    "first_sync",
    "install_logs",
    "job_figures",
    "jobs_so_far",
    "order_latencies",
    "percentile",
    "unfinished",
]

#: What each headline figure measured (printed with the figures).
DEFINITIONS = {
    "jobs_per_s": "jobs that succeeded (procrastinate deleted them as done) while orders "
    "streamed in, per second of the stream: every task (pulls, flushes, clock ticks, sweeps)",
    "p50_s": "median, over orders first imported during the stream whose stock entries all "
    "settled, of seconds from orders.imported_at to the last of the order's stock outbox "
    "entries being settled 'sent' (at the version queued by the import, or a later one); "
    "nearest rank",
    "p99_s": "99th percentile (nearest rank) of the same",
    "entries": "an order's stock entries: those its import transaction queued (or bumped) "
    "for a listing bound to one of the order's SKUs, on any channel of its workspace, its "
    "own included; an order that changed no channel's quantity has none (orders_unchanged)",
    "connections": "peak of the workers' connections to the database (pg_stat_activity, "
    "client backends whose application_name is a worker's), sampled every 0.5 s from the "
    "workers' start to their stop",
    "connections_database": "peak of every client connection to the database (other users "
    "of the server included)",
    "throttles": "the fakes' throttling answers: calls a marketplace would have refused "
    "because its rate limit for the operation was spent (injected faults are not counted)",
    "throttles_by_operation": "the same by plugin and limit key, summed over workspaces",
    "setup_s": "creating and migrating every workspace, importing its catalogue and "
    "installing the logs (not the fakes, not the workers' start)",
    "warmup_s": "from the workers' start to every listing bound and its quantity sent",
}

_LOGS = """
CREATE TABLE {s}.scale_order_log (
    channel text NOT NULL,
    order_id text NOT NULL,
    xid bigint NOT NULL DEFAULT txid_current()
);
CREATE TABLE {s}.scale_outbox_log (
    channel text NOT NULL,
    kind text NOT NULL,
    key text NOT NULL,
    version integer NOT NULL,
    state text NOT NULL,
    at timestamp NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'),
    xid bigint NOT NULL DEFAULT txid_current()
);
CREATE INDEX ON {s}.scale_outbox_log (channel, key, state);
CREATE INDEX ON {s}.scale_outbox_log (xid);
CREATE FUNCTION {s}.scale_log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {s}.scale_order_log (channel, order_id) VALUES (NEW.channel, NEW.order_id);
    RETURN NULL;
END
$$;
CREATE FUNCTION {s}.scale_log_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {s}.scale_outbox_log (channel, kind, key, version, state)
    VALUES (NEW.channel, NEW.kind, NEW.key, NEW.version, NEW.state);
    RETURN NULL;
END
$$;
CREATE TRIGGER scale_log_order AFTER INSERT ON {s}.orders
    FOR EACH ROW EXECUTE FUNCTION {s}.scale_log_order();
CREATE TRIGGER scale_log_outbox_new AFTER INSERT ON {s}.outbox
    FOR EACH ROW EXECUTE FUNCTION {s}.scale_log_outbox();
CREATE TRIGGER scale_log_outbox_change AFTER UPDATE ON {s}.outbox
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
                       OR OLD.version IS DISTINCT FROM NEW.version)
    EXECUTE FUNCTION {s}.scale_log_outbox();
"""

# Per order first imported since the stream began: its stock entries, and when each
# was settled sent at its version or later. Run once per workspace schema.
_LATENCIES = """
WITH placed AS (
    SELECT l.channel, l.order_id, l.xid, o.imported_at
    FROM {s}.scale_order_log l
    JOIN {s}.orders o ON o.channel = l.channel AND o.order_id = l.order_id
    WHERE o.imported_at >= %(start)s
), sold AS (
    SELECT DISTINCT channel, order_id, sku_id FROM {s}.ledger_events WHERE order_id IS NOT NULL
), entries AS (
    SELECT p.channel AS origin, p.order_id, e.channel, e.key, e.version
    FROM placed p
    JOIN {s}.scale_outbox_log e ON e.xid = p.xid AND e.kind = 'stock' AND e.state = 'pending'
    JOIN {s}.bindings b ON b.channel = e.channel AND b.item_id || '/' || b.listing_sku_id = e.key
    JOIN sold ON sold.channel = p.channel AND sold.order_id = p.order_id
        AND sold.sku_id = b.sku_id
), settled AS (
    SELECT entries.*, (
        SELECT min(x.at) FROM {s}.scale_outbox_log x
        WHERE x.channel = entries.channel AND x.key = entries.key AND x.kind = 'stock'
            AND x.state = 'sent' AND x.version >= entries.version
    ) AS sent_at
    FROM entries
)
SELECT count(s.channel), count(s.sent_at), extract(epoch FROM max(s.sent_at) - p.imported_at)
FROM placed p LEFT JOIN settled s ON s.origin = p.channel AND s.order_id = p.order_id
GROUP BY p.channel, p.order_id, p.imported_at
"""


# Per task, of the jobs that succeeded in the window: mean wait from queued to started
# (a job retried counts from its last start's queueing) and mean run.
_TIMINGS = """
WITH done AS (
    SELECT job_id, task_name, at FROM chaos_job_log
    WHERE change = 'succeeded' AND at >= %(start)s AND at < %(end)s
), started AS (
    SELECT DISTINCT ON (l.job_id) l.job_id, l.at
    FROM chaos_job_log l JOIN done USING (job_id)
    WHERE l.change = 'todo>doing' ORDER BY l.job_id, l.at DESC
), queued AS (
    SELECT l.job_id, min(l.at) AS at
    FROM chaos_job_log l JOIN done USING (job_id)
    WHERE l.change = 'deferred' GROUP BY l.job_id
)
SELECT done.task_name,
    avg(extract(epoch FROM started.at - queued.at)),
    avg(extract(epoch FROM done.at - started.at))
FROM done JOIN started USING (job_id) JOIN queued USING (job_id)
GROUP BY done.task_name
"""


@dataclass
class JobFigures:
    """The queue's jobs in a window, from the job log."""

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    by_task: Counter[str] = field(default_factory=Counter)
    run_s: dict[str, float] = field(default_factory=dict)
    """Mean seconds from a job's start to its success, by task."""
    wait_s: dict[str, float] = field(default_factory=dict)
    """Mean seconds from a job's queueing (or its retry time) to its start, by task."""


@dataclass
class Latencies:
    """The orders first imported since the stream began, and the seconds of those measured."""

    imported: int = 0
    seconds: list[float] = field(default_factory=list)
    unsettled: int = 0
    unchanged: int = 0


def _schema(name: str) -> str:
    """Return workspace ``name``'s schema, quoted (names are checked: no quote inside)."""
    return f'"cs_{name}"'


def install_logs(info: str, names: Sequence[str]) -> None:
    """Install the order and outbox logs in every workspace (see the module's documentation)."""
    import psycopg  # noqa: PLC0415 - the workers extra brings it

    with psycopg.connect(info, autocommit=True) as db:
        for name in names:
            db.execute(_LOGS.replace("{s}", _schema(name)).encode())


def _union(names: Sequence[str], query: str) -> bytes:
    """Return ``query`` (with ``{s}`` for the schema) summed over every workspace."""
    parts = " UNION ALL ".join(f"({query.replace('{s}', _schema(name))})" for name in names)
    # The schemas are the run's own names (checked workspace names), not input.
    return f"SELECT coalesce(sum(n), 0) FROM ({parts}) AS every(n)".encode()  # noqa: S608


def _count(db: Any, statement: bytes, parameters: dict[str, Any] | None = None) -> int:
    row = db.execute(statement, parameters).fetchone()
    return int(row[0]) if row else 0


def first_sync(db: Any, names: Sequence[str], channels: int) -> tuple[int, int, int]:
    """Return the channels not yet bound, the stock entries pending, the listings never sent.

    Summed over every workspace; a channel counts as bound once a listing of it is.
    """
    bound = _union(
        names, "SELECT count(DISTINCT channel) FROM {s}.bindings WHERE sku_id IS NOT NULL"
    )
    pending = _union(
        names, "SELECT count(*) FROM {s}.outbox WHERE kind = 'stock' AND state = 'pending'"
    )
    unsent = _union(
        names,
        "SELECT count(*) FROM {s}.bindings WHERE sku_id IS NOT NULL AND sent_quantity IS NULL",
    )
    unbound = max(0, len(names) * channels - _count(db, bound))
    return unbound, _count(db, pending), _count(db, unsent)


def unfinished(db: Any, names: Sequence[str], since: datetime, placed: int) -> int:
    """Return the orders placed not yet imported plus the stock entries not yet sent."""
    imported = _union(names, "SELECT count(*) FROM {s}.orders WHERE imported_at >= %(since)s")
    pending = _union(
        names, "SELECT count(*) FROM {s}.outbox WHERE kind = 'stock' AND state = 'pending'"
    )
    naive = since.replace(tzinfo=None)
    return max(0, placed - _count(db, imported, {"since": naive})) + _count(db, pending)


def backlog(db: Any) -> int:
    """Return the jobs due and waiting for a worker (the queue's table in the base schema)."""
    return _count(
        db,
        b"SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
        b"AND (scheduled_at IS NULL OR scheduled_at <= now())",
    )


def job_figures(db: Any, start: datetime, end: datetime) -> JobFigures:
    """Return the jobs that succeeded, failed and were retried from ``start`` to ``end``."""
    found = JobFigures()
    window = {"start": start, "end": end}
    for task, change, count in db.execute(
        "SELECT task_name, change, count(*) FROM chaos_job_log "
        "WHERE at >= %(start)s AND at < %(end)s GROUP BY 1, 2",
        window,
    ):
        if change == "succeeded":
            found.succeeded += int(count)
            found.by_task[str(task).removeprefix("channelsync.")] += int(count)
        elif change == "doing>failed":
            found.failed += int(count)
        elif change == "doing>todo":
            found.retried += int(count)
    for task, wait, run in db.execute(_TIMINGS, window):
        name = str(task).removeprefix("channelsync.")
        found.wait_s[name], found.run_s[name] = float(wait), float(run)
    return found


def jobs_so_far(db: Any) -> str:
    """Return the jobs queued and started so far, by task, as a line for a problem."""
    rows = db.execute(
        "SELECT task_name, count(*) FILTER (WHERE change = 'deferred'), "
        "count(*) FILTER (WHERE change = 'todo>doing') FROM chaos_job_log "
        "GROUP BY 1 ORDER BY 3 DESC"
    )
    return ", ".join(
        f"{str(task).removeprefix('channelsync.')} {started} started of {queued} queued"
        for task, queued, started in rows
    )


def order_latencies(db: Any, names: Sequence[str], since: datetime) -> Latencies:
    """Return every order first imported since ``since`` and its latency (module docs)."""
    found = Latencies()
    naive = since.replace(tzinfo=None)
    for name in names:
        rows = db.execute(_LATENCIES.replace("{s}", _schema(name)).encode(), {"start": naive})
        for entries, sent, seconds in rows:
            found.imported += 1
            if not entries:
                found.unchanged += 1
            elif sent < entries:
                found.unsettled += 1
            else:
                found.seconds.append(float(seconds))
    return found


class Sampler(threading.Thread):
    """Counts the run's connections (``application_name`` ``prefix``…) and due jobs, twice a second.

    Its own connection is ``<prefix>sampler``; the workers' are ``<prefix>w<N>``.
    """

    def __init__(self, info: str, prefix: str) -> None:
        super().__init__(name="scale-sampler", daemon=True)
        self.info = info
        self.prefix = prefix
        self.stopping = threading.Event()
        self.measuring = False
        self.peaks: dict[str, int] = {}
        self.workers_peak = 0
        self.database_peak = 0
        self.backlog_peak = 0
        self.max_connections = 0
        self.error: str | None = None

    def run(self) -> None:
        """Sample until :meth:`close` (an error ends the sampling and is kept in ``error``)."""
        import psycopg  # noqa: PLC0415

        try:
            with psycopg.connect(
                self.info, autocommit=True, application_name=f"{self.prefix}sampler"
            ) as db:
                row = db.execute("SELECT current_setting('max_connections')::int").fetchone()
                self.max_connections = int(row[0]) if row else 0
                while not self.stopping.wait(0.5):
                    self._sample(db)
        except Exception as error:  # noqa: BLE001 - reported with the figures
            self.error = f"{type(error).__name__}: {error}"

    def _sample(self, db: Any) -> None:
        counts = {
            str(name): int(count)
            for name, count in db.execute(
                "SELECT coalesce(application_name, ''), count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_type = 'client backend' "
                "GROUP BY 1"
            )
        }
        ours = {k: v for k, v in counts.items() if k.startswith(self.prefix)}
        for name, count in ours.items():
            self.peaks[name] = max(self.peaks.get(name, 0), count)
        worker = re.compile(rf"{re.escape(self.prefix)}w\d+")
        workers = sum(v for k, v in ours.items() if worker.fullmatch(k))
        self.workers_peak = max(self.workers_peak, workers)
        self.database_peak = max(self.database_peak, sum(counts.values()))
        if self.measuring:
            self.backlog_peak = max(self.backlog_peak, backlog(db))

    def close(self) -> None:
        """Stop sampling and wait for the thread."""
        self.stopping.set()
        self.join(timeout=10)


# -- CPU time ------------------------------------------------------------------------

#: Clock ticks per second of /proc's CPU times.
_HZ = float(os.sysconf("SC_CLK_TCK"))


def cpu_now(pids: Iterable[int]) -> dict[str, float]:
    """Return CPU seconds so far: the machine's, the ``pids`` (workers), PostgreSQL's, ours.

    PostgreSQL's processes (every client's backend, other users' too) are kept one key
    each, ``postgres:<pid>``: a backend that starts meanwhile counts from zero.
    """
    fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:]
    ticks = [float(value) for value in fields]
    found = {"machine_busy": (sum(ticks) - ticks[3] - ticks[4]) / _HZ, "machine": sum(ticks) / _HZ}
    found["workers"] = sum(_process_seconds(pid)[1] for pid in pids)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        name, seconds = _process_seconds(int(stat.parent.name))
        if name == "postgres":
            found[f"postgres:{stat.parent.name}"] = seconds
    times = os.times()
    found["benchmark"] = times.user + times.system
    return found


def _process_seconds(pid: int) -> tuple[str, float]:
    """Return a process's name and CPU seconds so far (``("", 0.0)`` once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return "", 0.0
    name, _, rest = stat.partition(" (")[2].rpartition(")")
    parts = rest.split()
    return name, (float(parts[11]) + float(parts[12])) / _HZ


def cpu_share(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    """Return the cores each used over the window, and the machine's busy share of its cores."""
    spent = {key: after[key] - before.get(key, 0.0) for key in after}
    window = max(seconds, 1e-9)
    postgres = sum(value for key, value in spent.items() if key.startswith("postgres:"))
    return {
        "cores": float(os.cpu_count() or 1),
        "machine_busy_share": spent["machine_busy"] / max(spent["machine"], 1e-9),
        "workers_cores": spent["workers"] / window,
        "postgres_cores": postgres / window,
        "benchmark_cores": spent["benchmark"] / window,
    }


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile ``share`` (0 to 100) of non-empty ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]
