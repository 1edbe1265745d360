"""Load: a double-eleven burst of orders across the four plugin fakes against scarce stock.

In-process (each plugin's fake through its own transport, with its rate limits) on a
fake clock: buyers place ``--orders`` orders over ``--minutes`` of simulated time, in
``--cycles`` sync cycles, against stock of about nine tenths of the demand. After every
cycle no channel may show more than the ledger has (the sum for a scarce SKU
neither); the oversells the marketplaces' polling gap allowed are counted. Prints
the figures and the throughput.

    python benchmarks/load.py --orders 50000            # 20 cycles over 10 minutes
    python benchmarks/load.py --orders 2000 --items 16
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

from channelsync.testing.chaos import run_in_process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes")
    parser.add_argument("--cycles", type=int, default=20, help="sync cycles while ordering")
    parser.add_argument("--items", type=int, default=32, help="catalogue items (2 SKUs each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # The engine's warnings (throttles, retries, oversells) are what the run provokes;
    # the figures below count them. Errors still show.
    logging.basicConfig(level=logging.ERROR)
    result = run_in_process(
        orders=args.orders,
        seed=args.seed,
        items=args.items,
        orders_per_cycle=max(1, math.ceil(args.orders / args.cycles)),
        cycle_seconds=args.minutes * 60 / args.cycles,
        ship_per_cycle=5,
        suite=f"load of {args.orders} orders",
    )
    print("\n".join(result.lines()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
