"""Workers at scale: N workspaces x 4 channels on the plugin fakes, K worker processes.

Every workspace (one merchant) is made in a PostgreSQL schema of the run's own with
its catalogue, its four shops served by the plugin fakes on loopback in this process;
K `channelsync worker` processes each serve every workspace (one --config each). After
the first sync, buyers order on random shops at --rate orders/s for --duration
seconds; the run waits for the orders to be imported and their stock sent, stops the
workers and prints:

* jobs_per_s: jobs that succeeded per second of the stream (every task);
* p50_s / p99_s: per order, from its import (orders.imported_at) to every channel's
  stock entry it queued being sent (the outbox settled, logged by triggers);
* connections: the peak of the workers' PostgreSQL connections (pg_stat_activity);
* setup_s (workspaces made, migrated, catalogues imported) and warmup_s apart.

    python benchmarks/scale.py --workspaces 20 --workers 2
    python benchmarks/scale.py --workspaces 200 --workers 4 --json
    python benchmarks/scale.py --workspaces 5 --workers 1 --duration 20 --keep /tmp/scale

Progress goes to stderr; with --json stdout holds one JSON object only. Exits 1 when
the run found a problem (a worker exited, connections refused, orders not drained);
the figures are printed all the same. The server is --url (default
CHANNELSYNC_TEST_DATABASE_URL, else postgresql://127.0.0.1:5432/test); every schema
the run makes is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from channelsync.testing.chaos_workers import DEFAULT_DATABASE_URL
from channelsync.testing.scale import ScaleResult, run_scale


def _table(result: ScaleResult) -> str:
    """Return the figures as a readable table."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}s"

    cpu = result.cpu
    rows = [
        ("workspaces x channels", f"{result.workspaces} x {result.channels}"),
        ("workers (concurrency)", f"{result.workers} ({result.concurrency})"),
        ("pull / flush interval", f"{result.pull_interval:g}s / {result.flush_interval:g}s"),
        ("setup (workspaces, migrations, catalogues)", f"{result.setup_s:.1f}s"),
        ("warm-up (first sync)", f"{result.warmup_s:.1f}s"),
        ("order stream", f"{result.duration_s:.1f}s at {result.rate:g}/s"),
        ("drain after the stream", f"{result.drain_s:.1f}s"),
        ("orders placed / imported", f"{result.orders_placed} / {result.orders_imported}"),
        (
            "orders measured / unsettled / unchanged",
            f"{result.orders_measured} / {result.orders_unsettled} / {result.orders_unchanged}",
        ),
        ("jobs succeeded in the stream", str(result.jobs)),
        ("jobs/s", f"{result.jobs_per_s:.1f}"),
        ("jobs by task", ", ".join(f"{k} {v}" for k, v in result.jobs_by_task.items()) or "-"),
        (
            "mean wait / run per job",
            ", ".join(
                f"{k} {result.job_wait_s[k]:.2f}s / {result.job_run_s.get(k, 0):.2f}s"
                for k in result.job_wait_s
            )
            or "-",
        ),
        ("jobs failed / retried", f"{result.jobs_failed} / {result.jobs_retried}"),
        ("due jobs waiting, peak", str(result.backlog_peak)),
        ("imported -> flushed p50", seconds(result.p50_s)),
        ("imported -> flushed p90", seconds(result.p90_s)),
        ("imported -> flushed p99", seconds(result.p99_s)),
        ("imported -> flushed max", seconds(result.max_s)),
        ("PostgreSQL connections, workers' peak", str(result.connections)),
        ("  per worker", ", ".join(map(str, result.connections_per_worker)) or "-"),
        (
            "  whole database's peak / max_connections",
            f"{result.connections_database} / {result.max_connections}",
        ),
        ("connections refused (workers' logs)", str(result.refused_connections)),
        ("throttling answers at the fakes", str(result.throttles)),
        (
            "  by plugin and operation",
            ", ".join(f"{k} {v}" for k, v in result.throttles_by_operation.items()) or "-",
        ),
        ("listings bound, never sent after warm-up", str(result.unsent_listings)),
        (
            "CPU in the stream",
            f"machine {cpu.get('machine_busy_share', 0):.0%} busy of "
            f"{cpu.get('cores', 0):g} cores; cores used: workers "
            f"{cpu.get('workers_cores', 0):.2f}, PostgreSQL {cpu.get('postgres_cores', 0):.2f}, "
            f"this process {cpu.get('benchmark_cores', 0):.2f}"
            if cpu
            else "-",
        ),
        ("wall", f"{result.wall_s:.1f}s"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines += [f"PROBLEM: {problem}" for problem in result.problems]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=20, help="workspaces (default 20)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--channels", type=int, default=4, help="channels per workspace, 1-4")
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second (all shops)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of order stream")
    parser.add_argument("--pull-interval", type=float, default=15.0, help="[daemon] seconds")
    parser.add_argument("--flush-interval", type=float, default=5.0, help="[daemon] seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="jobs per worker at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--url",
        default=os.environ.get("CHANNELSYNC_TEST_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL server (a schema of the run's own is made there)",
    )
    parser.add_argument("--warmup-timeout", type=float, default=300.0)
    parser.add_argument("--drain-timeout", type=float, help="default: 2 pull intervals + 30 s")
    parser.add_argument(
        "--keep", type=Path, help="directory for the configs and workers' logs; keeps the schemas"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.workspaces < 1 or args.workers < 1 or not 1 <= args.channels <= 4:
        parser.error("--workspaces and --workers at least 1, --channels 1 to 4")
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    # The engine's warnings are the workers' business (their logs); errors still show.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    result = run_scale(
        workspaces=args.workspaces,
        workers=args.workers,
        channels=args.channels,
        rate=args.rate,
        duration=args.duration,
        pull_interval=args.pull_interval,
        flush_interval=args.flush_interval,
        concurrency=args.concurrency,
        seed=args.seed,
        database_url=args.url,
        directory=args.keep,
        keep=args.keep is not None,
        warmup_timeout=args.warmup_timeout,
        drain_timeout=args.drain_timeout,
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(result.figures(), indent=2, sort_keys=True))
    else:
        print(_table(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
