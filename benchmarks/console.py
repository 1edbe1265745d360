"""The web console at catalogue scale: page render times, and what it costs the sync loop.

Prints figures; asserts nothing. Two parts:

1. Pages. A store is seeded in bulk with ``--skus`` SKUs (100,000), each bound to a
   listing on four channels with its stock and price sent (an outbox entry and an audit
   entry per send), ``--orders`` orders (50,000) with their ledger events (reserved;
   shipped or cancelled ones consumed or released), some pending and parked outbox
   entries, parked orders, held listings and a few oversold SKUs. The console's ASGI
   application (:func:`channelsync.console.app.build_app`, no daemon) then answers
   ``--requests`` GETs of each page as a browser asks for them (HTML), through
   ``httpx.ASGITransport``, after a warm-up, pages taken in turn: the overview ``/``,
   a SKU page ``/skus/{code}`` (a different SKU each time), the order list ``/orders``
   and an order page ``/orders/{channel}/{id}`` (a different order each time). The
   time of each request is wall time from the request to the whole body, in ms.
2. The sync loop. On a smaller catalogue (``--sync-skus``, 2,000 SKUs on four
   in-process :class:`~channelsync.testing.MemoryChannel` shops whose every call waits
   ``--latency-ms``, as over a network: 0 and 50 ms by default, one run each), the
   time of ``SyncEngine.run_cycle()`` after 1% of the SKUs changed (half up, half down)
   and an order was placed on each shop, ``--cycles`` times under each condition:
   no console; the console at a browser's pace (four open tabs refreshing the
   overview's live part every 2 s); the console hammered (one client asking for the
   four pages back to back); all three in the daemon's arrangement, one event loop and
   one store for the engine and the console. And the console hammered from a thread of
   its own (its own loop, same store): not how the daemon serves it, the pessimistic
   case where the console's work never waits for the loop and competes for the
   interpreter throughout. Conditions take turns cycle by cycle, so drifting machine
   load falls on all of them alike; the median and the fastest cycle are printed, and
   the console requests answered per second during the cycles. With a latency of 0
   the engine's cycle yields to the loop only once per call, so a console in the same
   loop is hardly answered while a cycle runs (its requests wait for the cycle).

    python benchmarks/console.py                                  # SQLite in a temp dir
    python benchmarks/console.py --store-url postgresql://127.0.0.1:5432/test
    python benchmarks/console.py --skus 10000 --orders 5000 --requests 50   # a quick run
    python benchmarks/console.py --profile sku    # cProfile of 50 SKU pages, then exit
    python benchmarks/console.py --json           # one JSON object (see ``_report``)

On PostgreSQL each store lives in a fresh schema (first on the search path), dropped at
the end; the seeded tables are vacuumed and analysed, as autovacuum does to a store in use.
SQLite is left as the daemon leaves it (no ``ANALYZE``). Seeding time is printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from _stores import fresh_store_url
from sqlalchemy import func, insert, select, text

from channelsync.channels import TimeWindow
from channelsync.clock import FakeClock
from channelsync.console.app import build_app
from channelsync.console.source import ConsoleSource
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import EventKind
from channelsync.engine.sync import SyncEngine
from channelsync.models import (
    Listing,
    ListingStatusChange,
    Order,
    PriceChange,
    Refund,
    Shipment,
    ShipmentResult,
    StockUpdate,
    UpdateResult,
)
from channelsync.store import (
    LedgerEvent,
    ParkedRecord,
    SkuData,
    SqlStore,
    Store,
    StoredOrder,
    open_store,
)
from channelsync.store import schema as t
from channelsync.testing import MemoryChannel

CHANNELS = ("tmall", "jd", "pinduoduo", "amazon")
PAGES = ("overview", "sku", "orders", "order")
#: What a browser sends (the console answers HTML to it).
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
#: A run of the seed writes this many rows per statement batch.
_BATCH = 20_000
#: Four tabs refreshing the overview's live part every 2 s: one request every 0.5 s.
_PACED_INTERVAL = 0.5

_out: Callable[[str], None] = print


def _say(message: str) -> None:
    _out(message)


# --------------------------------------------------------------------------- stores


def _kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


# --------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    """What the page requests pick from."""

    codes: list[str] = field(default_factory=list)
    """SKUs that had orders (their pages show more than one send per listing)."""
    orders: list[tuple[str, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def _code(i: int) -> str:
    return f"SKU-{i:06d}"


def _status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return "paid"
    if roll < 0.45:
        return "shipped"
    if roll < 0.95:
        return "completed"
    return "cancelled"


class _Seeder:
    """Writes the scenario in bulk and keeps what later steps need (stock, ids, times)."""

    def __init__(self, store: SqlStore, skus: int, now: datetime) -> None:
        self.store = store
        self.skus = skus
        self.now = now
        self.start = now - timedelta(days=30)
        self.rng = random.Random(20261111)
        self.price = [f"{20 + i % 50}.00" for i in range(skus)]
        self.on_hand = [50 + i % 7 for i in range(skus)]
        self.reserved = [0] * skus
        self.sku_ids: list[int] = []
        self.touched: dict[int, datetime] = {}
        """SKU index to the time of its last order."""
        self.orders: list[tuple[str, str]] = []
        """A sample of the orders, for the order pages."""

    def catalogue(self) -> None:
        """The SKUs and their stock count, through the store's bulk writes."""
        with self.store.transaction() as session:
            ids = session.upsert_skus(
                [
                    SkuData(_code(i), None, f"Item {i}", self.price[i], "CNY")
                    for i in range(self.skus)
                ],
                self.start,
            )
            self.sku_ids = [ids[_code(i)] for i in range(self.skus)]
            for first in range(0, self.skus, _BATCH):
                session.apply_events(
                    [
                        LedgerEvent(
                            idempotency_key=f"import:bench:{_code(i)}:",
                            kind=EventKind.CATALOGUE_IMPORT,
                            sku_id=self.sku_ids[i],
                            on_hand_delta=self.on_hand[i],
                            note=f"count set to {self.on_hand[i]}",
                        )
                        for i in range(first, min(first + _BATCH, self.skus))
                    ],
                    self.start,
                )

    def orders_and_ledger(self, count: int) -> None:
        """Orders over 30 days, and the ledger events each caused, in batches."""
        span = (self.now - timedelta(minutes=5) - self.start) / max(count, 1)
        with self.store.transaction() as session:
            for first in range(0, count, _BATCH // 4):
                orders: list[StoredOrder] = []
                events: list[LedgerEvent] = []
                for n in range(first, min(first + _BATCH // 4, count)):
                    order, caused = self._order(n, self.start + span * n)
                    orders.append(order)
                    events += caused
                session.save_orders(orders)
                session.apply_events(events, orders[-1].imported_at)
            for channel in CHANNELS:
                session.set_cursor(channel, "orders", self.now - timedelta(minutes=1), None)

    def _order(self, n: int, at: datetime) -> tuple[StoredOrder, list[LedgerEvent]]:
        rng = self.rng
        channel = CHANNELS[n % len(CHANNELS)]
        order_id = f"{channel}-{n + 1:07d}"
        status = _status(rng)
        wanted = 1 if rng.random() < 0.7 else rng.randint(2, 3)
        lines = list({rng.randrange(self.skus): rng.randint(1, 2) for _ in range(wanted)}.items())
        events = []
        for i, quantity in lines:
            self.touched[i] = at
            sku_id = self.sku_ids[i]
            key = f"{channel}:{order_id}:{sku_id}"
            events.append(
                LedgerEvent(
                    f"reserve:{key}",
                    EventKind.ORDER_RESERVED,
                    sku_id,
                    reserved_delta=quantity,
                    channel=channel,
                    order_id=order_id,
                )
            )
            if status in {"shipped", "completed"}:
                self.on_hand[i] -= quantity
                events.append(
                    LedgerEvent(
                        f"ship:{key}",
                        EventKind.ORDER_SHIPPED,
                        sku_id,
                        on_hand_delta=-quantity,
                        reserved_delta=-quantity,
                        channel=channel,
                        order_id=order_id,
                    )
                )
            elif status == "cancelled":
                events.append(
                    LedgerEvent(
                        f"release:{key}",
                        EventKind.ORDER_CANCELLED,
                        sku_id,
                        reserved_delta=-quantity,
                        channel=channel,
                        order_id=order_id,
                    )
                )
            else:
                self.reserved[i] += quantity
        if status != "cancelled" and len(self.orders) < 5000 and rng.random() < 0.2:
            self.orders.append((channel, order_id))
        raw = self._order_json(channel, order_id, status, at, lines)
        stored = StoredOrder(
            channel=channel,
            order_id=order_id,
            status=status,
            version=f"{raw['updated_at']}|{status}",
            updated_at=at,
            created_at=at,
            on_hold=False,
            raw=raw,
            imported_at=at + timedelta(seconds=30),
        )
        return stored, events

    def _order_json(
        self, channel: str, order_id: str, status: str, at: datetime, lines: list[tuple[int, int]]
    ) -> dict[str, Any]:
        """Return an order's JSON as the engine stores it (``Order.model_dump(mode="json")``)."""
        stamp = at.isoformat().replace("+00:00", "Z")
        total = sum(int(self.price[i].split(".")[0]) * q for i, q in lines)
        address = {"name": "Buyer", "phone": "138****0000", "country": "CN", "city": "Hangzhou"}
        return {
            "channel": channel,
            "order_id": order_id,
            "status": status,
            "raw_status": status.upper(),
            "created_at": stamp,
            "updated_at": stamp,
            "paid_at": stamp,
            "lines": [
                {
                    "line_id": f"{order_id}-{n}",
                    "item_id": f"{channel}-{i:06d}",
                    "sku_id": "1",
                    "merchant_code": _code(i),
                    "title": f"Item {i}",
                    "quantity": q,
                    "unit_price": {"amount": self.price[i], "currency": "CNY"},
                }
                for n, (i, q) in enumerate(lines)
            ],
            "total": {"amount": f"{total}.00", "currency": "CNY"},
            "shipping_fee": {"amount": "0.00", "currency": "CNY"},
            "discount": None,
            # Kept while the order still has to ship (the store keeps it in a row apart).
            "shipping_address": address if status == "paid" else None,
            "buyer_note": None,
            "on_hold": False,
            "hold_reason": None,
            "raw_refund_status": None,
            "buyer_id": None,
        }

    def trouble(self) -> None:
        """A recount that leaves 30 SKUs with open orders oversold; 12 parked orders."""
        open_skus = [i for i in range(self.skus) if self.reserved[i]]
        short = open_skus[:: max(1, len(open_skus) // 30)][:30]
        adjustments = []
        for n, i in enumerate(short):
            target = max(0, self.reserved[i] - 1 - n % 3)
            adjustments.append(
                LedgerEvent(
                    f"adjust:bench:{_code(i)}",
                    EventKind.MANUAL_ADJUSTMENT,
                    self.sku_ids[i],
                    on_hand_delta=target - self.on_hand[i],
                    note="recount",
                )
            )
            self.on_hand[i] = target
        with self.store.transaction() as session:
            session.apply_events(adjustments, self.now - timedelta(minutes=2))
            for n in range(12):
                channel = CHANNELS[n % len(CHANNELS)]
                key = f"{channel}-X{n:03d}"
                reason = "line 1: no SKU has the merchant code 'GONE-1'"
                session.park(
                    ParkedRecord(channel, "order", key, reason, {"order_id": key}),
                    self.now - timedelta(hours=n),
                )

    def listings(self) -> None:
        """Every SKU bound on every channel, its stock and price sent, with the history.

        SQLAlchemy Core bulk inserts: the store's own writes take a binding through
        planned, queued and sent one step at a time.
        """
        available = [max(0, self.on_hand[i] - self.reserved[i]) for i in range(self.skus)]
        with self.store.engine.begin() as connection:
            for channel in CHANNELS:
                for first in range(0, self.skus, _BATCH):
                    rows = [
                        self._binding(channel, i, available[i])
                        for i in range(first, min(first + _BATCH, self.skus))
                    ]
                    connection.execute(insert(t.bindings), rows)
            b = t.bindings.c
            binding_ids = {
                (str(channel), str(item_id)): int(binding_id)
                for binding_id, channel, item_id in connection.execute(
                    select(b.id, b.channel, b.item_id)
                )
            }
            for channel in CHANNELS:
                for first in range(0, self.skus, _BATCH):
                    outbox: list[dict[str, Any]] = []
                    audit: list[dict[str, Any]] = []
                    for i in range(first, min(first + _BATCH, self.skus)):
                        binding_id = binding_ids[(channel, f"{channel}-{i:06d}")]
                        entries, trail = self._sends(channel, i, binding_id, available[i])
                        outbox += entries
                        audit += trail
                    connection.execute(insert(t.outbox), outbox)
                    connection.execute(insert(t.audit), audit)
        with self.store.transaction() as session:
            # A few listings whose raises the re-inflation guard holds back.
            for n in range(25):
                i = (n * 3989) % self.skus
                channel = CHANNELS[n % len(CHANNELS)]
                session.set_hold(
                    binding_ids[(channel, f"{channel}-{i:06d}")],
                    self.now - timedelta(minutes=3 * n),
                    available[i] + 2,
                )
            session.clear_changed(self.sku_ids)

    def _binding(self, channel: str, i: int, available: int) -> dict[str, Any]:
        return {
            "channel": channel,
            "item_id": f"{channel}-{i:06d}",
            "listing_sku_id": "1",
            "sku_id": self.sku_ids[i],
            "merchant_code": _code(i),
            "manual": False,
            "title": f"Item {i}",
            "channel_quantity": available,
            "planned_quantity": available,
            "sent_quantity": available,
            "planned_price": self.price[i],
            "sent_price": self.price[i],
            "seen_at": self.touched.get(i, self.start),
            "sent_at": self.touched.get(i, self.start),
        }

    def _sends(
        self, channel: str, i: int, binding_id: int, available: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Return a listing's outbox entries and audit trail: a first cycle, a send per order."""
        item_id = f"{channel}-{i:06d}"
        key = f"{item_id}/1"
        address = {
            "binding_id": binding_id,
            "item_id": item_id,
            "sku_id": "1",
            "merchant_code": _code(i),
        }
        first = {**address, "quantity": available + 1, "previous": None}
        stock = {**address, "quantity": available, "previous": available + 1}
        money = {**address, "amount": self.price[i], "currency": "CNY"}
        audit = [
            _audit(self.start, channel, "stock", key, first),
            _audit(self.start, channel, "price", key, money),
        ]
        last = self.touched.get(i)
        if last is not None:
            audit.append(_audit(last, channel, "stock", key, stock))
        state = "sent"
        if i % 997 == 5:
            state = "pending"  # changed since the last flush
        elif i % 4999 == 7 and channel == "tmall":
            state = "parked"  # the marketplace froze the item
        outbox = [
            _outbox(channel, "stock", key, first, state, self.start, 1)
            if last is None
            else _outbox(channel, "stock", key, stock, state, last, 2),
            _outbox(channel, "price", key, money, "sent", self.start, 1),
        ]
        return outbox, audit


def seed(store: Store, skus: int, orders: int, now: datetime) -> Seeded:
    """Fill ``store`` with the scenario in bulk; return what the requests pick from."""
    assert isinstance(store, SqlStore)
    seeder = _Seeder(store, skus, now)
    seeder.catalogue()
    seeder.orders_and_ledger(orders)
    seeder.trouble()
    seeder.listings()
    if _kind(store.url) == "postgresql":
        # What autovacuum does to a store in use: statistics, and the visibility map.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as vacuum:
            vacuum.execute(text("VACUUM ANALYZE"))
    seeded = Seeded(codes=[_code(i) for i in sorted(seeder.touched)], orders=seeder.orders)
    seeder.rng.shuffle(seeded.codes)
    seeder.rng.shuffle(seeded.orders)
    with store.engine.connect() as connection:
        for table in (t.skus, t.bindings, t.orders, t.ledger_events, t.outbox, t.audit):
            count = connection.execute(select(func.count()).select_from(table)).scalar()
            seeded.rows[table.name] = int(count or 0)
    return seeded


def _audit(at: datetime, channel: str, kind: str, key: str, sent: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": at,
        "channel": channel,
        "kind": kind,
        "key": key,
        "sent": sent,
        "ok": True,
        "answer": None,
    }


def _outbox(  # noqa: PLR0917 - one row's values
    channel: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    state: str,
    at: datetime,
    version: int,
) -> dict[str, Any]:
    parked = state == "parked"
    return {
        "channel": channel,
        "kind": kind,
        "key": key,
        "payload": payload,
        "version": version,
        "urgency": 1 if kind == "stock" else 0,
        "state": state,
        "attempts": 8 if parked else 0,
        "next_attempt_at": at,
        "reason": "isv.item-frozen: item frozen by the marketplace" if parked else None,
        "updated_at": at,
    }


# --------------------------------------------------------------------------- pages


@contextlib.asynccontextmanager
async def _client(source: ConsoleSource) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(source, token="bench-token")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1:8765", headers=BROWSER
    ) as client:
        yield client


def _targets(seeded: Seeded) -> dict[str, Iterator[str]]:
    def cycle(values: list[str]) -> Iterator[str]:
        while True:
            yield from values

    return {
        "overview": cycle(["/"]),
        "sku": cycle([f"/skus/{quote(code)}" for code in seeded.codes[:5000]]),
        "orders": cycle(["/orders"]),
        "order": cycle([f"/orders/{c}/{quote(o)}" for c, o in seeded.orders]),
    }


async def _get(client: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    answer = await client.get(url)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200 or not answer.headers["content-type"].startswith("text/html"):
        raise RuntimeError(f"GET {url}: {answer.status_code} {answer.text[:200]}")
    return elapsed


async def measure_pages(
    source: ConsoleSource, seeded: Seeded, requests: int, warmup: int
) -> dict[str, list[float]]:
    """Return each page's request times in seconds, pages asked for in turn."""
    targets = _targets(seeded)
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    async with _client(source) as client:
        for _ in range(warmup):
            for page in PAGES:
                await _get(client, next(targets[page]))
        for _ in range(requests):
            for page in PAGES:
                times[page].append(await _get(client, next(targets[page])))
    return times


async def profile_page(source: ConsoleSource, seeded: Seeded, page: str, requests: int) -> None:
    """Print where ``requests`` requests of ``page`` spend their time, store reads included.

    The page's store reads run inline instead of in a worker thread, so one profile
    holds the request, the reads and the rendering.
    """
    from channelsync.console import app as console_app  # noqa: PLC0415 - patched here only

    async def inline(func: Callable[..., Any], *args: Any) -> Any:
        return func(*args)

    targets = _targets(seeded)
    original = getattr(console_app, "run_in_threadpool")  # noqa: B009 - not re-exported
    setattr(console_app, "run_in_threadpool", inline)  # noqa: B010
    profiler = cProfile.Profile()
    try:
        async with _client(source) as client:
            for _ in range(5):
                await _get(client, next(targets[page]))
            profiler.enable()
            for _ in range(requests):
                await _get(client, next(targets[page]))
            profiler.disable()
    finally:
        setattr(console_app, "run_in_threadpool", original)  # noqa: B010
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(40)


def _figures(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]
    return {
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ms[-1], 1),
    }


# --------------------------------------------------------------------------- sync loop


class _RemoteShop(MemoryChannel):
    """A :class:`MemoryChannel` whose every call waits ``latency`` seconds, as over a network.

    With a latency of 0 each call still yields to the event loop once, as a real
    request does, so a console served in the same loop can answer between calls.
    """

    latency: float = 0.0

    async def _wait(self) -> None:
        await asyncio.sleep(self.latency)

    async def iter_listings(self) -> AsyncIterator[Listing]:
        await self._wait()
        async for listing in super().iter_listings():
            yield listing

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        await self._wait()
        async for order in super().fetch_orders(window):
            yield order

    async def fetch_refunds(self, window: TimeWindow) -> AsyncIterator[Refund]:
        await self._wait()
        async for refund in super().fetch_refunds(window):
            yield refund

    async def count_orders(self, window: TimeWindow) -> int:
        await self._wait()
        return await super().count_orders(window)

    async def get_order(self, order_id: str) -> Order:
        await self._wait()
        return await super().get_order(order_id)

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        await self._wait()
        return await super().send_stock_batch(batch)

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        await self._wait()
        return await super().send_price_batch(batch)

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        await self._wait()
        return await super().send_listing_status_batch(batch)

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        await self._wait()
        return await super().push_shipment(shipment)


def _shops(skus: int, clock: FakeClock, latency: float) -> list[MemoryChannel]:
    shops: list[MemoryChannel] = []
    for name in CHANNELS:
        shop = _RemoteShop(name, clock=clock)
        shop.latency = latency
        for i in range(skus):
            shop.add_listing(f"{name}-{i}", _code(i), sku_id="1")
        shops.append(shop)
    return shops


def _change(
    store: Store, shops: list[MemoryChannel], skus: int, round_: int, clock: FakeClock
) -> None:
    """Adjust 1% of the SKUs' stock (half up, half down) and place an order on each shop.

    Every round does the same work: a raise makes the re-inflation guard read the
    listings, so raises and cuts go together in each cycle.
    """
    step = 100
    with store.transaction() as session:
        codes = [_code(i) for i in range(round_ % step, skus, step)]
        ids = {s.merchant_code: s.id for s in session.skus(codes)}
        session.apply_events(
            [
                LedgerEvent(
                    f"bench-adjust:{round_}:{code}",
                    EventKind.MANUAL_ADJUSTMENT,
                    ids[code],
                    on_hand_delta=2 if n % 2 else -2,
                )
                for n, code in enumerate(codes)
            ],
            clock.now(),
        )
    for n, shop in enumerate(shops):
        shop.place_order([(_code((round_ * 37 + n * 11) % skus), 1)])
    clock.advance(60)


async def _hammer(client: httpx.AsyncClient, targets: dict[str, Iterator[str]]) -> int:
    """Ask for the pages back to back until cancelled; return how many were answered."""
    answered = 0
    try:
        while True:
            for page in PAGES:
                await _get(client, next(targets[page]))
                answered += 1
    except asyncio.CancelledError:
        return answered


async def _paced(client: httpx.AsyncClient, interval: float) -> int:
    """Refresh the overview's live part every ``interval`` seconds until cancelled."""
    answered = 0
    live = {"HX-Request": "true", "HX-Target": "live"}
    try:
        while True:
            started = time.perf_counter()
            answer = await client.get("/", headers=live)
            if answer.status_code != 200:
                raise RuntimeError(f"GET / (live part): {answer.status_code}")
            answered += 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
    except asyncio.CancelledError:
        return answered


class _ThreadHammer:
    """A console of its own in another thread (its own event loop), hammered back to back.

    Not how the daemon serves it (one loop for both): the pessimistic case, where the
    console's work never waits for the loop and competes for the interpreter throughout.
    """

    def __init__(self, source: ConsoleSource, seeded: Seeded) -> None:
        self._source = source
        self._targets = _targets(seeded)
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.answered = 0

    async def _run(self) -> None:
        async with _client(self._source) as client:
            self._started.set()
            while not self._stop.is_set():
                for page in PAGES:
                    await _get(client, next(self._targets[page]))
                    self.answered += 1

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.answered


#: The sync part's conditions, in the order they take turns, and how they are printed.
CONDITIONS = {
    "none": "no console",
    "paced": "console at a browser's pace",
    "hammered": "console hammered",
    "thread": "console hammered, own thread",
}


async def measure_sync(url: str, skus: int, cycles: int, latency: float) -> dict[str, Any]:
    """Time sync cycles under each of :data:`CONDITIONS`, taking turns cycle by cycle."""
    clock = FakeClock()
    store = open_store(url)
    try:
        rows = ["sku,title,price,currency,quantity"]
        rows += [f"{_code(i)},Item {i},{20 + i % 50}.00,CNY,{50 + i % 7}" for i in range(skus)]
        import_catalogue(store, parse_catalogue("\n".join(rows) + "\n", "csv"), now=clock.now())
        shops = _shops(skus, clock, latency)
        engine = SyncEngine(store, shops, clock=clock)
        started = time.perf_counter()
        await engine.run_cycle()
        _say(
            f"  first cycle on {skus:,} SKUs (not measured): {time.perf_counter() - started:.1f} s"
        )
        source = ConsoleSource(store, dict.fromkeys(CHANNELS, "memory"), clock=clock)
        seeded = Seeded(codes=[_code(i) for i in range(skus)])
        times: dict[str, list[float]] = {condition: [] for condition in CONDITIONS}
        served: dict[str, int] = dict.fromkeys(CONDITIONS, 0)
        async with _client(source) as client:
            for round_ in range(cycles * len(CONDITIONS) + 1):
                condition = list(CONDITIONS)[round_ % len(CONDITIONS)]
                _change(store, shops, skus, round_, clock)
                # Orders were placed: the order pages ask for the newest.
                seeded.orders = [(s.name, o) for s in shops for o in list(s.orders)[-50:]]
                task: asyncio.Task[int] | None = None
                thread: _ThreadHammer | None = None
                if condition == "hammered":
                    task = asyncio.create_task(_hammer(client, _targets(seeded)))
                elif condition == "paced":
                    task = asyncio.create_task(_paced(client, _PACED_INTERVAL))
                elif condition == "thread":
                    thread = _ThreadHammer(source, seeded)
                    thread.start()
                await asyncio.sleep(0)
                started = time.perf_counter()
                await engine.run_cycle()
                elapsed = time.perf_counter() - started
                answered = 0
                if task is not None:
                    task.cancel()
                    answered = await task
                if thread is not None:
                    answered = thread.stop()
                if round_ == 0:
                    continue  # the first one moves the orders cursor past the seed: not counted
                times[condition].append(elapsed)
                served[condition] += answered
    finally:
        store.close()
    return {
        "skus": skus,
        "cycles": cycles,
        "latency_ms": latency * 1000,
        "median_s": {c: round(statistics.median(v), 4) for c, v in times.items()},
        "min_s": {c: round(min(v), 4) for c, v in times.items()},
        "requests_per_s": {c: round(served[c] / sum(times[c]), 1) for c in times if c != "none"},
    }


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run both parts and return the figures."""
    report: dict[str, Any] = {"skus": args.skus, "orders": args.orders}
    # Figures on a shared machine move with its load: say what it was.
    report["load_average"] = {"start": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory(prefix="channelsync-console-") as where:
        directory = Path(where)
        with fresh_store_url(args.store_url, directory, "pages") as url:
            report["store"] = _kind(url)
            store = open_store(url)
            try:
                now = datetime.now(UTC).replace(microsecond=0)
                started = time.perf_counter()
                seeded = seed(store, args.skus, args.orders, now)
                report["seed_seconds"] = round(time.perf_counter() - started, 1)
                report["rows"] = seeded.rows
                _say(
                    f"seeded {report['store']} in {report['seed_seconds']} s: "
                    + ", ".join(f"{n} {c:,}" for n, c in seeded.rows.items())
                )
                source = ConsoleSource(store, dict.fromkeys(CHANNELS, "memory"))
                if args.profile:
                    await profile_page(source, seeded, args.profile, 50)
                    return report
                times = await measure_pages(source, seeded, args.requests, args.warmup)
            finally:
                store.close()
        report["pages"] = {page: _figures(seconds) for page, seconds in times.items()}
        report["requests"] = args.requests
        _say(
            f"pages, {args.requests} HTML requests each after {args.warmup} warm-up rounds "
            f"({args.skus:,} SKUs, {args.orders:,} orders, {report['store']}):"
        )
        for page, figures in report["pages"].items():
            _say(
                f"  {page:<9} p50 {figures['p50_ms']:7.1f} ms   p95 {figures['p95_ms']:7.1f} ms"
                f"   max {figures['max_ms']:7.1f} ms"
            )
        if args.cycles:
            _say(
                f"sync loop on a smaller catalogue: {args.sync_skus:,} SKUs on 4 in-process "
                f"channels, {args.cycles} cycles per condition (1% of SKUs changed and "
                "4 orders placed before each)"
            )
            report["sync"] = []
            for n, latency in enumerate(args.latency_ms):
                with fresh_store_url(args.store_url, directory, f"sync{n}") as url:
                    sync = await measure_sync(url, args.sync_skus, args.cycles, latency / 1000)
                report["sync"].append(sync)
                median, low, rate = sync["median_s"], sync["min_s"], sync["requests_per_s"]
                _say(f"  every marketplace call waits {latency:g} ms:")
                for condition, label in CONDITIONS.items():
                    served = f"; {rate[condition]} requests/s" if condition in rate else ""
                    _say(
                        f"    {label + ':':<30} median {median[condition] * 1000:7.1f} ms"
                        f"  (min {low[condition] * 1000:.1f}{served})"
                    )
    report["load_average"]["end"] = round(os.getloadavg()[0], 1)
    _say(
        f"load average (1 min) at the start {report['load_average']['start']}, "
        f"at the end {report['load_average']['end']} ({os.cpu_count()} CPUs)"
    )
    return report


def _report(report: dict[str, Any]) -> str:
    """The ``--json`` output.

    ``{"store", "skus", "orders", "load_average": {"start", "end"}, "seed_seconds",
    "rows": {table: count}, "requests",
    "pages": {"overview"|"sku"|"orders"|"order": {"p50_ms", "p95_ms", "max_ms"}},
    "sync": [{"skus", "cycles", "latency_ms", "median_s": {"none", "paced", "hammered", "thread"},
    "min_s": {...}, "requests_per_s": {"paced", "hammered", "thread"}}, ...]}`` (one per latency)
    """
    return json.dumps(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per page")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up rounds of every page")
    parser.add_argument(
        "--store-url",
        help="a PostgreSQL server URL (a fresh schema is made and dropped); default SQLite",
    )
    parser.add_argument("--sync-skus", type=int, default=2000, help="catalogue of the sync part")
    parser.add_argument(
        "--cycles", type=int, default=15, help="sync cycles per condition (0: skip)"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[0.0, 50.0],
        help="what each marketplace call waits in the sync part (one run per value)",
    )
    parser.add_argument("--profile", choices=PAGES, help="profile 50 requests of a page, then exit")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.store_url and not args.store_url.startswith(("postgresql:", "postgresql+psycopg:")):
        parser.error("--store-url takes a postgresql:// URL (SQLite is the default)")
    global _out  # noqa: PLW0603 - progress goes to stderr under --json
    if args.json:
        _out = lambda message: print(message, file=sys.stderr)  # noqa: E731
    report = asyncio.run(run(args))
    if args.json:
        print(_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
