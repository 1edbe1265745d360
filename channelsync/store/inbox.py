"""The inbox: every pushed marketplace event, written once, processed once.

A listener writes each event it receives here, keyed by (channel, platform message
id), and acknowledges it to the marketplace only after that commit; a redelivered or
duplicated message finds its row and changes nothing. The engine then answers the
event (a targeted read through the same ingest path as polling) and marks it
processed. A row left unprocessed (the process died between the acknowledgement and
the read) is processed on the next start.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = ["InboxEvent", "InboxSession", "InboxSummary"]


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One event as the inbox keeps it: what it names, and what became of it."""

    channel: str
    message_id: str
    kind: str
    key: str
    topic: str
    received_at: datetime
    order_id: str | None = None
    processed_at: datetime | None = None
    outcome: str | None = None
    units: Mapping[str, int] | None = None
    """Units the message says its order takes, by merchant code (see :meth:`event_holds`)."""
    occurred_at: datetime | None = None
    """When the marketplace says the change happened, where the message says."""


@dataclass(frozen=True, slots=True)
class InboxSummary:
    """A channel's inbox at a glance: events received since a moment, and unanswered ones."""

    received: int
    unprocessed: int
    last_received: datetime | None


class InboxSession(ABC):
    """The inbox operations of a store transaction."""

    @abstractmethod
    def record_event(self, event: InboxEvent) -> bool:
        """Write ``event`` unless its (channel, message id) is known; ``True`` if it was new."""

    @abstractmethod
    def unprocessed_events(self, channel: str, limit: int = 100) -> list[InboxEvent]:
        """Return the channel's events not yet processed, oldest first."""

    @abstractmethod
    def mark_event_processed(
        self, channel: str, message_id: str, outcome: str, now: datetime
    ) -> None:
        """Record that the event was answered, and how."""

    @abstractmethod
    def event_holds(self, channels: Iterable[str], since: datetime) -> dict[str, int]:
        """Return the units held for orders that events announced and no read has brought yet.

        Summed by merchant code over the unprocessed order events of ``channels``
        received since ``since`` that carry ``units`` and whose order the store does not
        hold: once the order is imported its reservation counts instead, and once the
        event is answered without it (the marketplace does not know the order) nothing
        is held any more. ``since`` bounds a hold whose event is never answered (its
        channel no longer listens): by then polling has brought the order.
        """

    @abstractmethod
    def inbox_summary(self, channel: str, since: datetime) -> InboxSummary:
        """Count the channel's events received since ``since`` and those not yet answered."""

    @abstractmethod
    def prune_inbox(self, before: datetime) -> int:
        """Forget processed events received before ``before``; return how many.

        Kept that long only to recognise a redelivery: marketplaces redeliver an
        unacknowledged message for hours to days, not months.
        """
