"""Overhead of channelsync's core on the hot paths, measured against in-process fakes.

Prints figures; asserts nothing. The marketplace is an ``httpx.MockTransport`` so the
numbers are channelsync's own cost, not the network's.
"""

from __future__ import annotations

import asyncio
import logging
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from channelsync.channels import ChannelLimits, RateLimit
from channelsync.http import ChannelHttpClient, Redactor
from channelsync.models import Money, Order, OrderLine, OrderStatus

REQUESTS = 5_000
ORDERS = 20_000


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True, "echo": request.url.params.get("n")})


async def _transport_run(log_level: int) -> float:
    logging.getLogger("channelsync").setLevel(log_level)
    limits = ChannelLimits(default_rate_limit=RateLimit(rate=1e9, burst=1_000_000))
    async with ChannelHttpClient(
        "bench", "https://bench.test", limits=limits, transport=httpx.MockTransport(_answer)
    ) as http:
        start = time.perf_counter()
        for n in range(REQUESTS):
            await http.request(
                "GET", "/x", operation="bench", params={"n": n, "access_token": "secret"}
            )
        return time.perf_counter() - start


async def _raw_httpx_run() -> float:
    async with httpx.AsyncClient(
        base_url="https://bench.test", transport=httpx.MockTransport(_answer)
    ) as client:
        start = time.perf_counter()
        for n in range(REQUESTS):
            (await client.get("/x", params={"n": n, "access_token": "secret"})).raise_for_status()
        return time.perf_counter() - start


def _orders() -> tuple[float, int]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    raw = [
        {
            "channel": "bench",
            "order_id": str(n),
            "status": OrderStatus.PAID,
            "raw_status": "WAIT_SELLER_SEND_GOODS",
            "created_at": t0,
            "updated_at": t0 + timedelta(seconds=n),
            "total": {"amount": "19.80", "currency": "CNY"},
            "lines": [
                {
                    "item_id": "1",
                    "sku_id": "2",
                    "quantity": 2,
                    "unit_price": {"amount": Decimal("9.90"), "currency": "CNY"},
                }
            ],
        }
        for n in range(ORDERS)
    ]
    tracemalloc.start()
    start = time.perf_counter()
    orders = [Order.model_validate(r) for r in raw]
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert orders[-1].lines[0].total == Money.of("19.80", "CNY")
    assert isinstance(orders[0].lines[0], OrderLine)
    return elapsed, peak


def _redaction() -> float:
    redactor = Redactor()
    redactor.add_secret("CANARY-s3cr3t")
    url = "https://gw.test/router?app_key=1&session=CANARY-s3cr3t&sign=ABC&method=x&n=1"
    start = time.perf_counter()
    for _ in range(REQUESTS):
        redactor.redact_url(url)
    return time.perf_counter() - start


def main() -> None:
    """Run each measurement and print its figures."""
    raw = asyncio.run(_raw_httpx_run())
    quiet = asyncio.run(_transport_run(logging.WARNING))
    debug = asyncio.run(_transport_run(logging.DEBUG))
    per = lambda seconds: seconds / REQUESTS * 1e6  # noqa: E731
    print(f"requests per run                  {REQUESTS}")
    print(f"raw httpx + MockTransport         {per(raw):8.1f} us/request")
    print(
        f"ChannelHttpClient (logging off)   {per(quiet):8.1f} us/request "
        f"(+{per(quiet) - per(raw):.1f} us)"
    )
    print(f"ChannelHttpClient (debug logging) {per(debug):8.1f} us/request")
    elapsed, peak = _orders()
    print(
        f"Order validation                  {ORDERS / elapsed:8.0f} orders/s, "
        f"peak {peak / 1e6:.1f} MB for {ORDERS} orders"
    )
    print(f"URL redaction                     {per(_redaction()):8.1f} us/url")


if __name__ == "__main__":
    main()
