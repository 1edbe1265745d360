"""The daemon's events listeners: one per channel that listens, beside its polling.

For a channel whose plugin has the events capability and whose config turns
``events`` on, :class:`EventPump` keeps the plugin's listener open. Each event is
written to the inbox first; only after that commit is it acknowledged to the
marketplace (a crash in between costs a redelivery, recognised by its message id).
A new event is then answered with a targeted read through the same ingest path as
polling, and if it changed anything every channel's flush wakes at once. Events left
unanswered by an earlier process are answered when the pump starts. While the
channel is paused, events are still received and acknowledged; their reads wait.

A listener that disconnects or falls behind is visible in ``status`` and the metrics,
and the channel's visibility falls back to polling, which never stops. A failure here
is logged with the channel named and never stops any other channel's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channelsync.channels import Channel, EventsCapability, ListenerState
from channelsync.channels.events import ChannelEvent, EventListener
from channelsync.daemon.metrics import DaemonMetrics
from channelsync.daemon.status import ChannelStatus
from channelsync.engine.inbox import EventOutcome, leftover_events, process_event, receive_event
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ChannelError
from channelsync.store import InboxEvent

__all__ = ["LISTENING_CURSOR", "EventPump", "listens"]

logger = logging.getLogger(__name__)

#: The cursor kind in which a cluster's listener says until when its channel is heard
#: (see :mod:`channelsync.workers.listening`); the daemon, alone on its store, needs none.
LISTENING_CURSOR = "events_listening"
#: How often the listener's state is copied into status and metrics while it is idle.
_STATE_EVERY = 2.0


def listens(channel: Channel[Any]) -> bool:
    """Whether the daemon runs a listener for ``channel``: it can, and config says so."""
    return isinstance(channel, EventsCapability) and bool(channel.settings.events)


class EventPump:
    """Receive one channel's events into the inbox, acknowledge, and answer them."""

    def __init__(
        self,
        engine: SyncEngine,
        name: str,
        *,
        status: ChannelStatus,
        metrics: DaemonMetrics,
        wake_all: Callable[[], None],
        stopping: asyncio.Event,
        until_resumed: Callable[[], Awaitable[None]] | None = None,
        answer: Callable[[InboxEvent], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.name = name
        self.channel = engine.channels[name]
        self.status = status
        self.metrics = metrics
        self.wake_all = wake_all
        self.stopping = stopping
        #: Waits while an operator has the channel paused (its reads wait, not its inbox).
        self.until_resumed = until_resumed
        #: How a received event is answered: by default a read in this process; a
        #: worker's pump queues a job instead, which any worker of the cluster runs.
        self.answer = answer
        self.status.events = ListenerState.CONNECTING.value
        #: Events committed and acknowledged, waiting for their read.
        self._queue: asyncio.Queue[InboxEvent] = asyncio.Queue()

    async def run(self) -> None:
        """Receive until the daemon stops, answering beside it; the channel must be open.

        Receiving (inbox commit, acknowledgement) never waits for the answers: the
        targeted reads queue behind the marketplace's rate limit while events keep
        being committed, so a burst of orders is acknowledged, and held where the
        messages say what the orders take, before each order is read. Events left
        unanswered by an earlier process are answered first, beside the listener.
        """
        # A restarted pump reads what is still unanswered from the inbox again.
        self._queue = asyncio.Queue()
        self._enqueue_leftovers()
        answerer = asyncio.ensure_future(self._answer_all())
        channel = self.channel
        assert isinstance(channel, EventsCapability)
        try:
            async with channel.listen() as listener:
                watcher = asyncio.ensure_future(self._watch(listener))
                try:
                    await self._receive_all(listener)
                finally:
                    watcher.cancel()
                    self._observe(listener)
        finally:
            # Unanswered events stay in the inbox: the next start answers them.
            answerer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answerer
        self.status.events = ListenerState.CLOSED.value

    async def _receive_all(self, listener: EventListener) -> None:
        events = aiter(listener)
        stop = asyncio.ensure_future(self.stopping.wait())
        arrival: asyncio.Future[ChannelEvent] | None = None
        try:
            while not self.stopping.is_set():
                arrival = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({arrival, stop}, return_when=asyncio.FIRST_COMPLETED)
                if arrival not in done:
                    return
                try:
                    event = arrival.result()
                except StopAsyncIteration:
                    return
                await self._receive(listener, event)
        finally:
            # Stopping (or cancelled): no wait may outlive the pump.
            stop.cancel()
            if arrival is not None and not arrival.done():
                arrival.cancel()

    async def _receive(self, listener: EventListener, event: ChannelEvent) -> None:
        context = self.engine.context
        try:
            new = receive_event(context, self.name, event)
        except Exception:
            # Not written, so not acknowledged: the marketplace delivers it again.
            logger.exception(
                "%s: event %s could not be written to the inbox", self.name, event.message_id
            )
            await listener.fail(event, "not stored")
            return
        await listener.ack(event)
        # An event just arrived: the listener is connected, whatever the last look said.
        context.visibility.set_events(self.name, True)
        self.status.last_event_at = context.clock.now()
        if not new:
            self.status.events_duplicate += 1
            self.metrics.events_duplicate.labels(self.name).inc()
            return
        self.status.events_received += 1
        self.metrics.events_received.labels(self.name).inc()
        stored = InboxEvent(
            channel=self.name,
            message_id=event.message_id,
            kind=event.kind.value,
            key=event.key,
            topic=event.topic,
            received_at=context.clock.now(),
            order_id=event.order_id,
            units=event.units,
            occurred_at=event.occurred_at,
        )
        if event.units:
            # Held from every channel until the order is read: show less at once.
            await self.engine.replan_in_slices()
            self.wake_all()
        self._queue.put_nowait(stored)

    async def _answer_all(self) -> None:
        while True:
            event = await self._queue.get()
            if self.until_resumed is not None:
                await self.until_resumed()
                if self.stopping.is_set():
                    return  # left unanswered in the inbox: the next start answers it
            try:
                await (self.answer or self._answer)(event)
            except Exception:
                # Never let one event end the answering; it stays for the next start.
                logger.exception("%s: event %s could not be answered", self.name, event.message_id)

    async def _answer(self, event: InboxEvent) -> None:
        try:
            outcome = await process_event(self.engine.context, self.channel, event)
        except ChannelError as error:
            # Left unprocessed: answered again at the next start, and polling covers it.
            logger.warning(
                "%s: the read for event %s failed (%s): %s",
                self.name,
                event.message_id,
                type(error).__name__,
                error,
            )
            return
        self.status.events_processed += 1
        if outcome in (EventOutcome.IMPORTED, EventOutcome.REFUNDS_PULLED):
            # What it changed is already planned into every channel's outbox.
            await self.engine.replan_in_slices()
            self.wake_all()

    def _enqueue_leftovers(self) -> None:
        try:
            pending = leftover_events(self.engine.context, self.name)
        except Exception:
            logger.exception("%s: events left from before could not be read", self.name)
            return
        if pending:
            logger.info(
                "%s: answering %d event(s) received before the last stop", self.name, len(pending)
            )
        for event in pending:
            self._queue.put_nowait(event)

    async def _watch(self, listener: EventListener) -> None:
        while True:
            self._observe(listener)
            await asyncio.sleep(_STATE_EVERY)

    def _observe(self, listener: EventListener) -> None:
        state = listener.status
        connected = state.state is ListenerState.CONNECTED
        self.status.events = state.state.value
        self.status.events_error = None if connected else state.last_error
        self.engine.context.visibility.set_events(self.name, connected)
        self.metrics.events_connected.labels(self.name).set(1 if connected else 0)
