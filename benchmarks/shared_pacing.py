"""Workers sharing one channel's rate limit while some calls arrive late: throttles drawn.

Every worker process paces a channel's calls through the schedule it shares with the
others in the store (:mod:`channelsync.workers.pacing`); the marketplace counts a call
when it arrives. On a busy machine or a slow network some calls arrive well after their
slot, and the calls after them must not outrun the marketplace's bucket for it.

Amazon's fake is served on loopback by a child process with its documented throttles
on. ``--workers`` clients stand in for worker processes: each its own Amazon channel
(its documented limits: ``getListingsItem`` 5 a second, 10 at once), its own store
engine on one PostgreSQL schema, its calls one after another in rounds of ``--round``
with a random pause of up to ``--pause`` seconds between rounds (as flushes come: the
bucket fills in the pauses, and a full bucket is where a late call costs). A share of the calls
(``--late-share``) is held before it goes out for up to ``--late-ms`` (a busy event
loop between the slot and the send). Prints the throttling answers the marketplace
gave (the goal: none) and the rate reached as a share of the documented one.

    python benchmarks/shared_pacing.py                       # 3 workers, 30 s
    python benchmarks/shared_pacing.py --workers 4 --late-ms 400 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _stores import fresh_store_url
from client_overhead import _channel, served

from channelsync.errors import ChannelError
from channelsync.store import SqlStore, open_store
from channelsync.workers.pacing import install_shared_pacing

OPERATION = "getListingsItem"
SKU = "CS-0001-1"  # a SKU of the demo catalogue the fake serves
DEFAULT_DATABASE_URL = "postgresql://127.0.0.1:5432/test"


class _Late(httpx.AsyncBaseTransport):
    """Holds a share of the requests back before they go out (a busy event loop)."""

    def __init__(self, share: float, most: float, seed: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.share = share
        self.most = most
        self.random = random.Random(seed)
        self.held = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.random.random() < self.share:
            self.held += 1
            await asyncio.sleep(self.random.uniform(0.0, self.most))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def run(spec: dict[str, Any], url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run the workers' calls for ``args.seconds``; return the figures."""
    stores = [open_store(url) for _ in range(args.workers)]
    channels = []
    transports = []
    for index, store in enumerate(stores):
        transport = _Late(args.late_share, args.late_ms / 1000, args.seed * 100 + index)
        channel = _channel("amazon", spec, transport, documented_limits=True)
        assert isinstance(store, SqlStore)  # a PostgreSQL URL: the schedule is SQL
        install_shared_pacing([channel], store)
        channels.append(channel)
        transports.append(transport)
    settings = spec["settings"]
    path = f"/listings/2021-08-01/items/{settings['seller_id']}/{SKU}"
    params = {"marketplaceIds": settings["marketplace_ids"][0]}
    calls = 0
    errors: list[str] = []
    deadline = time.monotonic() + args.seconds

    async def worker(channel: Any, pauses: random.Random) -> None:
        nonlocal calls
        while time.monotonic() < deadline:
            for _ in range(args.round):
                try:
                    await channel.http.request_json("GET", path, operation=OPERATION, params=params)
                except ChannelError as error:
                    errors.append(type(error).__name__)
                calls += 1
            await asyncio.sleep(pauses.uniform(0.0, args.pause))

    for channel in channels:
        await channel.open()
    try:
        started = time.monotonic()
        await asyncio.gather(
            *(worker(c, random.Random(args.seed * 100 + i)) for i, c in enumerate(channels))
        )
        elapsed = time.monotonic() - started
        throttles = sum(c.metrics.throttles(c.name, OPERATION) for c in channels)
        limit = channels[0].limits.rate_limit(OPERATION)
    finally:
        for channel in channels:
            await channel.close()
        for store in stores:
            store.close()
    # What the limit allows in the time taken (the pauses included).
    allowed = limit.burst + limit.rate * elapsed
    return {
        "workers": args.workers,
        "operation": OPERATION,
        "rate": limit.rate,
        "burst": limit.burst,
        "round": args.round,
        "pause_s": args.pause,
        "late_share": args.late_share,
        "late_ms": args.late_ms,
        "calls": calls,
        "held_back": sum(t.held for t in transports),
        "seconds": round(elapsed, 2),
        "share_of_rate": round(calls / allowed, 3),
        "throttles": int(throttles),
        "errors": len(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--round", type=int, default=6, help="calls per round")
    parser.add_argument("--pause", type=float, default=4.0, help="longest pause (s)")
    parser.add_argument("--late-share", type=float, default=0.3, help="share of calls held")
    parser.add_argument("--late-ms", type=float, default=400.0, help="longest hold")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store-url", default=None, help="a PostgreSQL server URL")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    base = args.store_url or os.environ.get("CHANNELSYNC_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    with (
        tempfile.TemporaryDirectory() as directory,
        fresh_store_url(base, Path(directory), "pacing") as url,
        served(throttled=True) as specs,
    ):
        result = asyncio.run(run(specs["amazon"], url, args))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['workers']} workers, {result['operation']} at {result['rate']:g}/s, "
            f"burst {result['burst']}: {result['calls']} calls in {result['seconds']} s "
            f"({result['held_back']} held up to {args.late_ms:g} ms), "
            f"{result['share_of_rate']:.1%} of the rate, "
            f"{result['throttles']} throttling answer(s), {result['errors']} error(s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
