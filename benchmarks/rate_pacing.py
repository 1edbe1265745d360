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
import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from client_overhead import ORDERS_PER_FAKE, PLUGINS, _one_read

from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.plugins import build_plugin_manager


def serve() -> None:
    """Serve every plugin's demo fake with its throttles on; print what a client needs."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from channelsync.demo.marketplaces import start_marketplaces  # noqa: PLC0415

    markets = start_marketplaces(build_plugin_manager(), types=list(PLUGINS), events=False)
    ready: dict[str, Any] = {}
    for market in markets:
        fake: Any = market.fake
        orders = fake.generate_orders(ORDERS_PER_FAKE)
        ready[market.type_name] = {
            "base_url": market.server.url,
            "credentials": market.credentials,
            "settings": market.settings,
            "order_id": orders[0].order_id,
        }
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(json.dumps(ready), flush=True)
    stop.wait()
    for market in markets:
        market.stop()


@contextlib.contextmanager
def served() -> Iterator[dict[str, Any]]:
    """Run :func:`serve` in a child process; yield what it printed."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise SystemExit("the fake marketplaces did not start")
        yield json.loads(line)
    finally:
        child.terminate()
        child.wait(timeout=30)


def _channel(name: str, spec: dict[str, Any]) -> Any:
    """The plugin's channel on the served fake, with its documented limits."""
    cls = build_plugin_manager().registry.get(name)
    secrets = {(name, k): v for k, v in spec["credentials"].items()}
    credentials = CredentialStore(backend=MemorySecretBackend(secrets), environ={})
    settings = cls.settings_model.model_validate({**spec["settings"], "base_url": spec["base_url"]})
    return cls(name, settings, credentials.for_channel(name, cls.all_credential_fields()))


async def measure(name: str, spec: dict[str, Any], seconds: float, tasks: int) -> dict[str, Any]:
    """Send the burst and ``seconds`` of calls; return throttles and the rate reached."""
    channel = _channel(name, spec)
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
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plugins", nargs="+", default=list(PLUGINS), choices=PLUGINS)
    parser.add_argument("--seconds", type=float, default=20.0, help="calls past the burst")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    results: dict[str, list[dict[str, Any]]] = {}
    with served() as specs:
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
