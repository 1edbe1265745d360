"""The oversell window: how long an order stays unseen by the other channels, and its cost.

Measured on every plugin's fake in-process, with the real daemon (its pull and flush
loops, each channel's own rate limits and transport) running on virtual time: the
event loop's clock jumps to the next timer whenever every task waits, so minutes of
marketplace time pass in a moment and the figures do not depend on the machine.

Two measurements per mode (polling only; events beside polling):

* **window**: per channel, buyers order one SKU on that channel's fake and the time
  until every *other* channel's fake shows less of it is recorded (each channel has
  SKUs of its own, so probes never disturb each other); p50 and p99.
* **burst**: ``orders`` orders placed at an even pace over ``minutes`` across the
  fakes, against stock of about nine tenths of the demand; after the daemon has
  caught up, the units sold beyond the stock (counted from the fakes' own records)
  are what the window let through.

The events mode needs a fake that serves its push service (``serve_events(host,
port)`` returning a server with ``.url``) and a channel type with the ``events``
capability; the channel is then configured with ``events = true`` and
``events_url``. A channel type without them stays on polling in that mode. When no
channel can listen, :func:`measure_oversell_window` leaves the events figures out
(``None``) and says why in :attr:`OversellWindowResult.notes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from channelsync.channels import Capability, Channel
from channelsync.config import ChannelSyncSettings, DaemonConfig, EngineConfig
from channelsync.daemon.runner import Daemon
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.store import Store, open_store
from channelsync.testing.chaos import _first_sync_done
from channelsync.testing.chaos_checks import _in_process_channel
from channelsync.testing.chaos_world import _catalogue, _extend_fakes, _Shop, _shops

__all__ = ["Mode", "OversellWindowResult", "WindowFigures", "measure_oversell_window"]

Mode = Literal["events", "polling"]

#: 12:00 in Beijing on a weekday, inside every fake's business hours.
_START = datetime(2024, 11, 11, 4, 0, tzinfo=UTC)
#: How often a probe looks at the other channels' fakes (virtual seconds).
_LOOK_EVERY = 0.25
#: A probe that sees no change in this long is counted as never seen.
_PROBE_TIMEOUT = 1800.0
#: Stock of the probe SKUs: plentiful, so what every channel shows is simply lowered.
_PROBE_STOCK = 100_000


# -- virtual time ------------------------------------------------------------------------


class VirtualTime:
    """A :class:`~channelsync.clock.Clock` on the event loop's virtual time.

    Inside :meth:`running`, ``asyncio`` timers (the daemon's pauses, the transports'
    rate-limit waits) fire as soon as every task waits, and the clock jumps to them.
    ``paced`` is for runs with real sockets (a fake's push server on loopback): time
    then advances by at most ``step`` virtual seconds per millisecond of real waiting,
    so data in flight on a socket arrives at about the virtual moment it was sent.
    """

    def __init__(
        self, start: datetime = _START, *, paced: bool = False, step: float = 0.05
    ) -> None:
        import aiotools  # noqa: PLC0415 - a development dependency, needed only here

        self._start = start
        self._virtual = _PacedClock(step) if paced else aiotools.VirtualClock()

    def now(self) -> datetime:
        """Return the virtual time as an aware datetime."""
        return self._start + timedelta(seconds=self._virtual.virtual_time())

    def monotonic(self) -> float:
        """Return the virtual seconds since the start."""
        return float(self._virtual.virtual_time())

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time."""
        await asyncio.sleep(max(0.0, seconds))

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Run the current event loop on this virtual time (inside a coroutine)."""
        with self._virtual.patch_loop():
            yield


def _paced_base() -> type[Any]:
    import aiotools  # noqa: PLC0415 - a development dependency, needed only here

    base: type[Any] = aiotools.VirtualClock
    return base


class _PacedClock(_paced_base()):  # type: ignore[misc]
    """aiotools' virtual clock, advancing in small steps while sockets are polled for real."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def _virtual_select(
        self, orig_select: Callable[[float | None], Any], timeout: float | None
    ) -> Any:
        if timeout is not None and timeout <= 0:
            return orig_select(0)
        ready = orig_select(0.001)
        if not ready:
            self.vtime += self.step if timeout is None else min(timeout, self.step)
        return ready


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowFigures:
    """The window of one channel in one mode: p50 and p99 seconds, and the probes behind them."""

    p50_s: float
    p99_s: float
    probes: int
    unseen: int = 0
    """Probes whose order was not reflected on every other channel within 30 minutes."""

    def to_json(self) -> dict[str, float]:
        """Return ``{"p50_s": x, "p99_s": y}``."""
        return {"p50_s": round(self.p50_s, 3), "p99_s": round(self.p99_s, 3)}


@dataclass
class OversellWindowResult:
    """What :func:`measure_oversell_window` measured, per channel and mode, and the burst."""

    orders: int
    channels: dict[str, dict[Mode, WindowFigures | None]] = field(default_factory=dict)
    oversold: dict[Mode, int | None] = field(default_factory=dict)
    placed: dict[Mode, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the benchmark's JSON object (the shape scripts rely on)."""

        def figures(value: WindowFigures | None) -> dict[str, float] | None:
            return None if value is None else value.to_json()

        return {
            "channels": {
                name: {mode: figures(modes.get(mode)) for mode in ("events", "polling")}
                for name, modes in self.channels.items()
            },
            "burst": {
                "orders": self.orders,
                "oversold_units": {mode: self.oversold.get(mode) for mode in ("events", "polling")},
            },
        }

    def lines(self) -> list[str]:
        """Return the figures as text, with the probe counts and the notes."""
        out = []
        for name, modes in self.channels.items():
            for mode, figures in modes.items():
                if figures is None:
                    out.append(f"{name:>10} {mode:>7}: not measured")
                    continue
                out.append(
                    f"{name:>10} {mode:>7}: p50 {figures.p50_s:7.1f} s, p99 "
                    f"{figures.p99_s:7.1f} s over {figures.probes} orders"
                    + (f" ({figures.unseen} never seen)" if figures.unseen else "")
                )
        for mode, units in self.oversold.items():
            if units is None:
                out.append(f"burst {mode:>7}: not measured")
                continue
            placed = self.placed.get(mode, 0)
            out.append(
                f"burst {mode:>7}: {placed} of {self.orders} orders placed, {units} units oversold"
            )
        out += [f"note: {note}" for note in self.notes]
        return out


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile (``share`` from 0 to 1) of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


# -- the run -----------------------------------------------------------------------------


@dataclass
class _Setup:
    """One run's fakes, store, engine and daemon, on one virtual clock."""

    clock: VirtualTime
    shops: list[_Shop]
    store: Store
    engine: SyncEngine
    daemon: Daemon
    initial: dict[str, int]
    servers: list[Any]


def events_blockers(shops: Sequence[_Shop]) -> str | None:
    """Return why no channel can listen to events here (``None``: some can)."""
    reasons = []
    for shop in shops:
        if not shop.channel_cls.supports(Capability.EVENTS):
            reasons.append(f"{shop.type_name}: no events capability")
        elif not callable(getattr(shop.fake, "serve_events", None)):
            reasons.append(f"{shop.type_name}: its fake serves no events (serve_events)")
        else:
            return None
    return "; ".join(reasons) or "no channels"


def _build(
    mode: Mode,
    name: str,
    *,
    host: PluginHost,
    seed: int,
    items: int,
    quantity: int,
    pull_interval: float,
    directory: Path,
    engine_config: EngineConfig,
) -> _Setup:
    clock = VirtualTime(paced=mode == "events")
    shops = _shops(host, seed=seed, fault_rate=0.0, fault_kinds=None, clock=clock)
    for shop in shops:
        shop.channel = shop.type_name
    _extend_fakes(shops, items)
    servers: list[Any] = []
    if mode == "events":
        for shop in shops:
            serve = getattr(shop.fake, "serve_events", None)
            if shop.channel_cls.supports(Capability.EVENTS) and callable(serve):
                server = serve("127.0.0.1", 0)
                servers.append(server)
                shop.settings = {**shop.settings, "events": True, "events_url": server.url}
                if "events_wait_seconds" in shop.channel_cls.settings_model.model_fields:
                    # A queue server's long poll waits in real time, while the client's
                    # read timeout runs on virtual time: poll without waiting instead.
                    shop.settings["events_wait_seconds"] = 0
    csv_text, initial = _catalogue(items, quantity, None)
    store = open_store(f"sqlite:///{directory / f'{name}.db'}")
    import_catalogue(store, parse_catalogue(csv_text, "csv"), now=clock.now())
    channels: list[Channel[Any]] = [_in_process_channel(shop, clock) for shop in shops]
    settings = {
        shop.channel: ChannelSyncSettings.model_validate(shop.sync) for shop in shops if shop.sync
    }
    engine = SyncEngine(
        store, channels, settings=settings, config=engine_config, clock=clock, host=host
    )
    daemon = Daemon(
        engine,
        DaemonConfig(
            pull_interval=pull_interval,
            flush_interval=5,
            reconcile_interval=86_400,
            stale_after=86_400,
            shutdown_grace=60,
        ),
        clock=clock,
        observe_interval=3_600,
    )
    return _Setup(clock, shops, store, engine, daemon, initial, servers)


@contextlib.asynccontextmanager
async def _daemon_running(setup: _Setup, warmup: float) -> Any:
    """Run the daemon until the block ends; enter once its first sync is done and warm."""
    task = asyncio.create_task(setup.daemon.run())
    try:
        waited = 0.0
        while not _first_sync_done(setup.store, setup.shops):
            if task.done():
                task.result()
                raise RuntimeError("the daemon stopped before its first sync")
            await asyncio.sleep(1.0)
            waited += 1.0
            if waited > 3_600:
                raise RuntimeError("the daemon's first sync took over an hour of virtual time")
        # Steady state: every channel's bursts of quota spent as a running daemon's are.
        await asyncio.sleep(warmup)
        yield
    finally:
        setup.daemon.stop()
        await task


def _stock(shop: _Shop, code: str) -> int:
    return shop.fake.store.stock_by_merchant_code().get(code, 0)


def _place(shop: _Shop, code: str) -> bool:
    """Have a buyer order ``code`` on ``shop`` (the fake's own generator: ids, status, stock)."""
    fake: Any = shop.fake
    with fake.store.lock:
        hidden = []
        for _item, sku in fake.store.iter_skus():
            if sku.merchant_code != code:
                hidden.append((sku, sku.quantity))
                sku.quantity = 0
        try:
            placed = fake.generate_orders(1)
        finally:
            for sku, quantity in hidden:
                sku.quantity = quantity
    return bool(placed)


async def _probe_channel(
    setup: _Setup, shop: _Shop, codes: Sequence[str], *, probes: int, rng: random.Random, gap: float
) -> tuple[list[float], int]:
    """Order ``probes`` times on ``shop``; return the seconds until every other channel lowered."""
    others = [s for s in setup.shops if s is not shop]
    seconds: list[float] = []
    unseen = 0
    for index in range(probes):
        # A random phase against the pull loops, as real buyers have.
        await asyncio.sleep(rng.uniform(0.0, gap))
        code = codes[index % len(codes)]
        before = {other.channel: _stock(other, code) for other in others}
        if not _place(shop, code):
            continue
        placed = setup.clock.monotonic()
        while True:
            waited = setup.clock.monotonic() - placed
            if all(_stock(o, code) < before[o.channel] for o in others):
                seconds.append(waited)
                break
            if waited > _PROBE_TIMEOUT:
                unseen += 1
                break
            await asyncio.sleep(_LOOK_EVERY)
    return seconds, unseen


async def _measure_window(
    setup: _Setup, probes: int, warmup: float, gap: float, rng: random.Random
) -> dict[str, WindowFigures | None]:
    codes = sorted(setup.initial)
    own = {shop.channel: codes[i :: len(setup.shops)] for i, shop in enumerate(setup.shops)}
    async with _daemon_running(setup, warmup):
        results = await asyncio.gather(
            *(
                _probe_channel(
                    setup,
                    shop,
                    own[shop.channel],
                    probes=probes,
                    rng=random.Random(rng.random()),  # noqa: S311 - repeatable, not security
                    gap=gap,
                )
                for shop in setup.shops
            )
        )
    figures: dict[str, WindowFigures | None] = {}
    for shop, (seconds, unseen) in zip(setup.shops, results, strict=True):
        figures[shop.channel] = (
            WindowFigures(percentile(seconds, 0.5), percentile(seconds, 0.99), len(seconds), unseen)
            if seconds
            else None
        )
    return figures


async def _measure_burst(
    setup: _Setup, orders: int, minutes: float, warmup: float, rng: random.Random
) -> tuple[int, int]:
    """Place ``orders`` orders at an even pace; return (placed, units oversold)."""
    placed = 0
    async with _daemon_running(setup, warmup):
        pace = minutes * 60 / max(orders, 1)
        started = setup.clock.monotonic()
        for index in range(orders):
            due = started + index * pace
            wait = due - setup.clock.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            placed += len(rng.choice(setup.shops).fake.generate_orders(1))  # type: ignore[attr-defined]
        # Let every order be read and every change sent: the longest lag, a few pulls.
        lag = max(shop.lag for shop in setup.shops).total_seconds()
        await asyncio.sleep(lag + 4 * setup.daemon.settings.pull_interval + 60)
    sold: Counter[str] = Counter()
    for shop in setup.shops:
        with shop.fake.store.lock:
            for order in shop.fake.store.orders.values():
                for line in order.lines:
                    sold[line.merchant_code or ""] += line.quantity
    oversold = sum(max(0, sold[code] - units) for code, units in setup.initial.items())
    return placed, oversold


def _close(setup: _Setup) -> None:
    for server in setup.servers:
        with contextlib.suppress(Exception):
            server.stop()
    setup.store.close()


def measure_oversell_window(
    orders: int,
    *,
    probes: int = 20,
    pull_interval: float = 15.0,
    minutes: float = 10.0,
    warmup: float = 600.0,
    items: int = 16,
    seed: int = 0,
    modes: Sequence[Mode] = ("polling", "events"),
    engine_config: EngineConfig | None = None,
    host: PluginHost | None = None,
    directory: Path | None = None,
) -> OversellWindowResult:
    """Measure the window per channel and the burst's oversold units, per mode.

    ``probes`` orders per channel for the window (a random phase up to one pull
    interval before each); ``orders`` in the burst over ``minutes`` of marketplace
    time. ``warmup`` seconds of virtual time pass after the first sync before anything
    is measured, so each channel's quota is spent as in a running daemon.
    """
    host = host or build_plugin_manager()
    config = engine_config or EngineConfig(order_lookback_hours=1)
    result = OversellWindowResult(orders=orders)
    where = directory or Path(tempfile.mkdtemp(prefix="channelsync-window-"))
    rng = random.Random(seed)  # noqa: S311 - a repeatable run, not security
    blocked = events_blockers(_shops(host, seed=seed, fault_rate=0.0, fault_kinds=None))
    for mode in ("polling", "events"):
        (where / mode).mkdir(parents=True, exist_ok=True)
        if mode not in modes or (mode == "events" and blocked is not None):
            if mode == "events" and mode in modes:
                result.notes.append(f"events figures not measured: {blocked}")
            result.oversold[mode] = None
            continue
        window = _build(
            mode,
            "window",
            host=host,
            seed=seed,
            items=max(items, 2),
            quantity=_PROBE_STOCK,
            pull_interval=pull_interval,
            directory=where / mode,
            engine_config=config,
        )
        try:
            figures = asyncio.run(
                _in_time(window, _measure_window(window, probes, warmup, pull_interval, rng))
            )
        finally:
            _close(window)
        for name, value in figures.items():
            result.channels.setdefault(name, {"events": None, "polling": None})[mode] = value
        skus = max(items, 2) * 2
        burst = _build(
            mode,
            "burst",
            host=host,
            seed=seed,
            items=max(items, 2),
            quantity=max(4, int(orders * 2.25 * 0.9 / skus)),
            pull_interval=pull_interval,
            directory=where / mode,
            engine_config=config,
        )
        try:
            placed, oversold = asyncio.run(
                _in_time(burst, _measure_burst(burst, orders, minutes, warmup, rng))
            )
        finally:
            _close(burst)
        result.placed[mode] = placed
        result.oversold[mode] = oversold
    if directory is None:
        # The run's own stores and logs, of no use once its figures are in (a run that
        # raised keeps them, to be looked at).
        shutil.rmtree(where, ignore_errors=True)
    return result


async def _in_time(setup: _Setup, work: Any) -> Any:
    with setup.clock.running():
        return await work
