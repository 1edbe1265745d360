"""One sync cycle: pull orders, apply them, compute allocations and prices, flush the outbox.

:class:`SyncEngine` is the SDK's entry point to the engine. ``run_cycle`` is what
``channelsync sync --once`` runs; ``plan`` is what ``channelsync plan`` shows. One
channel failing (a marketplace down, credentials rejected) is reported in the
summary and never stops the other channels.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from channelsync.channels import (
    Capability,
    Channel,
    ListingsCapability,
    OrderCountCapability,
    OrdersCapability,
    RefundsCapability,
)
from channelsync.clock import Clock, SystemClock
from channelsync.config import ChannelSyncSettings, Config, EngineConfig
from channelsync.engine.binding import BindReport, bind_channel
from channelsync.engine.budgets import budgeted
from channelsync.engine.completeness import CompletenessReport, check_completeness
from channelsync.engine.context import ChannelInfo, EngineContext, until_ended
from channelsync.engine.orders import IngestReport, ingest_orders
from channelsync.engine.outbox import FlushReport, flush_channel
from channelsync.engine.pace import ChannelVisibility, Visibility
from channelsync.engine.pace_change import note_delays
from channelsync.engine.planner import PlanReport, plan_changes
from channelsync.engine.refunds import RefundReport, ingest_refunds
from channelsync.engine.sales_window import note_sales_window
from channelsync.engine.settings_change import note_settings
from channelsync.engine.shipments import flush_shipments
from channelsync.errors import ChannelError
from channelsync.plugins import PluginHost
from channelsync.store import OutboxState, Store, StoreSession

__all__ = ["REPLAN_SLICE", "SLICES_AT_ONCE", "ChannelSummary", "CycleSummary", "SyncEngine"]

#: How many changed SKUs :meth:`SyncEngine.replan_in_slices` plans per transaction.
REPLAN_SLICE = 1_000

#: How many slices :meth:`SyncEngine.replan_in_slices` plans at once on a store of many
#: writers (PostgreSQL): while one slice's statements wait for the database, the next
#: is planned in this process. Measured (``engine_cycle.py``, 10,000 SKUs x 4, every
#: price raised, interleaved runs): one at a time 2.8-3.5 s, two 2.2-2.5 s; three were
#: no faster than two (the machine's two cores are this process and the server).
SLICES_AT_ONCE = 2

logger = logging.getLogger(__name__)


@dataclass
class ChannelSummary:
    """What a cycle did on one channel."""

    channel: str
    orders_imported: int = 0
    orders_parked: int = 0
    sent: int = 0
    retried: int = 0
    parked: int = 0
    held: int = 0
    """Stock raises the re-inflation guard held back (an order is in flight)."""
    calls: int = 0
    refunds_applied: int = 0
    refunds_parked: int = 0
    unrestocked: list[str] = field(default_factory=list)
    """Returns the engine could not restock by itself."""
    completeness: list[dict[str, Any]] = field(default_factory=list)
    """Windows in which the marketplace counts other than the orders imported."""
    errors: list[str] = field(default_factory=list)


@dataclass
class CycleSummary:
    """What one cycle did, per channel, and what it found."""

    channels: dict[str, ChannelSummary] = field(default_factory=dict)
    oversold: dict[str, int] = field(default_factory=dict)
    overcommitted: list[str] = field(default_factory=list)
    low_stock: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain data (for ``--json``)."""
        return {
            "channels": {name: asdict(s) for name, s in self.channels.items()},
            "orders_imported": sum(s.orders_imported for s in self.channels.values()),
            "sent": sum(s.sent for s in self.channels.values()),
            "parked": sum(s.parked for s in self.channels.values()),
            "held": sum(s.held for s in self.channels.values()),
            "oversold": self.oversold,
            "overcommitted": self.overcommitted,
            "low_stock": self.low_stock,
            "failures": self.failures,
        }


class SyncEngine:
    """The sync engine over a store and a set of channels."""

    def __init__(
        self,
        store: Store,
        channels: Sequence[Channel[Any]],
        *,
        settings: Mapping[str, ChannelSyncSettings] | None = None,
        config: EngineConfig | None = None,
        host: PluginHost | None = None,
        clock: Clock | None = None,
    ) -> None:
        settings = settings or {}
        self.channels = {channel.name: channel for channel in channels}
        self.context = EngineContext(
            store=store,
            clock=clock or SystemClock(),
            channels={
                c.name: ChannelInfo.of(c, settings.get(c.name, ChannelSyncSettings()))
                for c in channels
            },
            config=config or EngineConfig(),
            host=host,
        )
        self.context.visibility = Visibility(
            channels={c.name: ChannelVisibility.of(c) for c in channels},
            fresh_reads=self.context.config.fresh_reads,
        )
        self._settings_noted = False
        # The channels' visibility delays the last planning pass planned with.
        self._planned_delays: dict[str, float] | None = None
        # The sales window's start the last planning pass recorded.
        self._sales_window: datetime | None = None

    @classmethod
    def from_config(
        cls,
        config: Config,
        store: Store,
        channels: Sequence[Channel[Any]],
        *,
        host: PluginHost | None = None,
        clock: Clock | None = None,
    ) -> SyncEngine:
        """Build the engine with the allocation and price settings of a config file."""
        return cls(
            store,
            channels,
            settings={entry.name: entry.sync for entry in config.channels},
            config=config.engine,
            host=host,
            clock=clock,
        )

    @property
    def store(self) -> Store:
        """The state store."""
        return self.context.store

    async def _open(self, stack: AsyncExitStack, names: Iterable[str]) -> None:
        for name in names:
            channel = self.channels[name]
            if not channel.is_open:
                await stack.enter_async_context(channel)

    def secret_values(self) -> list[str]:
        """Return every credential value of the channels, for the log to scrub."""
        return [
            value
            for channel in self.channels.values()
            for field in channel.all_credential_fields()
            if (value := channel.credentials.get(field))
        ]

    async def bind(self, names: Iterable[str] | None = None) -> list[BindReport]:
        """Bind listings to SKUs by merchant code on these channels (default: all that list)."""
        chosen = list(names) if names is not None else list(self.channels)
        reports = []
        async with AsyncExitStack() as stack:
            await self._open(stack, chosen)
            for name in chosen:
                reports.append(await bind_channel(self.context, self.channels[name]))
        return reports

    async def run_cycle(self) -> CycleSummary:
        """Run one full cycle and return its summary."""
        summary = CycleSummary(channels={n: ChannelSummary(n) for n in self.channels})
        plan = PlanReport()
        async with AsyncExitStack() as stack:
            await self._open(stack, self.channels)
            await self._bind_new(summary)
            # Channels are worked side by side, as the daemon works them: a cycle costs
            # the slowest channel's calls, not the sum of every channel's.
            await _side_by_side(self._pull(name, summary, plan) for name in self.channels)
            plan.add(await self._plan_in_slices())
            self._alerts(plan, summary)
            await _side_by_side(self._send(name, summary) for name in self.channels)
        summary.oversold = plan.oversold
        summary.overcommitted = sorted(set(plan.overcommitted))
        for code, units in sorted(plan.oversold.items()):
            logger.warning("SKU %s is oversold by %d unit(s)", code, units)
        return summary

    async def _pull(self, name: str, summary: CycleSummary, plan: PlanReport) -> None:
        channel = self.channels[name]
        if not isinstance(channel, OrdersCapability):
            return
        async with budgeted(self.context, channel):
            try:
                ingest = await ingest_orders(self.context, channel)
            except ChannelError as error:
                self._failed(summary, name, "pulling orders", error)
                return
            summary.channels[name].orders_imported += ingest.imported
            summary.channels[name].orders_parked += ingest.parked
            plan.add(ingest.plan)
            await self._refunds_and_count(name, summary, plan)

    async def _send(self, name: str, summary: CycleSummary) -> None:
        channel = self.channels[name]
        report = FlushReport()
        try:
            async with budgeted(self.context, channel):
                report.add(await flush_channel(self.context, channel))
                report.add(await flush_shipments(self.context, channel))
        except ChannelError as error:
            self._failed(summary, name, "sending", error)
        channel_summary = summary.channels[name]
        channel_summary.sent += report.sent
        channel_summary.retried += report.retried
        channel_summary.parked += report.parked
        channel_summary.held += len(report.held)
        channel_summary.calls += report.calls
        summary.failures += report.failures

    async def _bind_new(self, summary: CycleSummary) -> None:
        with self.store.transaction() as session:
            unbound = [n for n in self.channels if not session.has_bindings(n)]
        await _side_by_side(self._bind(name, summary) for name in unbound)

    async def _bind(self, name: str, summary: CycleSummary) -> None:
        channel = self.channels[name]
        if not channel.supports(Capability.LISTINGS):
            return
        assert isinstance(channel, ListingsCapability)
        try:
            await bind_channel(self.context, channel)
        except ChannelError as error:
            self._failed(summary, name, "reading listings", error)

    async def _refunds_and_count(self, name: str, summary: CycleSummary, plan: PlanReport) -> None:
        channel_summary = summary.channels[name]
        try:
            refunds = await self.pull_refunds(name)
        except ChannelError as error:
            self._failed(summary, name, "pulling refunds", error)
        else:
            if refunds is not None:
                channel_summary.refunds_applied += refunds.applied
                channel_summary.refunds_parked += refunds.parked
                channel_summary.unrestocked += refunds.unresolved
                plan.add(refunds.plan)
        try:
            counted = await self.check_orders(name)
        except ChannelError as error:
            self._failed(summary, name, "counting orders", error)
        else:
            if counted is not None:
                channel_summary.completeness += [
                    {**m.to_dict(), "message": m.describe()} for m in counted.mismatches
                ]

    def _failed(self, summary: CycleSummary, name: str, step: str, error: ChannelError) -> None:
        message = f"{step}: {error}"
        logger.warning("channel %s failed %s", name, message)
        summary.channels[name].errors.append(message)

    def _alerts(self, plan: PlanReport, summary: CycleSummary) -> None:
        summary.low_stock += [alert.merchant_code for alert in plan.alerts]
        self._raise_alerts(plan)

    # -- per-channel steps (what the daemon schedules, one channel at a time) ----------

    def is_bound(self, name: str) -> bool:
        """Whether any listing of channel ``name`` is bound (or recorded) yet."""
        with self.store.transaction() as session:
            return session.has_bindings(name)

    async def bind_new(self, name: str) -> BindReport | None:
        """Bind channel ``name``'s listings if it has none yet (its first run); needs it open."""
        channel = self.channels[name]
        if self.is_bound(name) or not channel.supports(Capability.LISTINGS):
            return None
        assert isinstance(channel, ListingsCapability)
        return await bind_channel(self.context, channel)

    async def pull(self, name: str) -> IngestReport | None:
        """Pull and apply channel ``name``'s new orders (``None``: it has no orders).

        The channel must be open. What the orders change for the other channels is
        queued in the outbox by the same transactions; low-stock alerts are raised.
        """
        channel = self.channels[name]
        if not isinstance(channel, OrdersCapability):
            return None
        async with budgeted(self.context, channel):
            report = await ingest_orders(self.context, channel)
            self._raise_alerts(report.plan)
            refunds = await self.pull_refunds(name)
            if refunds is not None:
                self._raise_alerts(refunds.plan)
            await self.check_orders(name)
        return report

    async def pull_refunds(self, name: str) -> RefundReport | None:
        """Pull and apply channel ``name``'s refunds (``None``: it has no refunds); needs it open.

        Returned goods are restocked and refunds before shipping release their
        reservation; what that changes for every channel is queued in the outbox.
        """
        channel = self.channels[name]
        if not isinstance(channel, RefundsCapability):
            return None
        return await ingest_refunds(self.context, channel)

    async def check_orders(self, name: str) -> CompletenessReport | None:
        """Compare channel ``name``'s own order count with the orders imported, per window.

        ``None`` when the channel cannot count its orders; mismatches are also
        written to the audit trail. The channel must be open.
        """
        channel = self.channels[name]
        if not isinstance(channel, OrderCountCapability):
            return None
        return await check_completeness(self.context, channel)

    def replan(self) -> PlanReport:
        """Queue the allocation and price changes of every SKU marked changed.

        One transaction, on the calling thread: see :meth:`replan_in_slices` for a
        caller with other work on its event loop.
        """
        with self.store.transaction() as session:
            self._note_settings(session)
            delays = note_delays(session, self.context, self._planned_delays)
            window = note_sales_window(session, self.context, self._sales_window)
            report = plan_changes(session, self.context)
        self._planned_delays, self._sales_window = delays, window
        self._raise_alerts(report)
        return report

    async def replan_in_slices(self) -> PlanReport:
        """Queue what :meth:`replan` queues, :data:`REPLAN_SLICE` SKUs per transaction.

        Each slice commits on its own (a SKU's plan with the clearing of its mark),
        through :meth:`EngineContext.transact`: off the event loop on PostgreSQL, and
        on SQLite the loop goes on between slices. A whole catalogue marked changed (a
        channel bound, a settings change, an import) then never holds the daemon's or a
        worker's other channels back for the whole plan. A SKU marked again meanwhile is
        planned by the next pass. On PostgreSQL :data:`SLICES_AT_ONCE` slices are planned
        at once; should one fail, the error is raised once the others have ended.
        """
        report = await self._plan_in_slices()
        self._raise_alerts(report)
        return report

    async def _plan_in_slices(self) -> PlanReport:
        """Plan every SKU marked changed in slices (see :meth:`replan_in_slices`)."""
        with self.store.transaction() as session:
            self._note_settings(session)
            delays = note_delays(session, self.context, self._planned_delays)
            window = note_sales_window(session, self.context, self._sales_window)
            ids = list(session.changed_skus())
        self._planned_delays, self._sales_window = delays, window
        # Two slices planned at once are two transactions on disjoint SKUs, as two
        # workers' replans are (or two channels' in one daemon, on the same SKUs).
        width = SLICES_AT_ONCE if self.store.concurrent_writers else 1
        report = PlanReport()
        running: deque[asyncio.Future[PlanReport]] = deque()
        try:
            for start in range(0, len(ids), REPLAN_SLICE):
                chunk = ids[start : start + REPLAN_SLICE]
                work = self.context.transact(self._planner(chunk), rows=len(chunk))
                running.append(asyncio.ensure_future(work))
                if len(running) >= width:
                    report.add(await running.popleft())
                await asyncio.sleep(0)  # inline on SQLite: the other steps go on between slices
            while running:
                report.add(await running.popleft())
        finally:
            await _ended(running)
        return report

    def _planner(self, sku_ids: list[int]) -> Callable[[StoreSession], PlanReport]:
        def plan(session: StoreSession) -> PlanReport:
            return plan_changes(session, self.context, sku_ids)

        return plan

    def _note_settings(self, session: StoreSession) -> None:
        if self._settings_noted:
            return
        changed = note_settings(session, self.context)
        if changed:
            logger.info("settings of %s changed: replanning every SKU", ", ".join(changed))
        self._settings_noted = True

    async def flush(self, name: str) -> FlushReport:
        """Send channel ``name``'s due outbox entries and queued shipments; needs it open."""
        channel = self.channels[name]
        report = FlushReport()
        async with budgeted(self.context, channel):
            report.add(await flush_channel(self.context, channel))
            report.add(await flush_shipments(self.context, channel))
        return report

    def backlog(self, name: str) -> tuple[int, int, int]:
        """Return channel ``name``'s pending entries, those due now, and its parked ones."""
        now = self.context.clock.now()
        with self.store.transaction() as session:
            pending = session.outbox(channel=name, state=OutboxState.PENDING)
            parked = len(session.outbox(channel=name, state=OutboxState.PARKED))
            parked += len(session.parked(channel=name))
        due = sum(1 for item in pending if item.next_attempt_at <= now)
        return len(pending), due, parked

    def _raise_alerts(self, plan: PlanReport) -> None:
        if self.context.host is not None:
            for alert in plan.alerts:
                self.context.host.low_stock(alert)

    def plan(self) -> dict[str, list[dict[str, Any]]]:
        """Return what the next cycle would send per channel, without sending or saving it.

        Orders not yet pulled are not included: the plan covers stock, price and
        listing changes from the state already stored, and queued shipments.
        """
        preview: dict[str, list[dict[str, Any]]] = {name: [] for name in self.channels}
        with self.store.preview() as session:
            note_settings(session, self.context)
            plan_changes(session, self.context)
            for item in session.outbox(state=OutboxState.PENDING):
                preview.setdefault(item.channel, []).append(
                    {"kind": item.kind, "key": item.key, **dict(item.payload)}
                )
        return preview


async def _ended(running: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what has not ended, and return once all has (after a failure, a cancel).

    A slice whose transaction runs in a thread cannot be stopped: the step ends after
    it, committed or not, as a step on its own does (see ``EngineContext.transact``).
    What a slice raised then is the first failure's consequence and is dropped.
    """
    left = [future for future in running if not future.done()]
    for future in left:
        future.cancel()
    await until_ended(left)
    for future in running:
        if not future.cancelled():
            future.exception()  # retrieved: never reported as "never retrieved"


async def _side_by_side(steps: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run one step per channel concurrently; a failure cancels the others and is raised.

    A marketplace's failure is handled inside each step; what escapes is a crash (a
    bug, a stop), raised as itself rather than wrapped in an exception group, after
    the other channels' steps were cancelled, not left running past their close.
    """
    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                group.create_task(step)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 - the step's own error, with its traceback
