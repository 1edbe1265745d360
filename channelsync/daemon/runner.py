"""The daemon: every channel's work, concurrently, in one asyncio process, until stopped.

Per channel, independent tasks run:

* the **pull loop** pulls and applies new orders every ``pull_interval`` seconds (per
  channel), then plans what they changed and wakes every channel's flush loop;
* the **flush loop** sends the channel's outbox as soon as there is work (the channel's
  transport paces the calls to its rate limits) and looks again every
  ``flush_interval`` seconds for entries whose retry time has come;
* the **reconcile loop** (when the engine provides reconciliation) reads the channel's
  listings every ``reconcile_interval`` seconds and corrects drift;
* the **events pump** (a channel that can listen, with ``events`` on) writes each pushed
  event to the inbox, acknowledges it and answers it with a targeted read
  (:mod:`channelsync.daemon.listening`); polling goes on beside it.

A paused channel (:mod:`channelsync.engine.pausing`) makes no marketplace call: its
loops finish the step in flight and wait for the resume, read from the store every
``observe_interval`` seconds (or at once by :meth:`Daemon.refresh_paused`). Its
listener keeps writing events to the inbox; their reads wait for the resume.

A failing step is logged (naming the channel), counted by error class and retried
after a growing backoff; it never touches another channel's tasks. A lease in the
store (:class:`~channelsync.store.StoreLease`) keeps a second daemon off the same store.

:meth:`Daemon.stop` (the first SIGTERM or SIGINT) stops new work: each loop finishes
the step in flight, up to ``shutdown_grace`` seconds, after which the remaining steps
are cancelled. Cancelling is safe: the engine commits each order, each send's answer
and each cursor move in its own transaction, and its outbox and dedupe make a
repeated step harmless, so the next run picks up where this one stopped.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channelsync.channels import Channel, OrdersCapability
from channelsync.clock import Clock, SystemClock
from channelsync.config import DaemonConfig
from channelsync.daemon.listening import EventPump, listens
from channelsync.daemon.logs import working_on
from channelsync.daemon.metrics import DaemonMetrics, HealthReport, health, transport_totals
from channelsync.daemon.pauses import PauseGate
from channelsync.daemon.status import ChannelStatus
from channelsync.engine.pausing import Pause
from channelsync.engine.privacy import erase_personal_data
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ChannelError
from channelsync.store import StoreLease

__all__ = ["Daemon", "find_reconcile"]

logger = logging.getLogger(__name__)

ReconcileStep = Callable[[Any, Channel[Any]], Awaitable[Any]]

CURSOR_KIND = "orders"
#: How often the daemon erases personal data past its retention (seconds).
_PRIVACY_EVERY = 3600.0


def find_reconcile() -> ReconcileStep | None:
    """Return the engine's ``reconcile_channel(context, channel)`` if it provides one."""
    try:
        module = importlib.import_module("channelsync.engine.reconcile")
    except ImportError:
        return None
    step = getattr(module, "reconcile_channel", None)
    return step if callable(step) else None


@dataclass
class _Loop:
    """One channel loop's failure streak, for backoff."""

    failures: int = 0

    def pause(self, base: float, ceiling: float) -> float:
        if self.failures == 0:
            return base
        return max(base, min(ceiling, base * 2.0 ** (self.failures - 1)))


class Daemon:
    """Runs the engine's steps for every channel until :meth:`stop` is called."""

    def __init__(
        self,
        engine: SyncEngine,
        settings: DaemonConfig | None = None,
        *,
        clock: Clock | None = None,
        lease: StoreLease | None = None,
        metrics: DaemonMetrics | None = None,
        reconcile: ReconcileStep | None = None,
        observe_interval: float = 2.0,
    ) -> None:
        self.engine = engine
        self.settings = settings or DaemonConfig()
        self.clock: Clock = clock or SystemClock()
        self.lease = lease
        self.metrics = metrics or DaemonMetrics()
        for channel in engine.channels.values():
            self.metrics.add_transport_registry(channel.metrics.registry)
            # The pull interval is part of how late a channel's orders are seen.
            engine.context.visibility.set_pull_interval(
                channel.name, self.settings.pull_interval_of(channel.name)
            )
        self.reconcile = reconcile if reconcile is not None else find_reconcile()
        self.observe_interval = observe_interval
        self.status = {
            name: ChannelStatus(name, type_name=channel.type_name)
            for name, channel in engine.channels.items()
        }
        self.lost_lock = False
        self._gate = PauseGate(engine.store, self.status, self.clock)
        self._stopping: asyncio.Event | None = None
        self._wake: dict[str, asyncio.Event] = {}
        self._listeners: list[Callable[[], None]] = []

    # -- control ----------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stopping is not None and self._stopping.is_set()

    def stop(self) -> None:
        """Stop taking new work; :meth:`run` returns once work in flight is done or dropped."""
        if self._stopping is not None and not self._stopping.is_set():
            logger.info("stopping: finishing the work in flight")
            self._stopping.set()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (in the loop) whenever the channels' status was refreshed."""
        self._listeners.append(listener)

    def health(self) -> HealthReport:
        """Judge every channel's freshness now."""
        return health(self.status.values(), self.clock.now(), self.settings.stale_after)

    @property
    def paused(self) -> dict[str, Pause]:
        """The daemon's channels that are paused, as last read from the store."""
        return dict(self._gate.paused)

    def refresh_paused(self) -> dict[str, Pause]:
        """Read the pauses from the store and apply them now; return the paused channels.

        For a caller in this process that has just paused or resumed a channel (the
        daemon reads them every ``observe_interval`` seconds anyway). May be called
        from another thread: the change is then applied in the daemon's loop.
        """
        return self._gate.refresh()

    # -- running ----------------------------------------------------------------------

    async def run(self) -> None:
        """Take the store lock and run every channel until stopped.

        Raises :class:`~channelsync.store.StoreLockedError` when another daemon holds
        the store.
        """
        self._gate.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._wake = {name: asyncio.Event() for name in self.engine.channels}
        # Read before any channel starts: a paused one must not make a single call.
        paused = self._gate.read()
        if self.lease is not None:
            self.lease.acquire()
        now = self.clock.now()
        for status in self.status.values():
            status.started = now
        logger.info(
            "daemon started with %d channel(s): %s",
            len(self.engine.channels),
            ", ".join(self.engine.channels) or "none",
        )
        self._gate.apply(paused)
        helpers = [
            asyncio.create_task(self._observe_loop(), name="observe"),
            asyncio.create_task(self._privacy_loop(), name="privacy"),
        ]
        if self.lease is not None:
            helpers.append(asyncio.create_task(self._heartbeat_loop(), name="heartbeat"))
        channels = [
            asyncio.create_task(self._run_channel(name), name=f"channel {name}")
            for name in self.engine.channels
        ]
        try:
            await self._stopping.wait()
            if channels:
                _, late = await asyncio.wait(channels, timeout=self.settings.shutdown_grace)
                if late:
                    names = sorted(t.get_name().removeprefix("channel ") for t in late)
                    logger.warning(
                        "abandoning work still in flight after %gs on %d channel(s) (%s); "
                        "it is repeated safely on the next start",
                        self.settings.shutdown_grace,
                        len(late),
                        ", ".join(names),
                    )
        finally:
            for task in [*channels, *helpers]:
                task.cancel()
            await asyncio.gather(*channels, *helpers, return_exceptions=True)
            self._refresh()
            if self.lease is not None and self.lease.held:
                self.lease.release()
            logger.info("daemon stopped")

    async def _run_channel(self, name: str) -> None:
        channel = self.engine.channels[name]
        with working_on(name):
            loop = _Loop()
            while not self.stopping:
                if not await self._resumed(name):
                    break
                try:
                    await channel.open()
                    break
                except ChannelError as error:
                    loop.failures += 1
                    self._failed(name, "open", error)
                except Exception as error:  # noqa: BLE001 - e.g. a credential store that cannot be read
                    loop.failures += 1
                    self._failed(name, "open", error, unexpected=True)
                await self._pause(
                    loop.pause(self.settings.flush_interval, self.settings.max_backoff)
                )
            if not channel.is_open:
                return
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._pull_loop(name))
                    group.create_task(self._flush_loop(name))
                    if self.reconcile is not None:
                        group.create_task(self._reconcile_loop(name))
                    if listens(channel):
                        group.create_task(self._listen_loop(name))
            finally:
                await channel.close()

    async def _pull_loop(self, name: str) -> None:
        loop = _Loop()
        interval = self.settings.pull_interval_of(name)
        bound = False
        while not self.stopping:
            if not await self._resumed(name):
                break
            try:
                if not bound:
                    report = await self.engine.bind_new(name)
                    if report is not None:
                        logger.info("bound listings by merchant code: %s", report.summary())
                    bound = True
                    # Send the catalogue's stock now, not after a first pull that may
                    # walk a day of order windows.
                    if any((await self.engine.replan_in_slices()).queued.values()):
                        self.wake_all()
                ingest = await self.engine.pull(name)
                plan = await self.engine.replan_in_slices()
            except ChannelError as error:
                loop.failures += 1
                self._failed(name, "pull", error)
            except Exception as error:  # noqa: BLE001 - one channel's bug must not stop the rest
                loop.failures += 1
                self._failed(name, "pull", error, unexpected=True)
            else:
                loop.failures = 0
                now = self.clock.now()
                status = self.status[name]
                if ingest is not None:
                    status.last_pull = now
                    status.orders_imported += ingest.imported
                    status.parked_now += ingest.parked
                    self.metrics.orders_imported.labels(name).inc(ingest.imported)
                    if ingest.imported:
                        logger.info("imported %d order change(s)", ingest.imported)
                self._succeeded(name, "pull")
                if (ingest is not None and ingest.imported) or any(plan.queued.values()):
                    self.wake_all()
            await self._pause(loop.pause(interval, self.settings.max_backoff))

    async def _flush_loop(self, name: str) -> None:
        loop = _Loop()
        wake = self._wake[name]
        while not self.stopping:
            if not await self._resumed(name):
                break
            wake.clear()
            try:
                report = await self.engine.flush(name)
            except ChannelError as error:
                loop.failures += 1
                self._failed(name, "flush", error)
            except Exception as error:  # noqa: BLE001 - one channel's bug must not stop the rest
                loop.failures += 1
                self._failed(name, "flush", error, unexpected=True)
            else:
                loop.failures = 0
                status = self.status[name]
                status.updates_sent += report.sent
                status.retried += report.retried
                status.parked_now += report.parked
                self.metrics.updates_sent.labels(name).inc(report.sent)
                for failure in report.failures:
                    logger.warning("parked: %s", failure)
                if report.sent:
                    status.last_flush = self.clock.now()
                    logger.info("sent %d update(s)", report.sent)
                    self._succeeded(name, "flush")
                if report.calls and not report.deferred:
                    continue  # more may have been queued while this batch was out
            await self._pause(
                loop.pause(self.settings.flush_interval, self.settings.max_backoff), wake
            )

    async def _reconcile_loop(self, name: str) -> None:
        assert self.reconcile is not None
        loop = _Loop()
        channel = self.engine.channels[name]
        while True:
            await self._pause(
                loop.pause(self.settings.reconcile_interval, self.settings.max_backoff)
            )
            if self.stopping or not await self._resumed(name):
                return
            try:
                report = await self.reconcile(self.engine.context, channel)
            except ChannelError as error:
                loop.failures += 1
                self._failed(name, "reconcile", error)
            except Exception as error:  # noqa: BLE001 - one channel's bug must not stop the rest
                loop.failures += 1
                self._failed(name, "reconcile", error, unexpected=True)
            else:
                loop.failures = 0
                summary = getattr(report, "summary", None)
                logger.info("reconciled: %s", summary() if callable(summary) else report)
                self._succeeded(name, "reconcile")
                self.wake(name)

    async def _listen_loop(self, name: str) -> None:
        """Keep the channel's events pump running; restart it after an unexpected failure."""
        assert self._stopping is not None
        loop = _Loop()
        while not self.stopping:
            pump = EventPump(
                self.engine,
                name,
                status=self.status[name],
                metrics=self.metrics,
                wake_all=self.wake_all,
                stopping=self._stopping,
                until_resumed=functools.partial(self._gate.until_resumed, name, self._stopping),
            )
            try:
                await pump.run()
            except Exception as error:  # noqa: BLE001 - a listener must never stop the channel
                loop.failures += 1
                self._failed(name, "listen", error, unexpected=not isinstance(error, ChannelError))
            # Ended or failed while the daemon runs: polling covers the gap, then listen again.
            self.engine.context.visibility.set_events(name, False)
            if not self.stopping:
                await self._pause(loop.pause(1.0, self.settings.max_backoff))

    async def _privacy_loop(self) -> None:
        """Erase buyers' personal data past its retention, at start and then hourly."""
        retention = timedelta(days=self.settings.personal_data_days)
        while not self.stopping:
            try:
                erase_personal_data(self.engine.context, retention, incremental=True)
            except Exception:
                logger.warning("could not erase personal data past retention", exc_info=True)
            await self._pause(_PRIVACY_EVERY)

    async def _heartbeat_loop(self) -> None:
        assert self.lease is not None
        beat = self.settings.lock_ttl / 3
        while not self.stopping:
            await self._pause(beat)
            try:
                held = self.lease.renew()
            except Exception:
                logger.warning("could not renew the store lock; retrying", exc_info=True)
                continue
            if not held:
                logger.error("the store lock was taken over by another daemon; stopping")
                self.lost_lock = True
                self.stop()

    async def _observe_loop(self) -> None:
        while not self.stopping:
            try:
                self._refresh()
            except Exception:
                logger.warning("could not read the channels' state", exc_info=True)
            await self._pause(self.observe_interval)

    # -- helpers ----------------------------------------------------------------------

    def wake(self, name: str) -> None:
        """Make channel ``name``'s flush loop look for work now."""
        event = self._wake.get(name)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        """Make every flush loop look for work now."""
        for event in self._wake.values():
            event.set()

    async def _pause(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        assert self._stopping is not None
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    def _succeeded(self, name: str, step: str) -> None:
        # A channel with orders is in sync only while its pulls succeed: sends alone
        # would hide orders going unread (and the oversells that follow).
        if step != "pull" and isinstance(self.engine.channels[name], OrdersCapability):
            return
        status = self.status[name]
        status.last_sync = self.clock.now()
        if status.failing_since is not None:
            logger.info("recovered")
        status.failing_since = None
        status.last_error = None

    def _failed(
        self, name: str, step: str, error: BaseException, *, unexpected: bool = False
    ) -> None:
        kind = type(error).__name__
        status = self.status[name]
        status.errors += 1
        status.errors_by_class[kind] = status.errors_by_class.get(kind, 0) + 1
        status.last_error = f"{step}: {kind}: {error}"
        now = self.clock.now()
        status.recent_errors.append((now, status.last_error))
        if status.failing_since is None:
            status.failing_since = now
        self.metrics.errors.labels(name, step, kind).inc()
        if unexpected:
            logger.error("%s failed unexpectedly", step, exc_info=error)
        else:
            logger.warning("%s failed (%s): %s", step, kind, error)

    async def _resumed(self, name: str) -> bool:
        """Wait while channel ``name`` is paused; return whether to go on (not stopping)."""
        assert self._stopping is not None
        await self._gate.until_resumed(name, self._stopping)
        return not self._stopping.is_set()

    def _refresh(self) -> None:
        self._gate.refresh()
        now = self.clock.now()
        shown = self._stock_shown()
        with self.engine.store.transaction() as session:
            cursors = {name: session.cursor(name, CURSOR_KIND) for name in self.status}
        report = self.health()
        for name, status in self.status.items():
            depth, _, parked = self.engine.backlog(name)
            status.outbox_depth = depth
            status.parked = parked
            status.stock_shown = shown.get(name, 0)
            cursor = cursors.get(name)
            status.order_lag = (now - cursor[0]).total_seconds() if cursor else None
            requests, throttles, retries = transport_totals(self.engine.channels[name])
            status.requests, status.throttles, status.retries = requests, throttles, retries
            ok = bool(report.channels.get(name, {}).get("ok", True))
            self.metrics.observe(status, healthy=ok)
        for listener in self._listeners:
            listener()

    def _stock_shown(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        with self.engine.store.transaction() as session:
            for name in self.status:
                total = 0
                for binding in session.bindings(channel=name):
                    if binding.sku_id is None:
                        continue
                    value = binding.sent_quantity
                    if value is None:
                        value = binding.channel_quantity
                    total += value or 0
                totals[name] = total
        return totals
