"""SIGKILL chaos: the daemon against the four plugin fakes on loopback, killed N times.

Prints the figures (kills, orders, shipments, races, oversells, time to converge) and
every problem found; exits 1 if the promise did not hold. Nothing is asserted on time.

    python benchmarks/chaos.py --kills 50 --seed 1
    python benchmarks/chaos.py --kills 500 --seed 7 --rate 4 --keep /tmp/chaos
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from channelsync.testing.chaos import run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=2.0, help="buyers' orders per second")
    parser.add_argument("--life", type=float, nargs=2, default=(0.4, 1.4), metavar=("MIN", "MAX"))
    parser.add_argument("--faults", type=float, default=0.0, help="fault rate of the fakes")
    parser.add_argument("--converge-timeout", type=float, default=180.0)
    parser.add_argument("--keep", type=Path, help="directory for the config, store and log")
    parser.add_argument("--no-fork", action="store_true", help="exec every daemon start")
    args = parser.parse_args()
    # The engine's warnings (throttles, retries, oversells) are what the run provokes;
    # the figures below count them. Errors still show.
    logging.basicConfig(level=logging.ERROR)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    result = run_chaos(
        kills=args.kills,
        seed=args.seed,
        order_rate=args.rate,
        life=tuple(args.life),
        fault_rate=args.faults,
        converge_timeout=args.converge_timeout,
        directory=args.keep,
        fork=not args.no_fork,
    )
    print("\n".join(result.lines()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
