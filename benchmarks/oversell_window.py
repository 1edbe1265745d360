"""The oversell window: order placed on one channel → stock lowered on every other, and its cost.

On the four plugin fakes in-process, with the real daemon on virtual time (each
channel's own rate limits; pull interval 15 s unless told): per channel the time from
an order placed on its fake until every other channel's fake shows less, p50 and
p99, with events beside polling and with polling only; and the units oversold in a
burst of ``--orders`` orders against stock of nine tenths of the demand.

    python benchmarks/oversell_window.py --orders 50000 --json
    python benchmarks/oversell_window.py --orders 500 --probes 10

With ``--json`` it prints one JSON object:
``{"channels": {NAME: {"events": {"p50_s": x, "p99_s": y}, "polling": {...}}},
"burst": {"orders": N, "oversold_units": {"events": a, "polling": b}}}``;
figures that could not be measured are ``null`` and the reason goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from channelsync.testing.oversell import measure_oversell_window


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000, help="orders in the burst")
    parser.add_argument("--probes", type=int, default=20, help="timed orders per channel")
    parser.add_argument("--pull-interval", type=float, default=15.0, help="seconds")
    parser.add_argument("--minutes", type=float, default=10.0, help="burst length (simulated)")
    parser.add_argument("--warmup", type=float, default=600.0, help="simulated seconds")
    parser.add_argument("--items", type=int, default=16, help="catalogue items (2 SKUs each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mode", choices=("both", "polling", "events"), default="both", help="what to run"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON object only")
    args = parser.parse_args()
    if args.orders < 1 or args.probes < 1:
        parser.error("--orders and --probes must be at least 1")
    # The engine's warnings (throttles, retries, oversells) are what the run provokes.
    logging.basicConfig(level=logging.ERROR)
    result = measure_oversell_window(
        args.orders,
        probes=args.probes,
        pull_interval=args.pull_interval,
        minutes=args.minutes,
        warmup=args.warmup,
        items=args.items,
        seed=args.seed,
        modes=("polling", "events") if args.mode == "both" else (args.mode,),
    )
    if args.json:
        for note in result.notes:
            print(note, file=sys.stderr)
        print(json.dumps(result.to_json()))
    else:
        print("\n".join(result.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
