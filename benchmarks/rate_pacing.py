"""Pacing at the documented rate: throttling answers drawn, and the share of the rate used.

Each plugin's fake marketplace is served on loopback by a child process with its
throttles on, enforcing the documented limits. Through each plugin's own channel (its
documented limits, real sockets), the one-order read is sent as fast as the channel
lets it: the burst, then ``--seconds`` worth of calls at the documented rate, from
``--concurrency`` tasks at once. Prints per plugin the throttling answers the
marketplace gave and the rate reached after the burst as a share of the documented
one (the goal: no throttling answer, at 95% of the rate or more).

    python benchmarks/rate_pacing.py                     # 20 s per plugin, 1 and 4 tasks
    python benchmarks/rate_pacing.py --plugins amazon --seconds 60 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from typing import Any

from client_overhead import PLUGINS, _channel, _one_read, served


async def measure(name: str, spec: dict[str, Any], seconds: float, tasks: int) -> dict[str, Any]:
    """Send the burst and ``seconds`` of calls; return throttles and the rate reached."""
    channel = _channel(name, spec, None, documented_limits=True)
    async with channel:
        operation, call = _one_read(name, channel, spec["order_id"])
        bucket = channel.http.rate_limiter.bucket(channel.name, operation)
        # A new channel's bucket starts full; the marketplace's refills first from the
        # previous run's calls (a process started right after another would draw a
        # throttle here: the engine carries budgets over in the store for that).
        await asyncio.sleep(bucket.burst / bucket.rate)
        await call()  # sign in (a token refresh) before the clock starts
        await asyncio.sleep(1.0 / bucket.rate)  # both buckets full again
        rate, burst = bucket.rate, bucket.burst
        calls = burst + math.ceil(rate * seconds)
        remaining = iter(range(calls))
        finished: list[float] = []

        async def worker() -> None:
            for _ in remaining:
                await call()
                finished.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        elapsed = finished[-1] - started
        throttles = channel.metrics.throttles(channel.name, operation)
    # The burst goes at once; the rest at the rate: what the documented limit allows.
    allowed = (calls - burst) / rate
    return {
        "operation": operation,
        "rate": rate,
        "burst": burst,
        "calls": calls,
        "tasks": tasks,
        "seconds": round(elapsed, 2),
        "share_of_rate": round(allowed / elapsed, 3) if elapsed > 0 else None,
        "throttles": int(throttles),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", nargs="+", default=list(PLUGINS), choices=PLUGINS)
    parser.add_argument("--seconds", type=float, default=20.0, help="calls past the burst")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    with served(throttled=True) as specs:
        for name in args.plugins:
            for tasks in args.concurrency:
                result = asyncio.run(measure(name, specs[name], args.seconds, tasks))
                results.setdefault(name, []).append(result)
                if not args.json:
                    print(
                        f"{name:<10} {result['operation']:<28} rate {result['rate']:g}/s "
                        f"burst {result['burst']:>3}, {result['calls']:>4} calls from "
                        f"{tasks} task(s) in {result['seconds']:7.2f} s: "
                        f"{result['share_of_rate']:.1%} of the rate, "
                        f"{result['throttles']} throttling answer(s)",
                        flush=True,
                    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
