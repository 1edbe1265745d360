"""Proof under crashes, faults and load: the daemon and the engine judged by the fakes' records.

Three runs share one set of checks:

* :func:`run_chaos` serves every installed plugin's demo fake on loopback, writes a
  configuration and a catalogue, starts the daemon as a child process and streams
  buyers' orders at it (including races for the last unit of a SKU on every
  channel at once), records shipments through the SDK, kills the daemon with
  SIGKILL at seeded random moments and restarts it, and finally lets it converge
  and stops it with SIGTERM;
* :func:`run_in_process` drives the same fakes in-process on a
  :class:`~channelsync.clock.FakeClock`, cycle by cycle, optionally with faults
  injected on a share of every marketplace call (the faults suite) or with a burst
  of tens of thousands of orders against scarce stock (the load suite).

At the end both check, from the fakes' own records and the store: every order
imported exactly once and its stock effect applied exactly once, every shipment
pushed exactly once, every channel showing exactly what the engine allocates from
the ledger and never more than is available. :class:`ChaosResult` carries the
figures and the problems found; an empty :attr:`ChaosResult.problems` is a pass.

This module ships with channelsync (rather than living in the test tree) so that a
plugin author can run the same proof against their own fake, and so the scripts
under ``benchmarks/`` and the CI suite run one implementation.

Restarting a Python daemon costs seconds of imports on a busy machine; fifty of them
would take minutes. So between the first start and the last one (both the real
``python -m channelsync.daemon`` command), the restarts come from a spawner process
that has imported channelsync once and forks a fresh daemon process for each: still
a separate process running ``channelsync run``, killed by a real SIGKILL. A killed
daemon's store lease would keep the next start out until it expires (``lock_ttl``,
at least 3 s); the harness has reaped the process, so it removes that very holder's
lease at once, as the expiry would.

"Never shown more than available" is checked strictly where time is controlled:
after every complete in-process cycle and at the end of every run. While the
daemon runs on the wall clock, the fakes are sampled instead: a channel showing
units that another channel already sold is the polling gap's exposure, counted and
reported; the units that gap let buyers take beyond the stock are the oversells.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from channelsync.bootstrap import build_engine, open_state
from channelsync.channels import Capability, Channel
from channelsync.clock import Clock, FakeClock, SystemClock
from channelsync.config import ChannelSyncSettings, EngineConfig, load_config
from channelsync.credentials import CredentialStore, env_var_name
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.demo.files import toml_value
from channelsync.demo.stream import backdate, buy
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.errors import InputError
from channelsync.engine.planner import plan_changes
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.shipments import ShipmentRequest, request_shipments
from channelsync.engine.sync import SyncEngine
from channelsync.http import RetryPolicy
from channelsync.models import OrderStatus
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.store import OutboxState, Store, StoreSession, open_store
from channelsync.testing.fakes import FakeMarketplace, Fault, FaultInjector, demo_catalogue

__all__ = ["ChaosResult", "run_chaos", "run_in_process"]

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


# -- the result ------------------------------------------------------------------------


@dataclass
class ChaosResult:
    """The figures of one run and every problem it found (none: the promise held)."""

    suite: str
    seed: int
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
            f"  daemon kills (SIGKILL): {self.kills}, daemon starts: {self.starts}, "
            f"engine cycles run in-process: {self.cycles}",
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
        out += [f"  PROBLEM: {problem}" for problem in self.problems[:50]]
        if len(self.problems) > 50:
            out.append(f"  ... and {len(self.problems) - 50} more problems")
        return out


# -- the marketplaces ------------------------------------------------------------------


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
        shops.append(
            _Shop(
                channel=f"{type_name}-chaos",
                type_name=type_name,
                fake=fake,
                channel_cls=channel_cls,
                settings=dict(module.DEMO_SETTINGS),
                credentials=dict(module.DEMO_CREDENTIALS),
                lag=channel_cls.limits.order_window.lag,
                sync=dict(getattr(module, "DEMO_SYNC", {})),
            )
        )
    return shops


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


# -- what the fakes hold ---------------------------------------------------------------


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


# -- the end state ---------------------------------------------------------------------


@dataclass
class _Run:
    """What the end-state checks need: the store, the engine, the fakes, what was asked."""

    store: Store
    engine: SyncEngine
    shops: Sequence[_Shop]
    initial: dict[str, int]
    shipped: dict[tuple[str, str], str]
    result: ChaosResult


def _check_end(run: _Run) -> None:
    """Judge the converged state from the fakes' own records and the store."""
    snap = _snapshot(run.shops)
    sold = snap.sold()
    result = run.result
    result.orders_placed = sum(len(orders) for orders in snap.orders.values())
    result.order_lines = sum(len(lines) for o in snap.orders.values() for lines in o.values())
    result.oversold_units = sum(max(0, sold[code] - n) for code, n in run.initial.items())
    with run.store.transaction() as session:
        _check_orders(session, run, snap)
        skus = session.skus()
        positions = session.positions([sku.id for sku in skus])
        # Each order's stock effect applied once: the ledger's available stock is what
        # the catalogue had minus what the marketplaces' own records say was sold.
        for sku in skus:
            expected = run.initial.get(sku.merchant_code, 0) - sold[sku.merchant_code]
            available = positions[sku.id].available
            if available != expected:
                result.problems.append(
                    f"{sku.merchant_code}: the ledger has {available} available, "
                    f"the marketplaces' orders leave {expected}"
                )
        held = _check_shown(session, run, snap, {i: p.available for i, p in positions.items()})
        _check_outbox(session, result, held)
        _check_inbox(session, run)
        states = {(s.channel, s.order_id): s.state for s in session.shipments()}
    _check_shipments(run, snap, states)
    for shop in run.shops:
        result.faults_injected.update(
            {str(kind): count for kind, count in shop.fake.faults.injected.items()}
        )
        result.calls[shop.channel] = Counter(shop.fake.calls)


def _release_held(run: _Run, clock: _Advancing, *, max_held: int) -> None:
    """Bound the raises the guard holds at the end, then prove that time releases them.

    A raise is held while a channel shows less than was sent and no imported order
    explains it; it goes once the channel's order cursor has passed the first look
    (the marketplace's indexing lag, minutes) and a second look sees the same. The
    buyers' orders are dated back past that lag, so a drop from an order placed in
    the last moments can still be held when the run ends: at most ``max_held`` of
    them. The clock the fakes and ``run.engine`` share is moved on, cycle by cycle,
    until every hold is released and every channel shows what the ledger plans.
    """
    result = run.result
    if len(result.held) > max_held:
        result.problems.append(
            f"{len(result.held)} raises held by the re-inflation guard at the end, "
            f"at most {max_held} expected"
        )
    if not result.held:
        return
    step = max(shop.lag for shop in run.shops).total_seconds() + 60
    waited = 0.0
    for _ in range(_RELEASE_CYCLES):
        clock.advance(step)
        waited += step
        asyncio.run(_cycle_and_reconcile(run.engine))
        result.cycles += 1
        _check_cycle(run)
        holding = _holding(run)
        if not holding and _converged(run.store, run.shops, run.shipped):
            result.released_after = waited
            return
    result.problems.append(
        f"raises held by the re-inflation guard not all released {waited:.0f}s "
        f"(simulated) after the end: {', '.join(holding) or 'released, but not converged'}"
    )


async def _cycle_and_reconcile(engine: SyncEngine) -> None:
    """Run a cycle, then reconcile every channel, as the daemon's loops would in that time."""
    await engine.run_cycle()
    for channel in engine.channels.values():
        async with channel:
            await reconcile_channel(engine.context, channel)


def _holding(run: _Run) -> list[str]:
    """Return the listings a channel shows less of than was sent while the guard holds."""
    snap = _snapshot(run.shops)
    with run.store.transaction() as session:
        bindings = session.bindings()
    return [
        f"{b.channel} {b.merchant_code} (shows {shown}, sent {b.sent_quantity}, "
        f"planned {b.planned_quantity})"
        for b in bindings
        if b.held_since is not None
        and b.sent_quantity is not None
        and (shown := snap.stock[b.channel].get(b.merchant_code or "")) is not None
        and shown < b.sent_quantity
    ]


def _check_plan(run: _Run) -> None:
    """Check that what the engine would send now from the ledger is what it already sent."""
    with run.store.preview() as session:
        plan = plan_changes(session, run.engine.context, [sku.id for sku in session.skus()])
    for channel, queued in plan.queued.items():
        if queued:
            run.result.problems.append(
                f"{channel}: {queued} change(s) not yet sent after converging"
            )


def _check_inbox(session: StoreSession, run: _Run) -> None:
    """Every event written to the inbox was answered, however the daemon was killed."""
    for shop in run.shops:
        summary = session.inbox_summary(shop.channel, datetime(2000, 1, 1, tzinfo=UTC))
        run.result.events_received += summary.received
        if summary.unprocessed:
            run.result.problems.append(
                f"{shop.channel}: {summary.unprocessed} event(s) in the inbox never answered"
            )


def _check_orders(session: StoreSession, run: _Run, snap: _Snapshot) -> None:
    problems = run.result.problems
    for shop in run.shops:
        stored = Counter(o.order_id for o in session.orders(channel=shop.channel))
        run.result.orders_imported += stored.total()
        problems += [
            f"{shop.channel} order {o} stored {n} times" for o, n in stored.items() if n > 1
        ]
        placed = set(snap.orders[shop.channel])
        problems += [
            f"{shop.channel} order {o} was never imported" for o in sorted(placed - set(stored))
        ]
        problems += [
            f"{shop.channel} order {o} is in the store but not on the marketplace"
            for o in sorted(set(stored) - placed)
        ]


def _check_shown(
    session: StoreSession, run: _Run, snap: _Snapshot, available: dict[int, int]
) -> set[int]:
    """Check what every channel shows; return the ids of bindings whose raise is held."""
    held: set[int] = set()
    for shop in run.shops:
        if not run.engine.context.channels[shop.channel].pushes_stock:
            continue
        for binding in session.bindings(channel=shop.channel):
            code = binding.merchant_code
            if binding.sku_id is None or code is None:
                continue
            shown = snap.stock[shop.channel].get(code)
            if (
                binding.held_since is not None
                and shown is not None
                and binding.sent_quantity is not None
                and shown < binding.sent_quantity
            ):
                held.add(binding.id)
                run.result.held.append(f"{shop.channel} {code}")
            elif shown != binding.sent_quantity or binding.planned_quantity != shown:
                run.result.problems.append(
                    f"{shop.channel} shows {shown} of {code}; the engine planned "
                    f"{binding.planned_quantity} and recorded {binding.sent_quantity} as sent"
                )
            exists = max(available[binding.sku_id], 0)
            if shown is not None and shown > exists:
                run.result.problems.append(
                    f"{shop.channel} shows {shown} of {code}, {exists} exist"
                )
    return held


def _check_outbox(session: StoreSession, result: ChaosResult, held: set[int]) -> None:
    for item in session.outbox(state=OutboxState.PENDING):
        if item.kind == "stock" and item.payload.get("binding_id") in held:
            continue  # the held raise itself, waiting for the guard's second look
        result.problems.append(f"still pending: {item.channel} {item.kind} {item.key}")
    for item in session.outbox(state=OutboxState.PARKED):
        result.problems.append(f"parked: {item.channel} {item.kind} {item.key}: {item.reason}")
    for record in session.parked():
        result.problems.append(f"parked order: {record.channel} {record.key}: {record.reason}")


def _check_shipments(run: _Run, snap: _Snapshot, states: dict[tuple[str, str], str]) -> None:
    result = run.result
    for (channel, order_id), state in states.items():
        if state != "sent":
            result.problems.append(f"shipment of {channel} order {order_id} is {state}")
    for channel, per_order in snap.shipments.items():
        for order_id, count in per_order.items():
            wanted = 1 if (channel, order_id) in run.shipped else 0
            if count != wanted:
                result.problems.append(
                    f"{channel} order {order_id} has {count} shipment(s) on the marketplace, "
                    f"{wanted} were asked for"
                )
            elif wanted:
                result.shipments_pushed_once += 1


def _converged(
    store: Store,
    shops: Sequence[_Shop],
    shipped: dict[tuple[str, str], str],
    *,
    holds_allowed: bool = False,
) -> bool:
    """Whether every order is imported and every change and shipment sent and recorded.

    A shipped order's status change is not waited for: the marketplaces let it be
    read only after their order lag (minutes); it changes no stock that is shown.
    With ``holds_allowed``, a raise the re-inflation guard holds (the channel shows
    less than was sent) does not count as unsent: it waits for that lag too, and
    :func:`_release_held` bounds and releases such raises afterwards.
    """
    snap = _snapshot(shops)
    with store.transaction() as session:
        stored = {(o.channel, o.order_id) for o in session.orders()}
        imported = all(
            (shop.channel, order_id) in stored
            for shop in shops
            for order_id in snap.orders[shop.channel]
        )
        held = {
            b.id
            for b in session.bindings()
            if holds_allowed and b.held_since is not None and b.sent_quantity is not None
        }
        pending = [
            item
            for item in session.outbox(state=OutboxState.PENDING)
            if not (item.kind == "stock" and item.payload.get("binding_id") in held)
        ]
        idle = not pending and all(s.state in ("sent", "parked") for s in session.shipments())
        shown = all(
            binding.id in held
            or (
                binding.planned_quantity == binding.sent_quantity
                and (
                    binding.sent_quantity is None
                    or snap.stock[shop.channel].get(binding.merchant_code) == binding.sent_quantity
                )
            )
            for shop in shops
            for binding in session.bindings(channel=shop.channel)
            if binding.sku_id is not None and binding.merchant_code is not None
        )
    pushed = all(snap.shipments[c].get(o, 0) >= 1 for c, o in shipped)
    return imported and idle and shown and pushed


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


# -- the chaos run: the daemon as a child process ---------------------------------------


def _as_the_daemon_saw_it(engine: SyncEngine, shops: Sequence[_Shop]) -> None:
    """Give the harness's engine the daemon's view of how soon orders are seen.

    The daemon's pull interval, and its listeners connected (they were, at the end):
    the pace-aware protection plans with them, so the engine that takes over must too,
    or it would plan other quantities than the daemon sent for no change of stock.
    """
    for shop in shops:
        engine.context.visibility.set_pull_interval(shop.channel, _DAEMON["pull_interval"])
        if shop.settings.get("events"):
            engine.context.visibility.set_events(shop.channel, True)


def _serve_events(shop: _Shop) -> list[Any]:
    """Serve the shop's push service (if its plugin listens) and turn its events on."""
    serve = getattr(shop.fake, "serve_events", None)
    if serve is None or Capability.EVENTS not in shop.channel_cls.capabilities():
        return []
    server = serve()
    shop.settings = {**shop.settings, "events": True, "events_url": server.url}
    return [server]


def _config_toml(shops: Sequence[_Shop], threshold: int) -> str:
    value = toml_value
    lines = [
        "# The store is the default one, beside this file.",
        "[engine]",
        f"scarce_threshold = {threshold}",
        "order_lookback_hours = 1",
        "",
        "[daemon]",
        *(f"{key} = {value(item)}" for key, item in _DAEMON.items()),
    ]
    for shop in shops:
        lines += [
            "",
            "[[channels]]",
            f"name = {value(shop.channel)}",
            f"type = {value(shop.type_name)}",
            f"base_url = {value(shop.url)}",
            *(f"{key} = {value(item)}" for key, item in shop.settings.items()),
            *(f"{key} = {value(item)}" for key, item in shop.sync.items()),
        ]
    return "\n".join(lines) + "\n"


class _Spawner:
    """A process that imported channelsync once and forks a fresh daemon per start."""

    def __init__(self, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "channelsync.testing.chaos", "spawner"]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError("the daemon spawner exited")
        reply: dict[str, Any] = json.loads(answer)
        return reply

    def spawn(self, argv: list[str], log: Path) -> int:
        return int(self._ask({"op": "spawn", "argv": argv, "log": str(log)})["pid"])

    def wait(self, pid: int, timeout: float) -> int | None:
        status = self._ask({"op": "wait", "pid": pid, "timeout": timeout})["status"]
        return None if status is None else int(status)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class _Daemon:
    """One daemon process, started by exec or by the spawner."""

    def __init__(
        self, argv: list[str], log: Path, env: dict[str, str], spawner: _Spawner | None
    ) -> None:
        self.spawner = spawner
        self.popen: subprocess.Popen[bytes] | None = None
        if spawner is None:
            with log.open("ab") as out:
                self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    [sys.executable, "-m", "channelsync.daemon", *argv],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.pid = self.popen.pid
        else:
            self.pid = spawner.spawn(["run", *argv], log)

    def signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int | None:
        if self.popen is not None:
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        assert self.spawner is not None
        return self.spawner.wait(self.pid, timeout)


def run_chaos(
    *,
    kills: int = 50,
    seed: int = 0,
    fault_rate: float = 0.0,
    fault_kinds: Iterable[Fault] | None = None,
    order_rate: float = 2.0,
    life: tuple[float, float] = (0.4, 1.4),
    items: int = 8,
    quantity: int = 10,
    directory: Path | None = None,
    fork: bool = True,
    converge_timeout: float = 120.0,
    log_level: str = "warning",
    host: PluginHost | None = None,
    max_held: int | None = None,
    events: bool = True,
) -> ChaosResult:
    """Run the daemon against the served fakes, SIGKILL it ``kills`` times, then check.

    ``order_rate`` is buyers' orders per second across the marketplaces; each daemon
    lives a seeded random time in ``life`` seconds before it is killed. ``fork`` takes
    the restarts between the first and the last from a spawner process (see the
    module's documentation); the first and last starts are always the real command.
    The daemon's log is ``daemon.log`` in ``directory`` (a new temporary one by default).
    At most ``max_held`` raises (default: one per channel) may be held by the
    re-inflation guard at the end, and each must be released once the marketplaces'
    lag has passed (see :func:`_release_held`). With ``events`` every fake that pushes
    serves its push service and the daemon listens to it beside polling, so the kills
    also land between an event's commit to the inbox, its acknowledgement and its read.
    """
    started = time.monotonic()
    result = ChaosResult(suite="chaos", seed=seed)
    host = host or build_plugin_manager()
    clock = _MovableClock()
    shops = _shops(host, seed=seed, fault_rate=fault_rate, fault_kinds=fault_kinds, clock=clock)
    where = directory or Path(tempfile.mkdtemp(prefix="channelsync-chaos-"))
    servers: list[Any] = []
    try:
        for shop in shops:
            server = shop.fake.serve()
            servers.append(server)
            shop.url = server.url
            if events:
                servers += _serve_events(shop)
        csv_text, initial = _catalogue(items, quantity, _RACE_SKU)
        _extend_fakes(shops, items)
        config_path = where / "channelsync.toml"
        config_path.write_text(_config_toml(shops, 2 * len(shops)), encoding="utf-8")
        config = load_config(config_path)
        with open_state(config) as store:
            import_catalogue(store, parse_catalogue(csv_text, "csv"), now=datetime.now(UTC))
            engine = build_engine(config, store, host=host, credentials=_memory(shops))
            run = _Run(store, engine, shops, initial, {}, result)
            chaos = _Chaos(run, seed=seed, order_rate=order_rate, log=where / "daemon.log")
            chaos.argv = ["--config", str(config_path), "--log-level", log_level]
            chaos.play(kills=kills, life=life, fork=fork, converge_timeout=converge_timeout)
            result.shipments_requested = len(run.shipped)
            _check_end(run)
            # The daemon is gone: an engine in the harness takes over on the fakes'
            # clock, so the guard's holds can be seen released without waiting.
            run.engine = _in_process_engine(
                store, shops, clock, config=engine.context.config, host=host
            )
            _as_the_daemon_saw_it(run.engine, shops)
            _release_held(run, clock, max_held=len(shops) if max_held is None else max_held)
            _check_plan(run)
    finally:
        for server in servers:
            server.stop()
    result.elapsed_seconds = time.monotonic() - started
    return result


#: Cycles of :func:`_release_held`, each a marketplace lag and a minute later.
_RELEASE_CYCLES = 6


class _Advancing(Clock, Protocol):
    """A clock the harness can move on (:class:`FakeClock`, :class:`_MovableClock`)."""

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` ahead."""


class _MovableClock(SystemClock):
    """Real time, plus whatever the harness has moved it on by.

    The daemon under test runs on real time; the fakes run on this clock, which is
    real time until the daemon is gone. Then the harness moves it (and an in-process
    engine on the same clock) past the marketplaces' lag without waiting minutes.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return super().monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def _in_process_engine(
    store: Store,
    shops: Sequence[_Shop],
    clock: Clock,
    *,
    config: EngineConfig,
    host: PluginHost,
) -> SyncEngine:
    """Build an engine on ``store`` that talks to the fakes in-process, on ``clock``."""
    settings = {
        shop.channel: ChannelSyncSettings.model_validate(shop.sync) for shop in shops if shop.sync
    }
    channels = [_in_process_channel(shop, clock) for shop in shops]
    return SyncEngine(store, channels, settings=settings, config=config, clock=clock, host=host)


#: The SKU the chaos run stocks with one last unit, which every channel races for.
_RACE_SKU = "CS-0001-1"


class _Chaos:
    """The chaos run's moves: buyers, races, shipments, daemon starts and kills."""

    def __init__(self, run: _Run, *, seed: int, order_rate: float, log: Path) -> None:
        self.run = run
        self.rng = random.Random(seed)  # noqa: S311 - repeatable chaos, not security
        self.order_rate = order_rate
        self.log = log
        self.watch = _Watch(run.shops, run.initial, run.result)
        self.argv: list[str] = []
        self.env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        for shop in run.shops:
            for name, secret in shop.credentials.items():
                self.env[env_var_name(shop.channel, name)] = secret
        self._owed = 0.0

    def tick(self, seconds: float, *, orders: bool = True) -> None:
        """Let ``seconds`` of buyers happen (or only watch), then sample the fakes."""
        if orders:
            self._owed += seconds * self.order_rate
            while self._owed >= 1:
                self._owed -= 1
                shop = self.rng.choice(self.run.shops)
                _backdate(shop, shop.place(1))
            if self.rng.random() < seconds:
                self.watch.race(self.rng)
            if self.rng.random() < 3 * seconds:
                _ship_some(self.run, self.rng, 2)
        self.watch.sample()

    def start(self, spawner: _Spawner | None) -> _Daemon:
        self.run.result.starts += 1
        return _Daemon(self.argv, self.log, self.env, spawner)

    def play(
        self, *, kills: int, life: tuple[float, float], fork: bool, converge_timeout: float
    ) -> None:
        """Start, race, kill and restart ``kills`` times; then converge and stop cleanly."""
        result = self.run.result
        daemon = self.start(None)
        deadline = time.monotonic() + 90
        while not _first_sync_done(self.run.store, self.run.shops) and time.monotonic() < deadline:
            if daemon.wait(0.5) is not None:
                break
        self.watch.race(self.rng, _RACE_SKU)
        spawner = _Spawner(self.env) if fork and kills > 1 else None
        try:
            for kill in range(kills):
                if kill:
                    daemon = self.start(spawner)
                end = time.monotonic() + self.rng.uniform(*life)
                while time.monotonic() < end:
                    self.tick(0.1)
                    time.sleep(0.1)
                daemon.signal(signal.SIGKILL)
                code = daemon.wait(10)
                if code not in (None, 0, -signal.SIGKILL):
                    result.problems.append(f"daemon start {result.starts} exited with {code}")
                result.kills += 1
                # The next start must take the dead daemon's lease over by itself.
        finally:
            if spawner is not None:
                spawner.close()
        self.converge(converge_timeout)

    def converge(self, timeout: float) -> None:
        """Stop the buyers, start the real command once more, wait for quiet, SIGTERM it."""
        result = self.run.result
        converging = time.monotonic()
        daemon = self.start(None)
        # Quiet must last longer than a pull and a reconcile interval: work that a
        # status change read back or a reconcile starts after a first quiet look
        # would otherwise be cut off by the stop.
        settle = max(_DAEMON["pull_interval"], _DAEMON["reconcile_interval"]) + 1.0
        quiet_since: float | None = None
        while time.monotonic() < converging + timeout:
            self.tick(0.5, orders=False)
            if not _converged(self.run.store, self.run.shops, self.run.shipped, holds_allowed=True):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                break
            if daemon.wait(0.5) is not None:
                break
        result.converge_seconds = time.monotonic() - converging
        daemon.signal(signal.SIGTERM)
        code = daemon.wait(30)
        if code is None:
            daemon.signal(signal.SIGKILL)
            daemon.wait(10)
            result.problems.append("the daemon did not stop within 30s of SIGTERM")
        elif code != 0:
            result.problems.append(f"the daemon exited with {code} after SIGTERM (see {self.log})")


def _memory(shops: Sequence[_Shop]) -> CredentialStore:
    backend = MemorySecretBackend(
        {(shop.channel, k): v for shop in shops for k, v in shop.credentials.items()}
    )
    return CredentialStore(backend=backend, environ={})


def _backdate(shop: _Shop, orders: Sequence[Any]) -> None:
    market: Any = _AsMarket(shop)
    backdate(market, orders)


def _first_sync_done(store: Store, shops: Sequence[_Shop]) -> bool:
    with store.transaction() as session:
        for shop in shops:
            bindings = session.bindings(channel=shop.channel)
            if not bindings or any(
                b.sku_id is not None and b.sent_quantity is None for b in bindings
            ):
                return False
    return True


# -- in-process runs: faults and load ----------------------------------------------------


#: 12:00 in Beijing on a weekday, inside every fake's business hours.
_START = datetime(2024, 11, 11, 4, 0, tzinfo=UTC)


def run_in_process(
    *,
    orders: int = 2000,
    seed: int = 0,
    fault_rate: float = 0.0,
    fault_kinds: Iterable[Fault] | None = None,
    items: int = 8,
    quantity: int | None = None,
    cycle_seconds: float = 10.0,
    orders_per_cycle: int = 40,
    ship_per_cycle: int = 2,
    directory: Path | None = None,
    suite: str = "in-process",
    host: PluginHost | None = None,
    max_converge_cycles: int = 200,
) -> ChaosResult:
    """Drive the engine cycle by cycle against the fakes in-process on a fake clock.

    Buyers place ``orders`` orders, ``orders_per_cycle`` per simulated
    ``cycle_seconds``; races for scarce SKUs run every few cycles; ``ship_per_cycle``
    imported orders are shipped per cycle. After every cycle no channel may show more
    than the ledger has available, and, for a scarce SKU, the channels together no
    more than that. ``quantity`` per SKU defaults to about nine tenths of the expected
    demand, so the stock runs scarce towards the end.
    """
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - repeatable runs, not security
    result = ChaosResult(suite=suite, seed=seed)
    clock = FakeClock(_START)
    host = host or build_plugin_manager()
    shops = _shops(host, seed=seed, fault_rate=fault_rate, fault_kinds=fault_kinds, clock=clock)
    _extend_fakes(shops, items)
    skus = items * 2
    if quantity is None:
        quantity = max(4, int(orders * 2.25 * 0.9 / skus))
    csv_text, initial = _catalogue(items, quantity, None)
    where = directory or Path(tempfile.mkdtemp(prefix=f"channelsync-{suite}-"))
    store = open_store(f"sqlite:///{where / 'state.db'}")
    try:
        import_catalogue(store, parse_catalogue(csv_text, "csv"), now=clock.now())
        config = EngineConfig(scarce_threshold=2 * len(shops))
        engine = _in_process_engine(store, shops, clock, config=config, host=host)
        run = _Run(store, engine, shops, initial, {}, result)
        asyncio.run(engine.run_cycle())
        result.cycles += 1
        streaming = time.monotonic()
        _stream(run, clock, rng, orders, orders_per_cycle, cycle_seconds, ship_per_cycle)
        result.ingest_seconds = time.monotonic() - streaming
        converging = time.monotonic()
        clock.advance(max(shop.lag for shop in shops).total_seconds() + cycle_seconds)
        _settle_down(run, clock, max_converge_cycles)
        result.converge_seconds = time.monotonic() - converging
        result.shipments_requested = len(run.shipped)
        _check_end(run)
        _release_held(run, clock, max_held=0)  # settled on a fake clock: nothing may be held
        _check_plan(run)
    finally:
        store.close()
    result.elapsed_seconds = time.monotonic() - started
    return result


def _stream(  # noqa: PLR0917 - the knobs of run_in_process, passed on
    run: _Run,
    clock: FakeClock,
    rng: random.Random,
    orders: int,
    per_cycle: int,
    cycle_seconds: float,
    ship_per_cycle: int,
) -> None:
    """Buyers order between cycles; every cycle is checked as soon as it ends."""
    watch = _Watch(run.shops, run.initial, run.result)
    placed = 0
    while placed < orders:
        batch = min(per_cycle, orders - placed)
        got = sum(len(rng.choice(run.shops).place(1)) for _ in range(batch))
        placed += batch
        if got == 0:
            break  # sold out everywhere the marketplaces show stock
        if run.result.cycles % 5 == 0:
            watch.race(rng)
        clock.advance(cycle_seconds)
        _ship_some(run, rng, ship_per_cycle)
        asyncio.run(run.engine.run_cycle())
        run.result.cycles += 1
        _check_cycle(run)
        watch.sample()


def _settle_down(run: _Run, clock: FakeClock, max_cycles: int) -> None:
    """Run cycles without new orders until everything is imported, sent and recorded."""
    for _ in range(max_cycles):
        asyncio.run(run.engine.run_cycle())
        run.result.cycles += 1
        _check_cycle(run)
        with run.store.transaction() as session:
            # What a merchant does with a refused item (``channelsync outbox retry``):
            # an injected refusal is not the marketplace's last word.
            retried = session.requeue_parked(clock.now())
        run.result.parked_retried += retried
        if not retried and _converged(run.store, run.shops, run.shipped):
            return
        # Failed sends back off (30 s doubling): let simulated time pass for them.
        clock.advance(300)


def _in_process_channel(shop: _Shop, clock: Clock) -> Channel[Any]:
    cls = shop.channel_cls
    backend = MemorySecretBackend({(shop.channel, k): v for k, v in shop.credentials.items()})
    credentials = CredentialStore(backend=backend, environ={})
    return cls(
        shop.channel,
        cls.settings_model.model_validate(shop.settings),
        credentials.for_channel(shop.channel, cls.all_credential_fields()),
        transport=shop.fake.transport(),
        clock=clock,
        retry_policy=RetryPolicy(max_attempts=5, initial_wait=0.5, jitter=0.0),
    )


def _check_cycle(run: _Run) -> None:
    """After a full cycle: nobody shows more than the ledger has; scarce SKUs partitioned."""
    store, engine, shops, result = run.store, run.engine, run.shops, run.result
    snap = _snapshot(shops)
    threshold = engine.context.config.scarce_threshold
    with store.transaction() as session:
        skus = {sku.id: sku for sku in session.skus()}
        positions = session.positions(list(skus))
        totals: Counter[int] = Counter()
        settled: dict[int, bool] = {}
        for shop in shops:
            if not engine.context.channels[shop.channel].pushes_stock:
                continue
            for binding in session.bindings(channel=shop.channel):
                if binding.sku_id is None or binding.merchant_code is None:
                    continue
                shown = snap.stock[shop.channel].get(binding.merchant_code, 0)
                totals[binding.sku_id] += shown
                # A send that failed (and waits for its retry) leaves the older value up.
                done = binding.planned_quantity == binding.sent_quantity
                settled[binding.sku_id] = settled.get(binding.sku_id, True) and done
                available = max(positions[binding.sku_id].available, 0)
                if done and shown > available:
                    result.problems.append(
                        f"cycle {result.cycles}: {shop.channel} shows {shown} of "
                        f"{binding.merchant_code}, the ledger has {available}"
                    )
        for sku_id, total in totals.items():
            available = max(positions[sku_id].available, 0)
            scarce = threshold is not None and available <= threshold
            if scarce and settled.get(sku_id, False) and total > available:
                result.problems.append(
                    f"cycle {result.cycles}: {skus[sku_id].merchant_code} is scarce "
                    f"({available} available) and the channels show {total} together"
                )


# -- the spawner process ---------------------------------------------------------------


def _spawner_main(stdin: IO[str], stdout: IO[str]) -> None:  # pragma: no cover - a child
    import channelsync.cli.main  # noqa: F401, PLC0415 - import once, before forking

    build_plugin_manager()
    children: set[int] = set()
    for line in stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                _child(request["argv"], request["log"])
            children.add(pid)
            reply: dict[str, Any] = {"pid": pid}
        else:
            reply = {"status": _reap(int(request["pid"]), float(request["timeout"]))}
            if reply["status"] is not None:
                children.discard(int(request["pid"]))
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
    for pid in children:  # the harness went away: leave no daemon behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _reap(pid: int, timeout: float) -> int | None:  # pragma: no cover - in the spawner
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _child(argv: list[str], log: str) -> None:  # pragma: no cover - in a forked daemon
    code = 1
    try:
        os.setsid()
        out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        from channelsync.cli.main import cli  # noqa: PLC0415 - already imported

        cli(argv, prog_name="channelsync")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os._exit(code)


def _main(argv: Sequence[str]) -> int:  # pragma: no cover - a child process
    if list(argv) == ["spawner"]:
        _spawner_main(sys.stdin, sys.stdout)
        return 0
    print("usage: python -m channelsync.testing.chaos spawner", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":  # pragma: no cover - the spawner process
    sys.exit(_main(sys.argv[1:]))
