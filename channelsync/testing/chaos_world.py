"""The chaos harness's world: the fakes it drives, their records, the buyers, the result.

Shared by the chaos run (:mod:`channelsync.testing.chaos`), the in-process runs
(:mod:`channelsync.testing.chaos_inprocess`) and the end-state checks
(:mod:`channelsync.testing.chaos_checks`).
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from channelsync.channels import Channel
from channelsync.clock import Clock
from channelsync.demo.stream import backdate, buy
from channelsync.engine.errors import InputError
from channelsync.engine.shipments import ShipmentRequest, request_shipments
from channelsync.engine.sync import SyncEngine
from channelsync.models import OrderStatus
from channelsync.plugins import PluginHost
from channelsync.store import Store
from channelsync.testing.fakes import (
    FakeMarketplace,
    Fault,
    FaultInjector,
    ThrottleRule,
    demo_catalogue,
)

__all__ = ["ChaosResult"]


#: A carrier each marketplace type accepts, and the prefix of its tracking numbers.
_CARRIERS = {"amazon": ("ups", "1Z999AA1"), "default": ("sf", "SF")}


#: The daemon's pace in the chaos run: fast enough that a second of life does real work.
_DAEMON = {
    "pull_interval": 0.3,
    "flush_interval": 0.2,
    "reconcile_interval": 2.0,
    "stale_after": 30,
    "shutdown_grace": 3,
    "lock_ttl": 3,
    "max_backoff": 1.0,
}


@dataclass
class ChaosResult:
    """The figures of one run and every problem it found (none: the promise held)."""

    suite: str
    seed: int
    process: str = "daemon"
    """What was killed and started: the daemon, or a worker."""
    kills: int = 0
    starts: int = 0
    cycles: int = 0
    orders_placed: int = 0
    orders_imported: int = 0
    order_lines: int = 0
    shipments_requested: int = 0
    shipments_pushed_once: int = 0
    parked_retried: int = 0
    """Outbox items a marketplace refused, re-queued as ``channelsync outbox retry`` does."""
    faults_injected: Counter[str] = field(default_factory=Counter)
    calls: dict[str, Counter[str]] = field(default_factory=dict)
    """Marketplace calls answered, per channel and operation."""
    throttles: dict[str, Counter[str]] = field(default_factory=dict)
    """Throttling answers the fakes gave because a limit was spent, per channel and limit.

    Each is a call beyond the marketplace's own rate limit (injected throttle faults
    are not among them: :attr:`faults_injected` counts those)."""
    races: int = 0
    oversells_prevented: int = 0
    oversold_units: int = 0
    """Units sold that did not exist: what the marketplaces' polling gap allowed."""
    samples: int = 0
    gap_exposures: int = 0
    """Sampled (channel, SKU) pairs showing units already sold on another channel."""
    largest_gap: int = 0
    events_received: int = 0
    """Pushed events written to the inbox (each once, whatever the redeliveries)."""
    converge_seconds: float = 0.0
    ingest_seconds: float = 0.0
    """Wall time of the order stream phase (in-process runs: orders in, cycles run)."""
    elapsed_seconds: float = 0.0
    held: list[str] = field(default_factory=list)
    """Listings showing less than was sent while the re-inflation guard holds their raise.

    The buyers' orders are dated back past the marketplaces' indexing lag (a run cannot
    wait minutes), so a drop a just-placed order caused can look unexplained until the
    guard's second look, minutes later. Showing less is safe; these are reported, and
    showing more than exists stays a problem."""
    released_after: float | None = None
    """Simulated seconds after the end until the guard had released every held raise."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.problems

    def lines(self) -> list[str]:
        """Return the figures (and the problems) as lines of text."""
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults_injected.items()))
        survived = "all" if self.ok else "not all"
        out = [
            f"{self.suite} (seed {self.seed}): {'OK' if self.ok else 'FAILED'}",
            f"  {self.process} kills (SIGKILL): {self.kills}, {self.process} starts: "
            f"{self.starts}, engine cycles run in-process: {self.cycles}",
            f"  orders placed on the marketplaces: {self.orders_placed} "
            f"({self.order_lines} lines), imported: {self.orders_imported}",
            f"  shipments requested: {self.shipments_requested}, "
            f"pushed exactly once: {self.shipments_pushed_once}; refused items re-queued: "
            f"{self.parked_retried}",
            f"  faults injected: {self.faults_injected.total()} "
            f"({faults or 'none'}); survived: {survived}",
            f"  last-unit races: {self.races}, oversells prevented: "
            f"{self.oversells_prevented}, units oversold in polling gaps: {self.oversold_units}",
            f"  samples of every channel: {self.samples}; a channel showing units already "
            f"sold elsewhere: {self.gap_exposures} time(s), by at most {self.largest_gap}",
            f"  pushed events in the inbox: {self.events_received}",
            f"  time to converge: {self.converge_seconds:.1f}s, total: {self.elapsed_seconds:.1f}s",
            f"  raises held by the re-inflation guard at the end: {len(self.held)}"
            + (f" ({', '.join(self.held)})" if self.held else "")
            + (
                f"; all released {self.released_after:.0f}s later (simulated)"
                if self.released_after is not None
                else ""
            ),
        ]
        if self.ingest_seconds:
            rate = self.orders_imported / self.ingest_seconds
            out.append(
                f"  throughput: {self.orders_imported} orders in {self.ingest_seconds:.1f}s "
                f"of stream ({rate:.0f} orders/s through {self.cycles} cycles)"
            )
        for channel, calls in sorted(self.calls.items()):
            busiest = ", ".join(f"{op} {n}" for op, n in calls.most_common(4))
            out.append(f"  {channel}: {calls.total()} marketplace calls ({busiest})")
        throttled = sum(counts.total() for counts in self.throttles.values())
        per_channel = "; ".join(
            f"{channel} {counts.total()} ("
            + ", ".join(f"{key} {n}" for key, n in counts.most_common(3))
            + ")"
            for channel, counts in sorted(self.throttles.items())
            if counts
        )
        out.append(
            f"  throttling answers at the marketplaces (a rate limit exceeded): {throttled}"
            + (f": {per_channel}" if per_channel else "")
        )
        out += self._more_lines()
        out += [f"  PROBLEM: {problem}" for problem in self.problems[:50]]
        if len(self.problems) > 50:
            out.append(f"  ... and {len(self.problems) - 50} more problems")
        return out

    def _more_lines(self) -> list[str]:
        """Return the figures a kind of run adds before the problems (none here)."""
        return []


@dataclass
class _Shop:
    """One channel name on one plugin's fake."""

    channel: str
    type_name: str
    fake: FakeMarketplace
    channel_cls: type[Channel[Any]]
    settings: dict[str, Any]
    credentials: dict[str, str]
    lag: timedelta
    url: str = ""
    sync: dict[str, Any] = field(default_factory=dict)
    """Engine settings of the channel (the plugin's ``DEMO_SYNC``, e.g. a price rule)."""
    throttles: Counter[str] = field(default_factory=Counter)
    """The fake's throttling answers by limit key (see :func:`_count_throttles`)."""

    def place(self, count: int = 1) -> list[Any]:
        """Buyers order ``count`` times (the fake's stock drops at once)."""
        fake: Any = self.fake
        return list(fake.generate_orders(count))


def _shops(
    host: PluginHost,
    *,
    seed: int,
    fault_rate: float,
    fault_kinds: Iterable[Fault] | None,
    clock: Clock | None = None,
) -> list[_Shop]:
    import importlib  # noqa: PLC0415 - plugin fake modules are found at run time

    shops = []
    kinds = None if fault_kinds is None else frozenset(fault_kinds)
    for index, type_name in enumerate(sorted(host.registry.types())):
        channel_cls = host.registry.get(type_name)
        if channel_cls.demo_module is None:
            continue
        module = importlib.import_module(channel_cls.demo_module)
        faults = FaultInjector(fault_rate, seed=seed * 101 + index, kinds=kinds)
        fake = module.demo_fake(seed=seed * 31 + index, faults=faults, clock=clock)
        shop = _Shop(
            channel=f"{type_name}-chaos",
            type_name=type_name,
            fake=fake,
            channel_cls=channel_cls,
            settings=dict(module.DEMO_SETTINGS),
            credentials=dict(module.DEMO_CREDENTIALS),
            lag=channel_cls.limits.order_window.lag,
            sync=dict(getattr(module, "DEMO_SYNC", {})),
        )
        _count_throttles(shop)
        shops.append(shop)
    return shops


def _count_throttles(shop: _Shop) -> None:
    """Count every throttling answer of the shop's fake in :attr:`_Shop.throttles`.

    Every fake decides a throttle in :meth:`FakeMarketplace.throttled` (its token
    bucket per limit) and answers the marketplace's own "too many calls" when it
    returns a wait, but keeps no count of them: this wraps the method on the instance.
    A throttle fault drawn by the injector is answered without it, so it is not counted.
    """
    fake: Any = shop.fake
    decide = fake.throttled

    def throttled(key: str, rule: ThrottleRule | None = None) -> float | None:
        wait: float | None = decide(key, rule)
        if wait is not None:
            with shop.fake.store.lock:
                shop.throttles[key] += 1
        return wait

    fake.throttled = throttled


def _catalogue(items: int, quantity: int, race_sku: str | None) -> tuple[str, dict[str, int]]:
    rows = ["sku,title,price,currency,quantity,product"]
    initial = {}
    for item in demo_catalogue(items):
        for sku in item.skus:
            units = 1 if sku.merchant_code == race_sku else quantity
            title = f"{item.title} {sku.properties}".replace(",", " ")
            rows.append(f"{sku.merchant_code},{title},{sku.price},CNY,{units},{item.merchant_code}")
            initial[sku.merchant_code] = units
    return "\n".join(rows) + "\n", initial


def _extend_fakes(shops: Sequence[_Shop], items: int) -> None:
    """List catalogue items beyond the demo's eight on every fake (for larger runs)."""
    extra = demo_catalogue(items)[8:]
    if extra:
        for shop in shops:
            fake: Any = shop.fake
            fake.seed_catalogue(extra)


@dataclass
class _Snapshot:
    stock: dict[str, dict[str, int]]
    orders: dict[str, dict[str, Counter[str]]]
    shipments: dict[str, dict[str, int]]

    def sold(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for orders in self.orders.values():
            for lines in orders.values():
                total.update(lines)
        return total


def _snapshot(shops: Sequence[_Shop]) -> _Snapshot:
    stock, orders, shipments = {}, {}, {}
    for shop in shops:
        store = shop.fake.store
        with store.lock:
            stock[shop.channel] = store.stock_by_merchant_code()
            orders[shop.channel] = {
                order.order_id: Counter(
                    {line.merchant_code or "": line.quantity for line in order.lines}
                )
                for order in store.orders.values()
            }
            shipments[shop.channel] = {
                order.order_id: len(order.shipments) for order in store.orders.values()
            }
    return _Snapshot(stock, orders, shipments)


def _imported(store: Store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with store.transaction() as session:
        for order in session.orders():
            found.setdefault(order.channel, set()).add(order.order_id)
    return found


class _Watch:
    """Samples the fakes during a run: exposures the polling gap allows, races."""

    def __init__(
        self, shops: Sequence[_Shop], initial: dict[str, int], result: ChaosResult
    ) -> None:
        self.shops = shops
        self.initial = initial
        self.result = result

    def sample(self) -> None:
        """Count channels showing units that were already sold on another channel.

        The marketplaces lower their own stock at once when they sell; every other
        channel keeps showing the unit until its order is read and the new quantity
        is sent. Those are the exposures a polling gap allows; whether one turned
        into an oversold unit shows in :attr:`ChaosResult.oversold_units`.
        """
        snap = _snapshot(self.shops)
        sold = snap.sold()
        self.result.samples += 1
        for stock in snap.stock.values():
            for code, shown in stock.items():
                excess = shown - max(self.initial.get(code, 0) - sold[code], 0)
                if excess > 0:
                    self.result.gap_exposures += 1
                    self.result.largest_gap = max(self.result.largest_gap, excess)

    def race(self, rng: random.Random, code: str | None = None) -> None:
        """Buyers on every channel try to buy one unit of a scarce SKU at the same instant."""
        snap = _snapshot(self.shops)
        sold = snap.sold()
        if code is None:
            scarce = sorted(c for c, n in self.initial.items() if 1 <= n - sold[c] <= 2)
            if not scarce:
                return
            code = rng.choice(scarce)
        exists = self.initial.get(code, 0) - sold[code]
        if exists < 1:
            return
        winners = sum(1 for shop in self.shops if _buy(shop, code))
        self.result.races += 1
        attempts = len(self.shops)
        self.result.oversells_prevented += max(0, attempts - exists) - max(0, winners - exists)


def _buy(shop: _Shop, code: str) -> bool:
    """One buyer orders one unit of ``code`` on ``shop``, if the marketplace shows any."""
    market: Any = _AsMarket(shop)
    return buy(market, code)


@dataclass
class _AsMarket:
    """The two attributes the demo's buyer helpers read."""

    shop: _Shop

    @property
    def fake(self) -> FakeMarketplace:
        return self.shop.fake

    @property
    def order_lag(self) -> timedelta:
        return self.shop.lag


@dataclass
class _Run:
    """What the end-state checks need: the store, the engine, the fakes, what was asked."""

    store: Store
    engine: SyncEngine
    shops: Sequence[_Shop]
    initial: dict[str, int]
    shipped: dict[tuple[str, str], str]
    result: ChaosResult


def _ship_some(run: _Run, rng: random.Random, count: int) -> None:
    """Record shipments for ``count`` imported, paid, not yet shipped orders (the SDK way)."""
    types = {shop.channel: shop.type_name for shop in run.shops}
    with run.store.transaction() as session:
        paid = sorted(
            (o.channel, o.order_id)
            for o in session.orders(status=OrderStatus.PAID.value)
            if (o.channel, o.order_id) not in run.shipped and o.channel in types and not o.on_hold
        )
    for channel, order_id in rng.sample(paid, min(count, len(paid))):
        carrier, prefix = _CARRIERS.get(types[channel], _CARRIERS["default"])
        tracking = f"{prefix}{len(run.shipped) + 1:010d}"
        try:
            request_shipments(
                run.engine.context, [ShipmentRequest(channel, order_id, carrier, tracking)]
            )
        except InputError:
            continue  # e.g. cancelled meanwhile: then it must not ship
        run.shipped[(channel, order_id)] = tracking


def _backdate(shop: _Shop, orders: Sequence[Any]) -> None:
    market: Any = _AsMarket(shop)
    backdate(market, orders)


#: The SKU the chaos run stocks with one last unit, which every channel races for.
_RACE_SKU = "CS-0001-1"


def _tidy(directory: Path, result: ChaosResult) -> None:
    """Remove a run's own temporary directory (config, logs) when every check passed.

    A failed run keeps it: its problems name the logs in it.
    """
    if result.ok:
        shutil.rmtree(directory, ignore_errors=True)
