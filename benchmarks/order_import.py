"""Importing a burst of new orders on each plugin fake, with its documented rate limits.

After a first cycle, buyers place ``--orders`` orders on the channel's fake; one
order pull (with its refunds and order count, as the daemon's pull step does) imports
them. Time is the event loop's virtual time, and both the fake and
the channel's transport keep the marketplace's documented limits, so the figure is
what the limits allow, not what this machine does. Prints, per plugin, the virtual
seconds of the pull, its calls by operation, and the orders imported; and the pull's
CPU time in this process: the plugin's calls, its parser, the engine's ingest with the
plugin host ``channelsync run`` builds, and the fake serving the calls, which runs in
the same process (so the figure is a bound on the client's cost, not the cost itself).

    python benchmarks/order_import.py                      # 1,000 orders, every plugin
    python benchmarks/order_import.py --plugins amazon --orders 1000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from first_cycle import fakes_world

PLUGINS = ("tmall", "jd", "pinduoduo", "amazon")
_ITEMS = 200


async def _import(
    name: str, orders: int, directory: Path
) -> tuple[float, float, Counter[str], int]:
    """Return the pull's virtual seconds, its CPU seconds, its calls and the orders imported."""
    with fakes_world((name,), _ITEMS, directory, on_hand=10_000) as world:
        clock, engine = world.clock, world.engine
        (shop,) = world.shops
        (channel,) = engine.channels.values()
        fake: Any = shop.fake
        with clock.running():
            await engine.run_cycle()
            shop.place(orders)
            # Past the marketplace's completeness lag, so one pull may read them all.
            await clock.sleep((shop.lag + timedelta(seconds=5)).total_seconds())
            before = Counter(fake.calls)
            async with channel:
                started, cpu = clock.monotonic(), time.process_time()
                report = await engine.pull(shop.channel)
                elapsed, cpu = clock.monotonic() - started, time.process_time() - cpu
        calls = Counter(fake.calls)
        calls.subtract(before)
        return elapsed, cpu, +calls, 0 if report is None else report.imported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders placed in the burst")
    parser.add_argument("--plugins", nargs="+", default=list(PLUGINS), choices=PLUGINS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="channelsync-order-import-") as where:
        for name in args.plugins:
            seconds, cpu, calls, imported = asyncio.run(_import(name, args.orders, Path(where)))
            top = ", ".join(f"{op} {n}" for op, n in calls.most_common(6))
            print(
                f"{name:<10} {imported:>6} imported in {seconds:8.1f} s (virtual), "
                f"{cpu:.2f} s of CPU ({imported / cpu:,.0f} orders per CPU second): {top}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
