"""What a worker process keeps between jobs, and each channel step as the daemon runs it.

A :class:`WorkerRuntime` holds the engine (its store and its channels) for the life of
the worker. A channel is opened by the first job that needs it and stays open, as in
the daemon, so a marketplace session or token is not set up again for every step;
the runtime closes them when the worker stops. Each step:

* names its channel on every log line (as the daemon's loops do);
* does nothing while the channel is paused (:mod:`channelsync.engine.pausing`): the
  pause is read from the store when the step starts, and a step already running
  finishes, as in the daemon;
* logs a marketplace failure as one warning line and anything else with its
  traceback, then raises it, for the job's retry.

The steps are the daemon's: the pull binds a new channel's listings on its first run
in this process, pulls orders, checks the channel's order count and plans every SKU
marked changed; refunds are pulled as a step of their own; the flush sends the due
outbox entries and queued shipments; the reconcile reads every listing and queues
corrections.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from channelsync.channels import Channel, ListingsCapability, OrdersCapability
from channelsync.config import DEFAULT_WORKSPACE, DaemonConfig
from channelsync.daemon.listening import LISTENING_CURSOR, listens
from channelsync.daemon.logs import working_on
from channelsync.daemon.runner import ReconcileStep, find_reconcile
from channelsync.engine.budgets import budgeted
from channelsync.engine.inbox import EventOutcome, leftover_events, process_event
from channelsync.engine.orders import ingest_orders
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.pausing import Pause, paused_channels
from channelsync.engine.planner import PlanReport
from channelsync.engine.privacy import erase_personal_data
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ChannelError, ConfigurationError
from channelsync.store import SqlStore
from channelsync.store.sql.errors import is_lock_conflict
from channelsync.workers.deferring import (
    ANSWER_EVENTS,
    FLUSH,
    PULL_ORDERS,
    PULL_REFUNDS,
    RECONCILE,
    step_group,
    workspace_key,
)
from channelsync.workers.fencing import Fence, LeaseLostError, take_lease

__all__ = ["ClockView", "StepOutcome", "WorkerRuntime", "is_lock_conflict"]

logger = logging.getLogger(__name__)


@dataclass
class StepOutcome:
    """What a step did, for the job's log line, and the flushes it calls for."""

    summary: dict[str, Any] = field(default_factory=dict)
    flush: set[str] = field(default_factory=set)
    """Channels the step queued outbox work for (their flush is deferred after it)."""

    @classmethod
    def paused(cls, pause: Pause) -> StepOutcome:
        """Return the outcome of a step skipped because its channel is paused."""
        return cls({"skipped": f"paused by {pause.by}: {pause.reason}"})


@dataclass
class ClockView:
    """What a clock tick needs of a workspace's store (see :meth:`WorkerRuntime.clock_view`)."""

    paused: set[str] = field(default_factory=set)
    flushes: set[str] = field(default_factory=set)
    """Channels whose flush has work now."""
    answers: set[str] = field(default_factory=set)
    """Listening channels with events received and not yet answered."""


def _queued(plan: PlanReport) -> set[str]:
    return {name for name, count in plan.queued.items() if count}


class WorkerRuntime:
    """The engine and its open channels, and the per-channel steps jobs run on them."""

    def __init__(
        self,
        engine: SyncEngine,
        settings: DaemonConfig | None = None,
        *,
        reconcile: ReconcileStep | None = None,
        workspace: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or DaemonConfig()
        store = engine.store
        self.workspace = workspace or (
            store.workspace if isinstance(store, SqlStore) else DEFAULT_WORKSPACE
        )
        """The workspace of the engine's store: its jobs name it."""
        self.reconcile_step = reconcile if reconcile is not None else find_reconcile()
        for name in engine.channels:
            # The pull interval is part of how late a channel's orders are seen.
            engine.context.visibility.set_pull_interval(name, self.settings.pull_interval_of(name))
        self.active = 0
        """Jobs running in this process now (see :meth:`busy`)."""
        self.started = 0
        """Jobs this process has started."""
        self._opening = {name: asyncio.Lock() for name in engine.channels}
        self._bound: set[str] = set()

    @property
    def channels(self) -> dict[str, Channel[Any]]:
        """The configured channels, by name."""
        return self.engine.channels

    async def run(self, step: str, name: str) -> StepOutcome:
        """Run ``step`` on channel ``name`` unless it is paused; see the module docs.

        Raises :class:`~channelsync.errors.ConfigurationError` for a channel this
        process's configuration does not have (every worker must share one).
        """
        if name not in self.channels:
            raise ConfigurationError(
                f"a {step} job names a channel this worker's configuration does not have "
                f"(configured: {', '.join(self.channels) or 'none'}); every worker must "
                "run with the same configuration",
                channel=name,
            )
        # Log lines name the channel as the queue does: acme/tmall in workspace acme.
        with working_on(workspace_key(name, self.workspace)):
            pause = self._look_around().get(name)
            if pause is not None:
                # Work queued for a paused channel still defers its flush: no line each time.
                logger.debug("%s skipped: paused by %s: %s", step, pause.by, pause.reason)
                return StepOutcome.paused(pause)
            try:
                channel = await self.open_channel(name)
                if step == PULL_ORDERS:
                    return await self._pull_orders(channel)
                if step == PULL_REFUNDS:
                    return await self._pull_refunds(channel)
                if step == FLUSH:
                    return await self._flush(channel)
                if step == RECONCILE:
                    return await self._reconcile(channel)
                if step == ANSWER_EVENTS:
                    return await self._answer_events(channel)
            except ChannelError as error:
                logger.warning("%s failed (%s): %s", step, type(error).__name__, error)
                raise
            except LeaseLostError:
                raise  # logged where the commit was refused
            except Exception as error:
                if is_lock_conflict(error):
                    # Named only: the statement and its values could carry a buyer's data.
                    cause = getattr(error, "orig", None) or error.__cause__
                    logger.warning(
                        "%s met another worker's transaction (%s); retried in a second",
                        step,
                        type(cause).__name__,
                    )
                    raise
                logger.exception("%s failed unexpectedly", step)
                raise
        raise ValueError(f"unknown step {step!r}")

    def lease(self, step: str, name: str, holder: str) -> Fence:
        """Take the lease of ``step``'s group on channel ``name`` for a job starting now."""
        store = self.engine.store
        if not isinstance(store, SqlStore):
            raise ConfigurationError(
                "workers need the SQL store of a PostgreSQL database", field="store.url"
            )
        now = self.engine.context.clock.now()
        return take_lease(store.engine, name, step_group(step), holder, now)

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Count a job in flight in this process, from its start to its last deferral."""
        self.active += 1
        self.started += 1
        try:
            yield
        finally:
            self.active -= 1

    def flushes_wanted(self) -> set[str]:
        """Return the channels whose flush has work now (due entries, credentials to retry).

        The clock's periodic flush looks only at these: a flush of a channel with nothing
        due would only read an empty outbox, and at hundreds of channels those reads
        crowd the pulls out of the queue.
        """
        now = self.engine.context.clock.now()
        with self.engine.store.transaction() as session:
            found = session.channels_with_work(now, WAITING_FOR_CREDENTIALS)
        return {name for name in found if name in self.channels}

    def _look_around(self) -> dict[str, Pause]:
        """Return the paused channels, and learn which channels' events are heard now.

        Which worker listens to a channel is the cluster's business, not this process's:
        every worker plans with the visibility the listening lock's holder reports
        (:mod:`~channelsync.workers.listening`), so two workers never plan one SKU with
        two different delays and send quantities back and forth.
        """
        now = self.engine.context.clock.now()
        with self.engine.store.transaction() as session:
            found = paused_channels(session)
            heard = session.cursors(LISTENING_CURSOR)
        visibility = self.engine.context.visibility
        for name, channel in self.channels.items():
            if listens(channel):
                until = heard.get(name)
                visibility.set_events(name, until is not None and until[0] > now)
        return {name: pause for name, pause in found.items() if name in self.channels}

    def clock_view(self, *, flushes: bool, answers: bool = False) -> ClockView:
        """Return what a clock tick reads of this workspace, in one transaction.

        At hundreds of workspaces a tick reads each of them: the paused channels and,
        when asked, those whose flush has work and those with events left unanswered.
        On PostgreSQL the clock reads all its workspaces in one statement instead
        (:mod:`~channelsync.workers.clock_reads`), which answers as this does.
        """
        now = self.engine.context.clock.now()
        known = self.channels
        view = ClockView()
        with self.engine.store.transaction() as session:
            view.paused = {name for name in paused_channels(session) if name in known}
            if flushes:
                found = session.channels_with_work(now, WAITING_FOR_CREDENTIALS)
                view.flushes = {name for name in found if name in known}
            if answers:
                view.answers = {
                    name
                    for name, channel in known.items()
                    if listens(channel) and session.unprocessed_events(name, limit=1)
                }
        return view

    def erase_personal_data(self) -> int:
        """Erase buyers' personal data past its retention, as the daemon does hourly."""
        retention = timedelta(days=self.settings.personal_data_days)
        return erase_personal_data(self.engine.context, retention, incremental=True)

    async def close(self) -> None:
        """Close every channel a job opened."""
        for channel in self.channels.values():
            if channel.is_open:
                try:
                    await channel.close()
                except Exception:  # a channel that fails to close must not keep others open
                    logger.warning("could not close channel %s", channel.name, exc_info=True)

    # -- the steps ----------------------------------------------------------------------

    async def open_channel(self, name: str) -> Channel[Any]:
        """Return channel ``name``, opened by the first step (or listener) that needs it."""
        channel = self.channels[name]
        # Two steps of one channel may start together (pull and flush): one opens it.
        async with self._opening[name]:
            if not channel.is_open:
                await channel.open()
        return channel

    async def _pull_orders(self, channel: Channel[Any]) -> StepOutcome:
        name, engine = channel.name, self.engine
        if name not in self._bound:
            bound = await engine.bind_new(name)
            if bound is not None:
                logger.info("bound listings by merchant code: %s", bound.summary())
            self._bound.add(name)
        plan = PlanReport()
        summary: dict[str, Any] = {}
        if isinstance(channel, OrdersCapability):
            async with budgeted(engine.context, channel):
                ingest = await ingest_orders(engine.context, channel)
                self._alert(ingest.plan)
                await engine.check_orders(name)
            plan.add(ingest.plan)
            summary = {"imported": ingest.imported, "parked": ingest.parked}
            if ingest.imported:
                logger.info("imported %d order change(s)", ingest.imported)
        # What other writers marked changed (a catalogue import, a settings change).
        plan.add(await engine.replan_in_slices())
        return StepOutcome(summary, _queued(plan))

    async def _pull_refunds(self, channel: Channel[Any]) -> StepOutcome:
        async with budgeted(self.engine.context, channel):
            report = await self.engine.pull_refunds(channel.name)
        if report is None:
            return StepOutcome()
        self._alert(report.plan)
        for note in report.unresolved:
            logger.warning("return not restocked: %s", note)
        if report.applied:
            logger.info("applied %d refund(s) to stock", report.applied)
        summary = {"applied": report.applied, "parked": report.parked}
        return StepOutcome(summary, _queued(report.plan))

    async def _flush(self, channel: Channel[Any]) -> StepOutcome:
        report = await self.engine.flush(channel.name)
        for failure in report.failures:
            logger.warning("parked: %s", failure)
        if report.sent:
            logger.info("sent %d update(s)", report.sent)
        summary = {"sent": report.sent, "retried": report.retried, "parked": report.parked}
        return StepOutcome(summary)

    async def _reconcile(self, channel: Channel[Any]) -> StepOutcome:
        if self.reconcile_step is None or not isinstance(channel, ListingsCapability):
            return StepOutcome({"skipped": "the channel cannot be reconciled"})
        report = await self.reconcile_step(self.engine.context, channel)
        summary = getattr(report, "summary", None)
        text = summary() if callable(summary) else str(report)
        logger.info("reconciled: %s", text)
        # Corrections are queued like any outbox work: flush the channel after them.
        return StepOutcome({"reconciled": text}, {channel.name})

    async def _answer_events(self, channel: Channel[Any]) -> StepOutcome:
        """Answer the channel's events waiting in the inbox, oldest first, as the pump does.

        A read that fails for now leaves its event for the next answer (the next event,
        or the next start), and does not hold back the events after it: polling covers
        the order meanwhile.
        """
        context = self.engine.context
        pending = leftover_events(context, channel.name)
        outcomes: Counter[str] = Counter()
        for event in pending:
            try:
                outcome = await process_event(context, channel, event)
            except ChannelError as error:
                logger.warning(
                    "the read for event %s failed (%s): %s",
                    event.message_id,
                    type(error).__name__,
                    error,
                )
                outcomes["failed"] += 1
                continue
            outcomes[outcome.value] += 1
        if outcomes[EventOutcome.IMPORTED.value]:
            logger.info("imported %d order change(s) named by events", outcomes["imported"])
        # What the reads changed, and the units the events held and let go.
        plan = self.engine.replan()
        self._alert(plan)
        return StepOutcome({"answered": len(pending), **outcomes}, _queued(plan))

    def _alert(self, plan: PlanReport) -> None:
        host = self.engine.context.host
        if host is not None:
            for alert in plan.alerts:
                host.low_stock(alert)
