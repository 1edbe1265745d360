"""SIGKILL chaos across workers: `channelsync worker` processes killed N times under load.

K workers (default 3) share a job queue in a fresh PostgreSQL schema and work the four
plugin fakes on loopback while buyers order; a random worker is SIGKILLed at seeded
random moments and replaced, then the workers converge and are stopped with SIGTERM.
Prints the figures (kills, restarts, orders, shipments, jobs run, throttling answers
per channel, time to converge) and every problem found; exits 1 if the promise did not
hold. Nothing is asserted on time.

    python benchmarks/worker_chaos.py --workers 3 --kills 50 --seed 1
    python benchmarks/worker_chaos.py --kills 50 --json
    python benchmarks/worker_chaos.py --kills 20 --keep /tmp/worker-chaos

The server is CHANNELSYNC_TEST_DATABASE_URL (default postgresql://127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from channelsync.testing.chaos_workers import run_worker_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=2.0, help="buyers' orders per second")
    parser.add_argument(
        "--every",
        type=float,
        nargs=2,
        default=(0.4, 1.4),
        metavar=("MIN", "MAX"),
        help="seconds between two kills (seeded random)",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="jobs per worker at once")
    parser.add_argument("--database-url", help="PostgreSQL server to make the run's schema on")
    parser.add_argument("--converge-timeout", type=float, default=240.0)
    parser.add_argument(
        "--keep", type=Path, help="directory for the config and the workers' logs; keeps the schema"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.workers < 1 or args.kills < 0:
        parser.error("--workers must be at least 1 and --kills at least 0")
    # The engine's warnings (throttles, retries, oversells) are what the run provokes;
    # the figures below count them. Errors still show.
    logging.basicConfig(level=logging.ERROR)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    result = run_worker_chaos(
        workers=args.workers,
        kills=args.kills,
        seed=args.seed,
        order_rate=args.rate,
        every=tuple(args.every),
        concurrency=args.concurrency,
        database_url=args.database_url,
        directory=args.keep,
        converge_timeout=args.converge_timeout,
        keep_schema=args.keep is not None,
    )
    if args.json:
        print(json.dumps(result.figures(), indent=2, sort_keys=True))
    else:
        print("\n".join(result.lines()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
