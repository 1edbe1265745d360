"""Faults: the engine against the four plugin fakes answering a share of calls with faults.

Rate limits, 5xx, timeouts, connection resets, malformed and truncated bodies, partial
batch failures and expired tokens, drawn with a seed; cycles run in-process on a fake
clock. Prints how many of each were injected and whether the end state held (every
order once, every shipment once, every channel showing the engine's allocation).

    python benchmarks/faults.py --rate 0.3
    python benchmarks/faults.py --rate 0.3 --kinds throttle,server_error,timeout,reset
"""

from __future__ import annotations

import argparse
import logging
import sys

from channelsync.testing.chaos import run_in_process
from channelsync.testing.fakes import Fault


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.3, help="share of calls that fault")
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kinds",
        default=",".join(sorted(Fault)),
        help="comma-separated fault kinds (default: all): " + ", ".join(sorted(Fault)),
    )
    args = parser.parse_args()
    # The engine's warnings (throttles, retries, oversells) are what the run provokes;
    # the figures below count them. Errors still show.
    logging.basicConfig(level=logging.ERROR)
    kinds = {Fault(kind.strip()) for kind in args.kinds.split(",") if kind.strip()}
    result = run_in_process(
        orders=args.orders,
        seed=args.seed,
        fault_rate=args.rate,
        fault_kinds=kinds,
        suite=f"faults at {args.rate:.0%}",
    )
    print("\n".join(result.lines()))
    # Survival is judged on the end state of the whole run: a kind's injections count
    # as survived when the run they happened in reached that state.
    for kind in sorted(kinds):
        injected = result.faults_injected[str(kind)]
        print(f"  {kind}: injected {injected}, survived {injected if result.ok else 0}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
