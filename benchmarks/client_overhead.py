"""CPU per marketplace call: channelsync's transport beside plain async httpx on the same request.

Each plugin's fake marketplace is served on loopback by a child process (so its CPU is
not counted here) with its throttles off, holding a few orders. For each plugin the
same one-order read is sent N times through the plugin (signed, paced, classified,
decoded and unwrapped as in production), then N times as the identical request with a
plain ``httpx.AsyncClient`` that only decodes the JSON. CPU is this process's
``time.process_time``; waiting on the socket costs none of it.

    python benchmarks/client_overhead.py               # a table
    python benchmarks/client_overhead.py --json        # {"tmall": {"channelsync": {...}}}
    python benchmarks/client_overhead.py --calls 2000 --plugins amazon

With python-amazon-sp-api installed (never a dependency: ``pip install
python-amazon-sp-api`` for the benchmark only), Amazon's figures add its
``Orders.get_order`` on the same fake (a synchronous ``requests`` client).

``--transport aiohttp`` sends both channelsync's and plain httpx's calls through
httpx-aiohttp's ``AiohttpTransport`` instead of httpx's own (``pip install httpx-aiohttp``
for the benchmark only; see benchmarks/README.md for why it is not channelsync's transport).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

PLUGINS = ("tmall", "jd", "pinduoduo", "amazon")
ORDERS_PER_FAKE = 5


# -- the fakes, in a child process ---------------------------------------------------


def serve(*, throttled: bool = False) -> None:
    """Serve every plugin's demo fake (throttles off unless ``throttled``); print what a
    client needs."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from channelsync.demo.marketplaces import start_marketplaces  # noqa: PLC0415
    from channelsync.plugins import build_plugin_manager  # noqa: PLC0415

    host = build_plugin_manager()
    markets = start_marketplaces(host, types=list(PLUGINS), events=False)
    ready: dict[str, Any] = {}
    for market in markets:
        fake: Any = market.fake
        if not throttled:
            # The marketplace's quotas would make N calls take minutes; CPU is measured here.
            fake.throttled = lambda *_args, **_kwargs: None
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
def served(*, throttled: bool = False) -> Iterator[dict[str, Any]]:
    """Run :func:`serve` in a child process; yield what it printed."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-throttled" if throttled else "--serve"],
        stdout=subprocess.PIPE,
        text=True,
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


# -- the calls -----------------------------------------------------------------------


def _channel(
    name: str,
    spec: Mapping[str, Any],
    transport: httpx.AsyncBaseTransport | None,
    *,
    documented_limits: bool = False,
) -> Any:
    from channelsync.credentials import CredentialStore  # noqa: PLC0415
    from channelsync.credentials.memory import MemorySecretBackend  # noqa: PLC0415
    from channelsync.plugins import build_plugin_manager  # noqa: PLC0415

    cls = build_plugin_manager().registry.get(name)
    secrets = {(name, k): v for k, v in spec["credentials"].items()}
    credentials = CredentialStore(backend=MemorySecretBackend(secrets), environ={})
    settings = cls.settings_model.model_validate({**spec["settings"], "base_url": spec["base_url"]})
    channel = cls(
        name,
        settings,
        credentials.for_channel(name, cls.all_credential_fields()),
        transport=transport,
    )
    if documented_limits:
        return channel
    # The marketplace's documented pace is not what is measured: lift it.
    channel.limits = channel.limits.model_copy(  # type: ignore[misc]
        update={
            "rate_limits": {},
            "default_rate_limit": channel.limits.default_rate_limit.model_copy(
                update={"rate": 1e9, "burst": 1_000_000}
            ),
        }
    )
    return channel


def _one_read(name: str, channel: Any, order_id: str) -> tuple[str, Callable[[], Awaitable[Any]]]:
    """The plugin's one-order read through its own signed call: (operation, call)."""
    if name == "tmall":
        from channelsync_tmall.orders import FULLINFO_FIELDS, FULLINFO_METHOD  # noqa: PLC0415

        params = {"tid": order_id, "fields": FULLINFO_FIELDS}
        return FULLINFO_METHOD, lambda: channel.call(FULLINFO_METHOD, params)
    if name == "jd":
        from channelsync_jd.methods import GET_ORDER, ORDER_FIELDS  # noqa: PLC0415

        jd_params: dict[str, Any] = {"order_id": int(order_id), "optional_fields": ORDER_FIELDS}
        return GET_ORDER, lambda: channel.call(GET_ORDER, jd_params)
    if name == "pinduoduo":
        method = "pdd.order.information.get"
        return method, lambda: channel.call(method, {"order_sn": order_id})
    if name == "amazon":
        from channelsync_amazon.orders_v2026 import INCLUDED_DATA  # noqa: PLC0415

        return "getOrder", lambda: channel.http.request_json(
            "GET",
            f"/orders/2026-01-01/orders/{order_id}",
            operation="getOrder",
            params={"includedData": ",".join(INCLUDED_DATA)},
        )
    raise SystemExit(f"no call defined for {name!r}")


class _Recording(httpx.AsyncBaseTransport):
    """Keeps the last request sent, to replay it byte for byte with plain httpx."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.last: httpx.Request | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.last = request
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _transport(kind: str) -> httpx.AsyncBaseTransport | None:
    """The transport under both clients: ``None`` for httpx's own (httpcore)."""
    if kind == "httpcore":
        return None
    try:
        # Ignored for mypy when the package is not installed (for the benchmark only).
        from httpx_aiohttp import AiohttpTransport  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    except ImportError:
        raise SystemExit(
            "--transport aiohttp needs httpx-aiohttp (pip install httpx-aiohttp, "
            "for the benchmark only)"
        ) from None
    transport: httpx.AsyncBaseTransport = AiohttpTransport()
    return transport


@dataclass
class Figures:
    """CPU per call of one plugin's read through each client."""

    operation: str
    calls: int
    channelsync_us: float
    httpx_us: float
    sp_api_us: float | None = None
    transport: str = "httpcore"

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` shape of one plugin."""
        out: dict[str, Any] = {
            "operation": self.operation,
            "calls": self.calls,
            "transport": self.transport,
            "channelsync": {"cpu_us_per_call": round(self.channelsync_us, 1)},
            "httpx": {"cpu_us_per_call": round(self.httpx_us, 1)},
            "ratio_to_httpx": round(self.channelsync_us / self.httpx_us, 2),
        }
        if self.sp_api_us is not None:
            out["python-amazon-sp-api"] = {"cpu_us_per_call": round(self.sp_api_us, 1)}
        return out


#: Rounds per client, interleaved: the median round is reported, so a burst of other
#: work on the machine moves one round, not the figure.
ROUNDS = 7


async def _cpu_of(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1e6


async def measure(
    name: str, spec: Mapping[str, Any], calls: int, transport: str = "httpcore"
) -> Figures:
    """Measure one plugin's read through channelsync and through plain httpx."""
    order_id = str(spec["order_id"])
    recorder = _Recording()
    async with _channel(name, spec, recorder) as recording:
        await _one_read(name, recording, order_id)[1]()
    sent = recorder.last
    assert sent is not None
    headers = {k: v for k, v in sent.headers.items() if k.lower() not in ("host", "content-length")}
    async with (
        _channel(name, spec, _transport(transport)) as channel,
        httpx.AsyncClient(transport=_transport(transport)) as plain,
    ):
        operation, call = _one_read(name, channel, order_id)

        async def plain_call() -> Any:
            response = await plain.request(
                sent.method, str(sent.url), headers=headers, content=sent.content
            )
            return response.json()

        for _ in range(max(10, calls // 20)):  # warm: connections, tokens, caches
            await call()
            await plain_call()
        per_round = max(1, calls // ROUNDS)
        ours_rounds, theirs_rounds = [], []
        for _ in range(ROUNDS):
            ours_rounds.append(await _cpu_of(call, per_round))
            theirs_rounds.append(await _cpu_of(plain_call, per_round))
    ours, theirs = statistics.median(ours_rounds), statistics.median(theirs_rounds)
    sp_api = _sp_api_cpu(spec, order_id, calls) if name == "amazon" else None
    return Figures(operation, calls, ours, theirs, sp_api, transport)


def _sp_api_cpu(spec: Mapping[str, Any], order_id: str, calls: int) -> float | None:
    """python-amazon-sp-api's Orders v2026 ``get_order`` on the same fake, when installed."""
    try:
        # Ignored for mypy whether or not the package is installed (it ships no types).
        from sp_api.api.orders.orders_2026_01_01 import (  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415
            OrdersV20260101,
        )
        from sp_api.base import Marketplaces  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415
    except ImportError:
        return None
    from channelsync_amazon.orders_v2026 import INCLUDED_DATA  # noqa: PLC0415

    credentials = spec["credentials"]
    base = httpx.URL(spec["base_url"])
    client = OrdersV20260101(
        marketplace=Marketplaces.US,
        refresh_token=credentials.get("refresh_token"),
        credentials={
            "lwa_app_id": spec["settings"].get("lwa_client_id"),
            "lwa_client_secret": credentials.get("lwa_client_secret"),
        },
    )
    # Its LWA token and its calls go to the fake on loopback instead of Amazon.
    client._auth.scheme = f"{base.scheme}://"
    client._auth.host = f"{base.host}:{base.port}"
    client.endpoint = str(base).rstrip("/")
    included = ",".join(INCLUDED_DATA)
    for _ in range(max(10, calls // 20)):
        client.get_order(order_id, includedData=included)
    started = time.process_time()
    for _ in range(calls):
        client.get_order(order_id, includedData=included)
    return (time.process_time() - started) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per client (default 500)")
    parser.add_argument("--plugins", nargs="+", choices=PLUGINS, default=list(PLUGINS))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--transport",
        choices=("httpcore", "aiohttp"),
        default="httpcore",
        help="the transport under both clients (aiohttp: httpx-aiohttp, installed by hand)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-throttled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve or args.serve_throttled:
        serve(throttled=args.serve_throttled)
        return 0
    with served() as specs:
        figures = {
            name: asyncio.run(measure(name, specs[name], args.calls, args.transport))
            for name in args.plugins
        }
    if args.json:
        print(json.dumps({n: f.as_json() for n, f in figures.items()}))
        return 0
    head = ("plugin", "operation", "channelsync", "httpx", "ratio", "sp-api")
    print("{:<10} {:<28} {:>12} {:>9} {:>6} {:>8}".format(*head))
    for name, f in figures.items():
        sp_api = "" if f.sp_api_us is None else f"{f.sp_api_us:8.0f}"
        print(
            f"{name:<10} {f.operation:<28} {f.channelsync_us:10.0f}µs {f.httpx_us:7.0f}µs "
            f"{f.channelsync_us / f.httpx_us:6.2f} {sp_api}"
        )
    print(
        "CPU per call in this process, microseconds (the fakes run in a child process;"
        f" transport: {args.transport})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
