"""``channelsync demo``: the daemon against the four fake marketplaces, with buyers.

The fakes are served on loopback; the demo writes a configuration and a catalogue,
imports the catalogue, and starts ``channelsync run`` as a child process with the
fakes' credentials in its environment. Once the first sync has put the catalogue's
stock on every channel, buyers on every channel try to buy the last unit of one SKU
at the same instant, then a steady stream of orders follows, a gift set or a pack of
cups among them every few orders. At the end (or on Ctrl-C) the daemon is stopped with
SIGTERM and a summary checks the outcome: every order imported, nothing oversold, every
channel showing what the engine sent; it shows what each kit's components make beside
what every channel shows of it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.live import Live

from channelsync.bootstrap import open_state
from channelsync.config import load_config
from channelsync.console.serving import require_console_extra
from channelsync.console.settings import DEFAULT_TOKEN_ENV, ConsoleAddress
from channelsync.demo.files import RACE_SKU, demo_environment, write
from channelsync.demo.kits import KITS, KitRow, kit_rows, kits_sold
from channelsync.demo.marketplaces import DemoMarketplace, start_marketplaces
from channelsync.demo.stream import OrderStream, buy
from channelsync.demo.view import ChannelRow, kit_lines, kit_table, plain_lines, table, view
from channelsync.engine.catalogue import import_catalogue, read_catalogue_file
from channelsync.errors import ConfigurationError
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.store import OutboxState, Store, StoreSession

__all__ = ["DemoOutcome", "run_demo"]

_TICK = 0.25
_FIRST_SYNC_TIMEOUT = 45.0
_STOP_TIMEOUT = 20.0
#: How long a stopped demo waits for the daemon to import the last orders.
_SETTLE_TIMEOUT = 30.0


@dataclass
class DemoOutcome:
    """What the demo found at the end."""

    rows: list[ChannelRow] = field(default_factory=list)
    kits: list[KitRow] = field(default_factory=list)
    """What each kit's components make and what every channel shows of it."""
    kits_sold: dict[str, int] = field(default_factory=dict)
    """Units of each kit buyers ordered, on every marketplace."""
    orders_placed: int = 0
    orders_imported: int = 0
    race_winners: list[str] = field(default_factory=list)
    oversold: dict[str, int] = field(default_factory=dict)
    out_of_sync: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    """Listings showing less than was sent while the re-inflation guard holds a raise."""
    daemon_exit: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the run was correct: clean exit, all imported, nothing oversold, in sync."""
        return (
            self.daemon_exit == 0
            and self.orders_imported == self.orders_placed
            and not self.oversold
            and not self.out_of_sync
            and len(self.race_winners) <= 1
        )

    def lines(self) -> list[str]:
        """Return the summary as lines of text."""
        winners = ", ".join(self.race_winners) or "nobody"
        return [
            f"orders placed by buyers: {self.orders_placed}, imported: {self.orders_imported}",
            f"last unit of {RACE_SKU}: buyers on every channel tried at once; sold on {winners}",
            *(
                [
                    "kits sold (each takes its components' units): "
                    + ", ".join(f"{code} {units}" for code, units in self.kits_sold.items())
                ]
                if self.kits_sold
                else []
            ),
            "oversold SKUs: "
            + (", ".join(f"{k} by {v}" for k, v in self.oversold.items()) or "none"),
            "channels showing what the engine sent: "
            + ("all" if not self.out_of_sync else "not " + ", ".join(self.out_of_sync)),
            *(
                [
                    "held back by the re-inflation guard (showing less than sent until the "
                    "orders behind a drop are read): " + ", ".join(self.held)
                ]
                if self.held
                else []
            ),
            f"daemon exit code: {self.daemon_exit}",
        ]


class _Stop(Exception):
    """SIGTERM reached the demo: finish like Ctrl-C."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _throttles(url: str) -> dict[str, int]:
    if not url:
        return {}
    try:
        text = httpx.get(url, timeout=1.0).text
    except httpx.HTTPError:
        return {}
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "channelsync_http_throttles_total":
                channel = sample.labels.get("channel", "")
                counts[channel] = counts.get(channel, 0) + int(sample.value)
    return counts


def _rows(
    store: Store, markets: Sequence[DemoMarketplace], throttles: Mapping[str, int]
) -> list[ChannelRow]:
    rows = []
    with store.transaction() as session:
        for market in markets:
            name = market.channel
            rows.append(
                ChannelRow(
                    channel=name,
                    stock_shown=sum(market.stock().values()),
                    orders_placed=market.orders_placed(),
                    orders_imported=len(session.orders(channel=name)),
                    updates_sent=sum(1 for a in session.audit_trail(channel=name) if a.ok),
                    pending=len(session.outbox(channel=name, state=OutboxState.PENDING)),
                    throttles=throttles.get(name, 0),
                )
            )
    return rows


def _first_sync_done(store: Store, markets: Sequence[DemoMarketplace]) -> bool:
    with store.transaction() as session:
        if session.outbox(state=OutboxState.PENDING):
            return False
        return all(
            session.bindings(channel=m.channel) and session.audit_trail(channel=m.channel)
            for m in markets
        )


def _caught_up(store: Store, markets: Sequence[DemoMarketplace]) -> bool:
    with store.transaction() as session:
        if not all(len(session.orders(channel=m.channel)) == m.orders_placed() for m in markets):
            return False
        out_of_sync, held = _compare(session, markets)
        if out_of_sync:
            return False
        # A raise the re-inflation guard holds stays queued until a later look
        # explains the drop; it is not work the daemon can finish now.
        held_ids = {binding_id for _, binding_id in held}
        pending = session.outbox(state=OutboxState.PENDING)
        return all(item.payload.get("binding_id") in held_ids for item in pending)


def _compare(
    session: StoreSession, markets: Sequence[DemoMarketplace]
) -> tuple[list[str], list[tuple[str, int]]]:
    """Return the listings showing other than what was sent, and those the guard holds.

    A listing showing less than was sent while the re-inflation guard holds its raise
    is safe (it never shows more than exists) and is reported apart.
    """
    out_of_sync: list[str] = []
    held: list[tuple[str, int]] = []
    for market in markets:
        shown = market.stock()
        for binding in session.bindings(channel=market.channel):
            code = binding.merchant_code
            if binding.sku_id is None or binding.sent_quantity is None or code is None:
                continue
            quantity = shown.get(code)
            if quantity == binding.sent_quantity:
                continue
            name = f"{market.channel} {code}"
            if (
                binding.held_since is not None
                and quantity is not None
                and quantity < binding.sent_quantity
            ):
                held.append((name, binding.id))
                continue
            out_of_sync.append(name)
    return out_of_sync, held


def _check(store: Store, markets: Sequence[DemoMarketplace], outcome: DemoOutcome) -> None:
    with store.transaction() as session:
        skus = session.skus()
        positions = session.positions([sku.id for sku in skus])
        codes = {sku.id: sku.merchant_code for sku in skus}
        for sku_id, position in positions.items():
            if position.available < 0:
                outcome.oversold[codes[sku_id]] = -position.available
        outcome.out_of_sync, held = _compare(session, markets)
        outcome.held = [name for name, _ in held]


@dataclass
class _Options:
    duration: float | None
    headless: bool
    seed: int
    rate: float
    daemon_args: tuple[str, ...] = ()
    metrics_port: int | None = None
    console: ConsoleAddress | None = None


def run_demo(
    directory: Path | None = None,
    *,
    duration: float | None = None,
    headless: bool = False,
    seed: int = 0,
    rate: float = 1.0,
    host: PluginHost | None = None,
    console: Console | None = None,
    daemon_args: Sequence[str] = (),
    metrics_port: int | None = None,
    console_address: ConsoleAddress | None = None,
) -> int:
    """Run the demo for ``duration`` seconds (``None``: until Ctrl-C); return an exit code.

    ``daemon_args`` are passed on to the demo's ``channelsync run`` (log level and
    format); ``metrics_port`` fixes its metrics port (default: any free one), and
    ``console_address`` the operator's console's (default: a free loopback port; the
    console is left out when its optional extra is not installed).
    """
    if console is None:
        console = Console(highlight=False, markup=False, soft_wrap=True) if headless else Console()
    host = host or build_plugin_manager()
    markets = start_marketplaces(host, seed=seed)
    if not markets:
        console.print("No installed plugin provides a demo marketplace.")
        return 1
    where = directory or Path(tempfile.mkdtemp(prefix="channelsync-demo-"))
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    try:
        options = _Options(
            duration, headless, seed, rate, tuple(daemon_args), metrics_port, console_address
        )
        demo = _Demo(where, markets, options, console)
        return demo.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        for market in markets:
            market.stop()
        if directory is None:
            # A directory the demo made for itself is not left behind in /tmp.
            shutil.rmtree(where, ignore_errors=True)
            console.print(f"demo files removed from {where} (pass --dir to keep them)")


class _Demo:
    def __init__(
        self, where: Path, markets: list[DemoMarketplace], options: _Options, console: Console
    ) -> None:
        self.where = where
        self.markets = markets
        self.options = options
        self.console = console
        self.outcome = DemoOutcome()
        self.metrics_url = ""
        self.raced = False
        self.throttles: dict[str, int] = {}

    def run(self) -> int:
        files = write(self.where, self.markets)
        config = load_config(files.config)
        say = self.console.print
        with open_state(config) as store:
            import_catalogue(store, read_catalogue_file(files.catalogue), now=datetime.now(UTC))
            port = self.options.metrics_port or _free_port()
            self.metrics_url = f"http://127.0.0.1:{port}/metrics"
            log_path = self.where / "daemon.log"
            say(f"demo files in {self.where} (daemon log: {log_path})")
            for market in self.markets:
                say(f"  {market.channel}: fake {market.type_name} marketplace, {market.server.url}")
                if market.events is not None:
                    say(f"    events pushed on {market.events.url} (polling stays on)")
            env = {**os.environ, **demo_environment(self.markets)}
            command = [sys.executable, "-m", "channelsync.daemon", "--config", str(files.config)]
            command += ["--metrics-port", str(port), *self.options.daemon_args]
            command += self._console()
            # Owner-only, like the store: the log names orders and shops.
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(log_fd, "ab") as log:
                # Its own session: Ctrl-C reaches the demo only, which then stops the
                # daemon with exactly one SIGTERM (a second one makes it exit at once).
                child = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
                try:
                    self._drive(store, child)
                    self._settle(store, child)
                except (KeyboardInterrupt, _Stop):
                    say(
                        "stopping the demo: no new orders, letting the daemon catch up "
                        "(press Ctrl-C again to stop at once)"
                    )
                    self._settle(store, child)
                finally:
                    self._stop(child)
            self.outcome.rows = _rows(store, self.markets, self.throttles)
            self.outcome.kits = kit_rows(store, self.markets)
            self.outcome.kits_sold = kits_sold(
                self.markets, [row.code for row in self.outcome.kits]
            )
            self.outcome.orders_placed = sum(m.orders_placed() for m in self.markets)
            self.outcome.orders_imported = sum(r.orders_imported for r in self.outcome.rows)
            _check(store, self.markets, self.outcome)
        self._summary(log_path)
        return 0 if self.outcome.ok else 1

    def _console(self) -> list[str]:
        """Return the daemon's console flag, and say where the console is (or why not)."""
        say = self.console.print
        try:
            require_console_extra()
        except ConfigurationError as error:
            if self.options.console is not None:
                raise
            say(f"console: not served ({error})")
            return []
        address = self.options.console or ConsoleAddress("127.0.0.1", _free_port())
        say(f"console: {address.url()}")
        if not os.environ.get(DEFAULT_TOKEN_ENV):
            say(f"  read-only: set {DEFAULT_TOKEN_ENV} before the demo to retry or drop from it")
        return ["--console", str(address)]

    def _settle(self, store: Store, child: subprocess.Popen[bytes]) -> None:
        """Give the daemon a bounded time to import the orders placed and send what is due."""
        deadline = time.monotonic() + _SETTLE_TIMEOUT
        try:
            while child.poll() is None and time.monotonic() < deadline:
                if _caught_up(store, self.markets):
                    return
                time.sleep(_TICK)
        except (KeyboardInterrupt, _Stop):
            return

    def _stop(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            self.throttles = _throttles(self.metrics_url) or self.throttles
            child.send_signal(signal.SIGTERM)
        try:
            self.outcome.daemon_exit = child.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            self.outcome.daemon_exit = child.wait()

    def _summary(self, log_path: Path) -> None:
        say = self.console.print
        if self.options.headless:
            for line in plain_lines(self.outcome.rows, prefix="final"):
                say(line)
            for line in kit_lines(self.outcome.kits, prefix="final"):
                say(line)
        else:
            say(table(self.outcome.rows, title="channelsync demo: final", notes={}))
            if self.outcome.kits:
                say(kit_table(self.outcome.kits))
        for line in self.outcome.lines():
            say(line)
        if self.outcome.daemon_exit not in (0, None):
            say(f"the daemon failed; see {log_path}")

    def _phase(self, store: Store, elapsed: float, stream: OrderStream) -> str:
        duration = self.options.duration
        settle = min(8.0, duration / 3) if duration is not None else 0.0
        if not self.raced:
            if _first_sync_done(store, self.markets) or elapsed > _FIRST_SYNC_TIMEOUT:
                winners = [m.channel for m in self.markets if buy(m, RACE_SKU)]
                self.outcome.race_winners = winners
                self.raced = True
            else:
                return "first sync: putting the catalogue's stock on every channel"
        if duration is None or elapsed < duration - settle:
            stream.tick(_TICK)
            return "buyers ordering"
        return "orders stopped: letting the daemon catch up"

    def _drive(self, store: Store, child: subprocess.Popen[bytes]) -> None:
        duration = self.options.duration
        start = time.monotonic()
        stream = OrderStream(
            self.markets,
            rate=self.options.rate,
            seed=self.options.seed,
            featured=[kit.code for kit in KITS],
        )
        self.raced = False
        last_print = -5.0
        live = None
        if not self.options.headless:
            live = Live(console=self.console, refresh_per_second=4)
            live.start()
        try:
            while child.poll() is None:
                elapsed = time.monotonic() - start
                if duration is not None and elapsed >= duration:
                    return
                phase = self._phase(store, elapsed, stream)
                if live is not None or elapsed - last_print >= 5:
                    last_print = elapsed
                    self._show(store, live, phase, elapsed)
                time.sleep(_TICK)
            self.console.print("the daemon exited early")
        finally:
            if live is not None:
                live.stop()

    def _show(self, store: Store, live: Live | None, phase: str, elapsed: float) -> None:
        self.throttles = _throttles(self.metrics_url) or self.throttles
        rows = _rows(store, self.markets, self.throttles)
        kits = kit_rows(store, self.markets)
        duration = self.options.duration
        clock = f"{elapsed:5.1f}s" + (f" of {duration:g}s" if duration else "")
        if live is None:
            self.console.print(f"[{clock}] {phase}")
            for line in [*plain_lines(rows, prefix=" "), *kit_lines(kits, prefix=" ")]:
                self.console.print(line)
            return
        notes = {"phase": phase}
        if self.raced:
            winners = ", ".join(self.outcome.race_winners) or "nobody"
            notes[f"last unit of {RACE_SKU}"] = f"sold on {winners}"
        live.update(view(rows, kits, title=f"channelsync demo {clock}", notes=notes))
