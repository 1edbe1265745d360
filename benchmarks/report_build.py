"""Cost of ``channelsync report`` on many orders: time and peak memory.

Prints figures; asserts nothing. Seeds a SQLite store in a temporary directory with
``--orders`` orders (seeded randomness) over ``--skus`` SKUs on four channels, then
measures building the report from the store, and the pure fold alone on orders
already in memory. ``--orders 50000 --skus 2000`` by default.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync.report import CatalogueIndex, ReportBuilder, ReportPeriod, build_report
from channelsync.store import LedgerEvent, StoredOrder, open_store

CHANNELS = (("tmall", "CNY"), ("jd", "CNY"), ("pdd", "CNY"), ("amazon", "USD"))
STATUSES = (
    [OrderStatus.PAID] * 4
    + [OrderStatus.COMPLETED] * 4
    + [OrderStatus.SHIPPED, OrderStatus.CANCELLED, OrderStatus.REFUNDED]
)
END = datetime(2026, 11, 1, tzinfo=UTC)


def _orders(count: int, skus: int, rng: random.Random) -> list[Order]:
    orders = []
    for n in range(count):
        channel, currency = rng.choice(CHANNELS)
        placed = END - timedelta(seconds=rng.randrange(30 * 86_400))
        lines = tuple(
            OrderLine(
                item_id=f"i{code}",
                merchant_code=f"SKU{code:05d}",
                quantity=rng.randint(1, 3),
                unit_price=Money.of(f"{rng.randint(100, 9999) / 100:.2f}", currency),
            )
            for code in rng.sample(range(skus), rng.randint(1, 3))
        )
        total = sum((line.total for line in lines[1:]), lines[0].total)
        orders.append(
            Order(
                channel=channel,
                order_id=f"O{n}",
                status=rng.choice(STATUSES),
                raw_status="x",
                created_at=placed,
                updated_at=placed,
                lines=lines,
                total=total,
                buyer_id=None if channel == "pdd" else f"b{rng.randrange(count // 3)}",
            )
        )
    return orders


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--skus", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(8)
    orders = _orders(args.orders, args.skus, rng)
    period = ReportPeriod(since=END - timedelta(days=30), until=END, zone=UTC)

    with tempfile.TemporaryDirectory() as directory:
        store = open_store(f"sqlite:///{Path(directory) / 'state.db'}")
        start = time.perf_counter()
        with store.transaction() as session:
            for code in range(args.skus):
                sku_id = session.upsert_sku(
                    merchant_code=f"SKU{code:05d}",
                    product_id=None,
                    title=f"SKU {code}",
                    price="10.00",
                    currency="CNY",
                    cost=None,
                    barcode=None,
                    attributes={},
                    now=END,
                )
                session.apply_event(
                    LedgerEvent(
                        f"c{code}", "adjustment", sku_id, on_hand_delta=rng.randint(0, 500)
                    ),
                    END,
                )
            for o in orders:
                session.save_order(
                    StoredOrder(
                        channel=o.channel,
                        order_id=o.order_id,
                        status=o.status.value,
                        version=o.version,
                        updated_at=o.updated_at,
                        created_at=o.created_at,
                        on_hold=False,
                        raw=o.model_dump(mode="json"),
                        imported_at=END,
                    )
                )
        print(f"seeded {args.orders} orders, {args.skus} SKUs: {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        with store.transaction() as session:
            report = build_report(session, period)
        elapsed = time.perf_counter() - start
        # A second run under tracemalloc for memory: tracing slows Python several-fold.
        tracemalloc.start()
        with store.transaction() as session:
            build_report(session, period)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        store.close()
    print(
        f"report from the store: {elapsed:.2f} s, {args.orders / elapsed:,.0f} orders/s, "
        f"peak traced memory {peak / 2**20:.1f} MiB"
    )
    print(
        f"  {len(report.channels)} channel rows, {len(report.daily)} day rows, "
        f"{len(report.stock_cover)} stock cover rows, {len(report.low_stock)} low"
    )

    by_code = {f"SKU{code:05d}": code for code in range(args.skus)}
    catalogue = CatalogueIndex(skus={}, by_code=by_code, bindings={})
    start = time.perf_counter()
    builder = ReportBuilder(period, catalogue)
    for o in orders:
        builder.add(o)
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    builder = ReportBuilder(period, catalogue)
    for o in orders:
        builder.add(o)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"pure fold of orders already in memory: {elapsed:.2f} s, "
        f"{args.orders / elapsed:,.0f} orders/s, peak traced memory {peak / 2**20:.1f} MiB"
    )


if __name__ == "__main__":
    main()
