"""The sync engine at catalogue scale: SKUs bound to four in-process channels.

Prints figures; asserts nothing. Channels are :class:`MemoryChannel` (in-process, no
network), the store is SQLite in a temporary directory (or a fresh schema of a
PostgreSQL server, dropped afterwards), the clock is fake, so the figures are the
engine's and the store's own cost.

    python benchmarks/engine_cycle.py              # 100,000 SKUs, 10,000 orders
    python benchmarks/engine_cycle.py --skus 2000 --orders 1000   # a quick run
    python benchmarks/engine_cycle.py --tracemalloc   # peak traced memory (slows the cycle)
    python benchmarks/engine_cycle.py --store-url postgresql://127.0.0.1:5432/test
    python benchmarks/engine_cycle.py --plugins   # with the plugin host the daemon builds
    python benchmarks/engine_cycle.py --first-cycle-only   # stop after the first cycle

The first cycle is split into its parts (binding, planning, flushing: each the wall
span from its first start to its last end, as the channels overlap) and its CPU time,
this process's and the PostgreSQL server's processes', also per update sent.

A burst of orders is ingested twice: the shops pulled one after another, then side by
side (as the daemon pulls them; the second runs on a store holding the first's orders).
The first burst's ingest figure is split into its parts (pull and cursors, the page's
bulk reads, the decisions per order, the ledger and order writes, the plan, the
commits, the order-imported announcements), timed by wrapping those steps in this
process.

Last, every price is raised and every SKU replanned: in one transaction
(``SyncEngine.replan``), then again in slices (``replan_in_slices``, what the daemon and
the workers run), each with the event loop's longest stall meanwhile.

The collector runs at the thresholds every ``channelsync`` command sets
(:mod:`channelsync.gc_tuning`); ``--default-gc`` keeps CPython's for comparison. What
exists once the engine is built is frozen out of full collections, as the long-running
commands do; ``--no-freeze`` leaves it to the collector.

Without ``--tracemalloc`` the first cycle is timed as it runs and the memory figure is
the process's peak resident set size (which includes the catalogue and the fakes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import resource
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from _stores import ServerCpu, ServerWal, fresh_store_url
from _timing import Spans, Split, Stalls, patched

from channelsync.channels import Operation
from channelsync.clock import FakeClock
from channelsync.engine import order_page
from channelsync.engine import orders as order_ingest
from channelsync.engine import sync as engine_sync
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import EventKind
from channelsync.engine.orders import ingest_orders
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.sync import REPLAN_SLICE, CycleSummary, SyncEngine
from channelsync.gc_tuning import start_up_frozen, tune_garbage_collection
from channelsync.plugins import build_plugin_manager
from channelsync.store import LedgerEvent, Store, open_store
from channelsync.testing import MemoryChannel

CHANNELS = ("tmall", "jd", "pinduoduo", "amazon")
_WRITES = (Operation.SET_STOCK, Operation.SET_PRICE, Operation.SET_LISTING_STATUS)


def _catalogue(skus: int, *, raised: int = 0) -> str:
    rows = ["sku,title,price,currency,quantity"]
    rows += [
        f"SKU-{i:06d},Item {i},{20 + raised + i % 50}.00,CNY,{50 + i % 7}" for i in range(skus)
    ]
    return "\n".join(rows) + "\n"


def _shops(skus: int, clock: FakeClock) -> list[MemoryChannel]:
    shops = []
    for name in CHANNELS:
        shop = MemoryChannel(name, clock=clock)
        for i in range(skus):
            shop.add_listing(f"{name}-{i}", f"SKU-{i:06d}", sku_id="1")
        shops.append(shop)
    return shops


def _writes(shops: list[MemoryChannel]) -> tuple[int, int, int]:
    """Return (write calls, items written, minimum calls the batch limits allow)."""
    calls = items = minimum = 0
    for shop in shops:
        per_op: Counter[str] = Counter()
        for operation, size in shop.calls:
            if operation in {op.value for op in _WRITES}:
                calls += 1
                items += size
                per_op[operation] += size
        for op in _WRITES:
            minimum += math.ceil(per_op[op.value] / shop.limits.batch_size(op))
    return calls, items, minimum


def _change(store: Store, skus: int, percent: float, clock: FakeClock) -> int:
    """Adjust ``percent`` of the SKUs' on-hand stock in one transaction; return how many."""
    step = max(1, round(100 / percent))
    changed = list(range(0, skus, step))
    with store.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus([f"SKU-{i:06d}" for i in changed])}
        for i in changed:
            session.apply_event(
                LedgerEvent(
                    idempotency_key=f"bench-adjust:{i}",
                    kind=EventKind.MANUAL_ADJUSTMENT,
                    sku_id=ids[f"SKU-{i:06d}"],
                    on_hand_delta=3,
                ),
                clock.now(),
            )
    return len(changed)


def _sent(summary: CycleSummary) -> int:
    return sum(c.sent for c in summary.channels.values())


@contextlib.contextmanager
def _split_cycle() -> Iterator[Spans]:
    """Time a cycle's binding, planning and flushing while the block runs."""
    spans = Spans()
    parts = (("bind", "bind_channel"), ("flush", "flush_channel"))
    patches: list[tuple[Any, str, Any]] = [
        (engine_sync, name, spans.timed_async(part, getattr(engine_sync, name)))
        for part, name in parts
    ]
    plan = spans.timed("plan", engine_sync.plan_changes)  # type: ignore[attr-defined]
    patches.append((engine_sync, "plan_changes", plan))
    with patched(patches):
        yield spans


@contextlib.contextmanager
def _split_ingest() -> Iterator[Split]:
    """Time the steps of :func:`ingest_orders` while the block runs (see the module)."""
    split = Split()
    page = order_ingest.OrderPage
    load = page.__dict__["load"]
    patches: list[tuple[Any, str, Any]] = [
        (order_ingest, "_apply_page", split.timed_async("page", order_ingest._apply_page)),
        (order_page, "plan_changes", split.timed("plan", order_page.plan_changes)),  # type: ignore[attr-defined]
        (
            order_ingest,
            "deliver_notifications",
            split.timed_async("announce", order_ingest.deliver_notifications),
        ),
        (page, "load", classmethod(split.timed("read", load.__func__))),
        (page, "apply", split.timed("decide", page.apply)),
        (page, "write", split.timed("write", page.write)),
    ]
    with patched(patches):
        yield split


def _cycle_split(spans: Spans, cpu: float, server_cpu: float | None, sent: int) -> str:
    """Describe a first cycle's parts and CPU, per update sent too (the cost per item)."""
    parts = ", ".join(f"{part} {spans.seconds[part]:.1f} s" for part in ("bind", "plan", "flush"))
    per = max(sent, 1)
    figures = f"split (wall): {parts}; CPU: this process {cpu:.1f} s ({cpu / per * 1e6:.0f} us"
    figures += " per update sent)"
    if server_cpu is not None:
        figures += f", PostgreSQL's processes {server_cpu:.1f} s ({server_cpu / per * 1e6:.0f} us)"
    return figures


def _parts(split: Split, total: float) -> str:
    seconds = split.seconds
    parts = {
        "pull and cursors": total - seconds["page"] - seconds["announce"],
        "reads": seconds["read"],
        "decisions": seconds["decide"],
        "ledger and order writes": seconds["write"] - seconds["plan"],
        "plan": seconds["plan"],
        "commits": seconds["page"] - seconds["read"] - seconds["decide"] - seconds["write"],
        "announcements": seconds["announce"],
    }
    return ", ".join(f"{name} {value:.2f} s" for name, value in parts.items())


async def _burst(
    engine: SyncEngine,
    shops: list[MemoryChannel],
    skus: int,
    orders: int,
    clock: FakeClock,
    *,
    server: ServerCpu | None,
    together: bool = False,
) -> None:
    """Place ``orders`` orders across the shops; time their ingestion, then the push.

    Beside the wall time, the CPU time of this process (the one worker: its engine, its
    store client, SQLite itself) and of the PostgreSQL server's processes serving it.
    The shops are pulled one after another (the split into parts is then printed), or
    ``together``: side by side, as the daemon and a worker's concurrent jobs pull them.
    """
    placed = 0
    while placed < orders:
        shop = shops[placed % len(shops)]
        shop.place_order([(f"SKU-{(placed * 7919) % skus:06d}", 1)])
        placed += 1
    clock.advance(60)
    imported = 0
    served = None if server is None else server.snapshot()
    with _split_ingest() as split:
        started, cpu = time.perf_counter(), time.process_time()
        async with AsyncExitStack() as stack:
            for shop in shops:
                await stack.enter_async_context(shop)
            if together:
                pulls = [ingest_orders(engine.context, shop) for shop in shops]
                imported = sum(report.imported for report in await asyncio.gather(*pulls))
            else:
                for shop in shops:
                    imported += (await ingest_orders(engine.context, shop)).imported
        ingested, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = None if server is None else ServerCpu.spent(served, server.snapshot())
    started = time.perf_counter()
    await engine.run_cycle()
    elapsed = time.perf_counter() - started
    how = "side by side" if together else "one after another"
    print(
        f"burst of {imported:,} orders, the {len(shops)} shops pulled {how}: ingest (pull, "
        f"dedupe, ledger, orders, plan) {ingested:.1f} s, {imported / ingested:,.0f} orders "
        f"per second; the cycle that pushes the stock they changed {elapsed:.1f} s"
    )
    if not together:  # side by side, the parts overlap
        print(f"  ingest split: {_parts(split, ingested)}")
    rate = imported / cpu
    figures = f"  CPU of the ingest: this process {cpu:.2f} s ({rate:,.0f} orders per CPU second)"
    if server is not None:
        spent = "not readable" if server_cpu is None else f"{server_cpu:.2f} s"
        figures += f", PostgreSQL's processes serving it {spent}"
    print(figures)


async def _reconcile(engine: SyncEngine, shops: list[MemoryChannel]) -> None:
    """Edit 1 % of each shop's listings by hand, then reconcile every channel; time it.

    Reconcile reads every listing of a channel and compares it with what was sent: its
    store work grows with the catalogue, not with the drift.
    """
    edited = 0
    for shop in shops:
        for index, listing in enumerate(shop.listings.values()):
            if index % 100 == 0:
                listing.quantity = max(0, listing.quantity - 1)
                edited += 1
    elapsed = 0.0
    compared = drifted = 0
    async with Stalls() as stalls:
        for shop in shops:
            started = time.perf_counter()
            async with shop:
                report = await reconcile_channel(engine.context, shop)
            elapsed += time.perf_counter() - started
            compared += report.compared
            drifted += len(report.drift)
            # A real channel's calls give the loop back between reads; these fakes do
            # not, so the loop is given a tick between channels (not timed).
            await asyncio.sleep(0.02)
    print(
        f"reconcile of the {len(shops)} channels after {edited:,} hand edits: {elapsed:.1f} s, "
        f"{compared:,} listings compared, {drifted:,} drifts found; longest event-loop stall "
        f"{stalls.longest:.2f} s"
    )


async def _replan_everything(engine: SyncEngine, skus: int, clock: FakeClock) -> None:
    """Raise every price, then replan: in one transaction, then again in slices.

    Every SKU marked changed at once (a price list imported, a settings change): the
    daemon and the workers replan in slices, so the loop is not held for the whole plan.
    """
    for raised, sliced in ((1, False), (2, True)):
        clock.advance(60)
        catalogue = parse_catalogue(_catalogue(skus, raised=raised), "csv")
        import_catalogue(engine.store, catalogue, now=clock.now())
        async with Stalls() as stalls:
            started = time.perf_counter()
            report = await engine.replan_in_slices() if sliced else engine.replan()
            elapsed = time.perf_counter() - started
        how = f"in slices of {REPLAN_SLICE:,} SKUs" if sliced else "in one transaction"
        print(
            f"replan of every SKU after a price rise, {how}: {elapsed:.1f} s, "
            f"{sum(report.queued.values()):,} entries queued; longest event-loop stall "
            f"{stalls.longest:.2f} s"
        )


async def _first_cycle(
    engine: SyncEngine,
    shops: list[MemoryChannel],
    *,
    server: ServerCpu | None,
    wal: ServerWal | None,
    traced: bool,
) -> None:
    """Run and time the first full cycle: its parts, its CPU and memory, its write calls."""
    if traced:
        tracemalloc.start()
    served = None if server is None else server.snapshot()
    logged = None if wal is None else wal.snapshot()
    async with Stalls() as stalls:
        with _split_cycle() as spans:
            started, cpu = time.perf_counter(), time.process_time()
            summary = await engine.run_cycle()
            first, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = None if server is None else ServerCpu.spent(served, server.snapshot())
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        memory = f"(under tracemalloc), peak traced memory {peak / 2**20:.0f} MiB"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        memory = f"peak resident memory of the process {peak / 2**20:.0f} MiB"
    calls, items, minimum = _writes(shops)
    print(
        f"first full cycle (bind + stock + price on {len(shops)} channels): {first:.1f} s "
        f"{memory}, {_sent(summary):,} updates sent"
    )
    print(
        f"  write calls {calls:,} for {items:,} items; minimum the batch limits allow {minimum:,}"
    )
    print(f"  {_cycle_split(spans, cpu, server_cpu, _sent(summary))}")
    if wal is not None and logged is not None:
        print(f"  {wal.describe(logged, wal.snapshot(), _sent(summary))}")
    print(f"  longest event-loop stall {stalls.longest:.2f} s")


async def main(
    skus: int,
    orders: int,
    *,
    traced: bool = False,
    store_url: str | None = None,
    plugins: bool = False,
    freeze: bool = True,
    first_only: bool = False,
) -> None:
    """Run the scenario and print its figures (on SQLite, or a schema of ``store_url``).

    With ``plugins``, the engine has the plugin host ``channelsync run`` builds (built-in
    plugins and installed ones): price rules and the order-imported hook are called.
    With ``freeze``, what exists once the engine is built is frozen out of the
    collector's reach, as ``channelsync run`` and ``channelsync worker`` do (here that
    includes the in-process marketplaces). With ``first_only``, it ends after the first
    cycle (a third of a whole run's time at 100,000 SKUs).
    """
    clock = FakeClock()
    application = f"cs_bench_engine_{os.getpid()}"
    with (
        tempfile.TemporaryDirectory() as directory,
        fresh_store_url(store_url, Path(directory), "engine", application=application) as url,
        contextlib.ExitStack() as stack,
    ):
        server = wal = None
        if store_url is not None:
            server = ServerCpu(store_url, application)
            stack.callback(server.close)
            wal = ServerWal(store_url)
            stack.callback(wal.close)
        store = open_store(url)
        started = time.perf_counter()
        import_catalogue(store, parse_catalogue(_catalogue(skus), "csv"), now=clock.now())
        print(f"catalogue import of {skus:,} SKUs: {time.perf_counter() - started:.1f} s")
        shops = _shops(skus, clock)
        host = build_plugin_manager() if plugins else None
        engine = SyncEngine(store, shops, clock=clock, host=host)
        if freeze:
            frozen = stack.enter_context(start_up_frozen())
            print(f"{frozen:,} objects frozen at start-up, out of full collections")

        await _first_cycle(engine, shops, server=server, wal=wal, traced=traced)
        if first_only:
            store.close()
            return

        for shop in shops:
            shop.calls.clear()
        clock.advance(60)
        changed = _change(store, skus, 1.0, clock)
        started = time.perf_counter()
        summary = await engine.run_cycle()
        elapsed = time.perf_counter() - started
        calls, items, minimum = _writes(shops)
        reads = sum(
            1 for shop in shops for op, _ in shop.calls if op == Operation.LIST_LISTINGS.value
        )
        print(
            f"cycle after {changed:,} SKUs (1%) changed: {elapsed:.2f} s, "
            f"{_sent(summary):,} updates sent"
        )
        print(
            f"  write calls {calls:,} for {items:,} items; minimum {minimum:,}; "
            f"full listing reads by the re-inflation guard: {reads}"
        )

        clock.advance(60)
        await _reconcile(engine, shops)

        for together in (False, True):
            clock.advance(60)
            await _burst(engine, shops, skus, orders, clock, server=server, together=together)
        await _replan_everything(engine, skus, clock)
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace the first cycle's peak memory"
    )
    parser.add_argument(
        "--store-url",
        help="a PostgreSQL server URL (a fresh schema is made and dropped); default SQLite",
    )
    parser.add_argument(
        "--plugins",
        action="store_true",
        help="give the engine the plugin host channelsync run builds (its hooks are called)",
    )
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's collector thresholds instead of the ones channelsync's commands set",
    )
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the start-up objects to the collector (the commands freeze them)",
    )
    parser.add_argument(
        "--first-cycle-only",
        action="store_true",
        help="end after the first full cycle (its figures alone)",
    )
    args = parser.parse_args()
    if not args.default_gc:
        tune_garbage_collection()
    print(f"garbage collector thresholds {gc.get_threshold()}")
    asyncio.run(
        main(
            args.skus,
            args.orders,
            traced=args.tracemalloc,
            store_url=args.store_url,
            plugins=args.plugins,
            freeze=not args.no_freeze,
            first_only=args.first_cycle_only,
        )
    )
