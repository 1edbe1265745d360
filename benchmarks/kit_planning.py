"""Planning cost with kits: 10,000 kits over 50,000 components against the same catalogue without.

Prints figures; asserts nothing. Two catalogues of the same size, bound to the same
in-process channels (:class:`MemoryChannel`, no network) on a SQLite store (or
``--store-url``): one where 10,000 SKUs are kits of 2-4 random components (1-4 units
each; a quarter are multipacks of one component), one where the same 10,000 SKUs hold
stock of their own. For each, the first plan of the whole catalogue is timed, then a
component's sale: how many SKUs it replans against how many kits use the component.

    python benchmarks/kit_planning.py                      # 50,000 components, 10,000 kits
    python benchmarks/kit_planning.py --components 5000 --kits 1000   # a quick run
    python benchmarks/kit_planning.py --store-url postgresql://127.0.0.1:5432/test

On PostgreSQL the stores live in a schema of the benchmark's own
(``cs_bench_kit_planning``), dropped and created again for each catalogue.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.planner import plan_changes
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel

CHANNELS = ("tmall", "jd")


def _catalogue(components: int, plain: int, *, own_stock: bool) -> str:
    rows = ["sku,title,price,currency,quantity"]
    rows += [f"C-{i:06d},Part {i},{5 + i % 40}.00,CNY,{i % 60}" for i in range(components)]
    rows += [
        f"K-{i:06d},Set {i},{90 + i % 50}.00,CNY,{i % 30 if own_stock else 0}" for i in range(plain)
    ]
    return "\n".join(rows) + "\n"


def _kits(components: int, kits: int, seed: int) -> dict[str, list[tuple[str, int]]]:
    """Each kit's components: a quarter are multipacks, the rest 2-4 parts."""
    rng = random.Random(seed)
    made: dict[str, list[tuple[str, int]]] = {}
    for i in range(kits):
        parts = 1 if i % 4 == 0 else rng.randint(2, 4)
        chosen = rng.sample(range(components), parts)
        made[f"K-{i:06d}"] = [(f"C-{c:06d}", rng.randint(1, 4) if parts > 1 else 3) for c in chosen]
    return made


def _fresh(url: str) -> str:
    """Return a URL to an empty store: for PostgreSQL, a schema of the benchmark's own."""
    if not url.startswith("postgresql"):
        return url
    schema = "cs_bench_kit_planning"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


async def _world(
    url: str, components: int, kits: int, *, with_kits: bool, seed: int
) -> tuple[Store, SyncEngine, dict[str, list[tuple[str, int]]]]:
    clock = FakeClock()
    store = open_store(_fresh(url))
    catalogue = _catalogue(components, kits, own_stock=not with_kits)
    import_catalogue(store, parse_catalogue(catalogue, "csv"), now=clock.now())
    made = _kits(components, kits, seed)
    if with_kits:
        with store.transaction() as session:
            ids = {s.merchant_code: s.id for s in session.skus()}
            for kit, parts in made.items():
                session.set_components(ids[kit], [(ids[c], q) for c, q in parts])
    shops = []
    for name in CHANNELS:
        shop = MemoryChannel(name, clock=clock)
        for i in range(components):
            shop.add_listing(f"{name}-c{i}", f"C-{i:06d}", sku_id="1")
        for i in range(kits):
            shop.add_listing(f"{name}-k{i}", f"K-{i:06d}", sku_id="1")
        shops.append(shop)
    sync = SyncEngine(store, shops, clock=clock)
    await sync.bind()
    return store, sync, made


def _measure(
    store: Store, sync: SyncEngine, made: dict[str, list[tuple[str, int]]]
) -> dict[str, float]:
    with store.transaction() as session:
        session.mark_all_changed()
    started = time.perf_counter()
    with store.transaction() as session:
        first = plan_changes(session, sync.context)
    first_s = time.perf_counter() - started
    users: dict[str, int] = {}
    for parts in made.values():
        for code, _ in parts:
            users[code] = users.get(code, 0) + 1
    rng = random.Random(7)
    sample = rng.sample(sorted(users), 20)
    replanned, kits_using, seconds = [], [], []
    with store.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus(sample)}
    for code in sample:
        started = time.perf_counter()
        with store.transaction() as session:
            report = plan_changes(session, sync.context, [ids[code]])
        seconds.append(time.perf_counter() - started)
        replanned.append(report.skus)
        kits_using.append(users[code])
    return {
        "first_plan_s": first_s,
        "skus_planned": first.skus,
        "component_replan_ms_p50": statistics.median(seconds) * 1000,
        "replanned_p50": statistics.median(replanned),
        "replanned_max": max(replanned),
        "kits_using_p50": statistics.median(kits_using),
        "kits_using_max": max(kits_using),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=50_000)
    parser.add_argument("--kits", type=int, default=10_000)
    parser.add_argument("--store-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = {}
        for with_kits in (False, True):
            url = args.store_url or f"sqlite:///{Path(tmp) / f'kits-{with_kits}.db'}"
            store, sync, made = await _world(
                url, args.components, args.kits, with_kits=with_kits, seed=args.seed
            )
            try:
                figures[with_kits] = _measure(store, sync, made)
            finally:
                store.close()
    plain, kitted = figures[False], figures[True]
    print(
        f"{args.components:,} components, {args.kits:,} kits or plain SKUs, "
        f"{len(CHANNELS)} channels"
    )
    print(
        f"  first plan without kits: {plain['first_plan_s']:.2f} s ({plain['skus_planned']:,} SKUs)"
    )
    print(
        f"  first plan with kits:    {kitted['first_plan_s']:.2f} s "
        f"({kitted['skus_planned']:,} SKUs)"
    )
    print(f"  ratio: {kitted['first_plan_s'] / plain['first_plan_s']:.2f}x")
    print(
        f"  a component's sale, with kits: replans {kitted['replanned_p50']:.0f} SKUs (p50, "
        f"max {kitted['replanned_max']}) where {kitted['kits_using_p50']:.0f} kits use the "
        f"component (max {kitted['kits_using_max']}); "
        f"{kitted['component_replan_ms_p50']:.1f} ms p50"
    )
    print(
        f"  without kits: replans {plain['replanned_p50']:.0f} SKU; "
        f"{plain['component_replan_ms_p50']:.1f} ms p50"
    )


if __name__ == "__main__":
    asyncio.run(main())
