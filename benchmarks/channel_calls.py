"""Marketplace calls per operation: a first cycle, then a cycle after 1% of SKUs change.

The same setup as ``first_cycle.py`` (plugin fakes in-process with their documented
rate limits, virtual time), for the chosen plugins one at a time. After the first
cycle the catalogue is imported again with 1% of the SKUs changed (price up 1 yuan,
on hand up 3), and a second cycle runs. Prints each cycle's calls per operation as
the fake counted them, and the virtual seconds. Asserts nothing.

    python benchmarks/channel_calls.py --items 250 --plugins pinduoduo   # 500 SKUs
    python benchmarks/channel_calls.py --items 250 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from first_cycle import fakes_world

from channelsync.engine.catalogue import import_catalogue, parse_catalogue

PLUGINS = ("tmall", "jd", "pinduoduo", "amazon")


def _changed(csv_text: str, percent: float) -> tuple[str, int]:
    """Return the catalogue with every ``100 / percent``-th SKU's price and stock raised."""
    step = max(1, round(100 / percent))
    header, *rows = csv_text.strip().splitlines()
    out, changed = [header], 0
    for index, row in enumerate(rows):
        sku, title, price, currency, quantity, product = row.split(",")
        if index % step == 0:
            price = str(Decimal(price) + 1)
            quantity = str(int(quantity) + 3)
            changed += 1
        out.append(",".join((sku, title, price, currency, quantity, product)))
    return "\n".join(out) + "\n", changed


async def _run(name: str, items: int, directory: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with fakes_world((name,), items, directory) as world:
        clock, engine = world.clock, world.engine
        fake: Any = world.shops[0].fake
        with clock.running():
            for label in ("first", "one_percent"):
                if label == "one_percent":
                    await asyncio.sleep(60)
                    text, changed = _changed(world.catalogue, 1.0)
                    import_catalogue(world.store, parse_catalogue(text, "csv"), now=clock.now())
                    result["changed_skus"] = changed
                before = Counter(fake.calls)
                started = clock.monotonic()
                summary = await engine.run_cycle()
                elapsed = clock.monotonic() - started
                calls = Counter(fake.calls)
                calls.subtract(before)
                errors = [e for c in summary.channels.values() for e in c.errors]
                result[label] = {
                    "seconds": round(elapsed, 1),
                    "calls": dict(sorted((op, n) for op, n in calls.items() if n)),
                    "total": sum(calls.values()),
                    "errors": errors,
                }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=250, help="catalogue items (2 SKUs each)")
    parser.add_argument(
        "--plugins", default=",".join(PLUGINS), help="comma-separated plugin types to run"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="channelsync-calls-") as where:
        for name in args.plugins.split(","):
            results[name] = asyncio.run(_run(name.strip(), args.items, Path(where)))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, result in results.items():
        for label in ("first", "one_percent"):
            cycle = result[label]
            title = (
                "first cycle"
                if label == "first"
                else (f"cycle after {result['changed_skus']} SKUs (1%) changed")
            )
            print(f"{name}: {title}: {cycle['total']} calls, {cycle['seconds']} s (virtual)")
            for op, count in cycle["calls"].items():
                print(f"  {op:<40} {count:>6}")
            for error in cycle["errors"]:
                print(f"  error: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
