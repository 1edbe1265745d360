"""Answering pushed events: the inbox, the targeted read, the same ingest as polling.

An event is a hint that something changed, never the record. :func:`receive_event`
writes it to the inbox (once per platform message id) and reports whether it was new;
only after that commit may the listener acknowledge it. :func:`process_event` then
answers a new event by reading what it names through the channel's normal API and
applying it exactly as a pull would: an order event reads that one order
(:func:`~channelsync.engine.orders.fetch_orders`), a refund event runs the refund pull
from its cursor, and a listing event is left to reconciliation. Polling stays on as the
backstop, with its completeness rules; dedupe makes the double read harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum
from typing import Any

from channelsync.channels import Channel, EventKind, OrdersCapability, RefundsCapability
from channelsync.channels.events import ChannelEvent
from channelsync.engine.context import EngineContext
from channelsync.engine.orders import fetch_orders
from channelsync.engine.refunds import ingest_refunds
from channelsync.errors import PermanentChannelError
from channelsync.store import InboxEvent

__all__ = [
    "INBOX_RETENTION",
    "EventOutcome",
    "leftover_events",
    "process_event",
    "process_leftovers",
    "receive_event",
]

logger = logging.getLogger(__name__)

#: How long answered events are kept to recognise a redelivery (marketplaces redeliver
#: unacknowledged messages for up to a few days).
INBOX_RETENTION = timedelta(days=7)
#: Leftover events read at once at a start (the rest wait for the next start or polling).
_LEFTOVERS = 10_000


class EventOutcome(StrEnum):
    """What answering one event did."""

    IMPORTED = "imported"
    """The order it names was read and was new or changed."""
    UNCHANGED = "unchanged"
    """The order was read and the store already had it as it is."""
    UNKNOWN = "unknown"
    """The marketplace does not know the order it names."""
    REFUNDS_PULLED = "refunds_pulled"
    """The channel's refunds were pulled from their cursor."""
    IGNORED = "ignored"
    """Nothing to read for it here (a listing change: reconciliation reads listings)."""
    REFUSED = "refused"
    """The marketplace refused the read for good; polling covers the order."""


def receive_event(context: EngineContext, channel: str, event: ChannelEvent) -> bool:
    """Write ``event`` to the inbox; ``True`` if it is new, ``False`` for a redelivery.

    An order event that says what its order takes (``units``) holds those units from
    every channel's allocation until the order is read: the SKUs are marked changed
    in the same transaction, so the next plan lowers what the other channels show.
    """
    units = event.units if event.kind is EventKind.ORDER else None
    with context.store.transaction() as session:
        new = session.record_event(
            InboxEvent(
                channel=channel,
                message_id=event.message_id,
                kind=event.kind.value,
                key=event.key,
                topic=event.topic,
                received_at=context.clock.now(),
                order_id=event.order_id,
                units=units,
                occurred_at=event.occurred_at,
            )
        )
        if new and units and session.order(channel, event.key) is None:
            session.mark_changed([sku.id for sku in session.skus(units)])
        return new


async def process_event(
    context: EngineContext, channel: Channel[Any], event: InboxEvent
) -> EventOutcome:
    """Answer one inbox event with a targeted read and mark it processed.

    The channel must be open. A read that may succeed later raises (a retryable
    :class:`ChannelError`) and leaves the event unprocessed, to be answered again by
    :func:`process_leftovers`; polling covers it meanwhile. A read the marketplace
    refuses for good (a malformed id) is logged once and the event set aside as
    ``refused``, so it never blocks the events after it.
    """
    try:
        outcome = await _answer(context, channel, event)
    except PermanentChannelError as error:
        logger.warning(
            "%s: the read for event %s was refused (%s); set aside, polling covers it",
            channel.name,
            event.message_id,
            error,
        )
        outcome = EventOutcome.REFUSED
    with context.store.transaction() as session:
        session.mark_event_processed(
            event.channel, event.message_id, outcome.value, context.clock.now()
        )
        if event.units:
            # What the event held is released (or now reserved by the order): replan.
            session.mark_changed([sku.id for sku in session.skus(event.units)])
    return outcome


async def _answer(context: EngineContext, channel: Channel[Any], event: InboxEvent) -> EventOutcome:
    if event.kind == EventKind.ORDER.value and isinstance(channel, OrdersCapability):
        if _read_since(context, channel.name, event):
            # A pull already brought this change (or a later one): nothing to read.
            return EventOutcome.UNCHANGED
        # Sampled: how soon events bring orders is what the pace-aware protection plans with.
        report = await fetch_orders(context, channel, [event.key], sample=True)
        if report.missing:
            logger.warning(
                "%s: an event (message %s) names order %s, which the marketplace does not know",
                channel.name,
                event.message_id,
                event.key,
            )
            return EventOutcome.UNKNOWN
        return EventOutcome.IMPORTED if report.imported else EventOutcome.UNCHANGED
    if event.kind == EventKind.REFUND.value and isinstance(channel, RefundsCapability):
        await ingest_refunds(context, channel)
        return EventOutcome.REFUNDS_PULLED
    return EventOutcome.IGNORED


def _read_since(context: EngineContext, channel: str, event: InboxEvent) -> bool:
    """Whether the store already holds the order as of the change the event announces."""
    if event.occurred_at is None:
        return False
    with context.store.transaction() as session:
        stored = session.order(channel, event.key)
    return stored is not None and stored.updated_at >= event.occurred_at


def leftover_events(context: EngineContext, channel: str) -> list[InboxEvent]:
    """Return the channel's events received but never processed, oldest first.

    They were committed and acknowledged, and the process stopped before answering
    them. Answered events past :data:`INBOX_RETENTION` are forgotten at the same time.
    """
    with context.store.transaction() as session:
        pending = session.unprocessed_events(channel, limit=_LEFTOVERS)
        session.prune_inbox(context.clock.now() - INBOX_RETENTION)
    return pending


async def process_leftovers(context: EngineContext, channel: Channel[Any]) -> int:
    """Answer the channel's leftover events (:func:`leftover_events`); return how many."""
    pending = leftover_events(context, channel.name)
    for event in pending:
        await process_event(context, channel, event)
    return len(pending)
