"""What the daemon knows about each channel while it runs (for the health check and views)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["RECENT_ERRORS", "ChannelStatus"]

#: Failed steps a channel's status keeps with their message (the console shows the last hour's).
RECENT_ERRORS = 50


@dataclass
class ChannelStatus:
    """One channel's running totals and latest observations.

    Counters add up over the daemon's life; ``outbox_depth``, ``parked``,
    ``stock_shown`` and ``order_lag`` are refreshed from the store periodically.
    """

    name: str
    type_name: str = ""
    started: datetime | None = None
    last_pull: datetime | None = None
    """When the last order pull succeeded."""
    last_sync: datetime | None = None
    """When the channel last synced: its last successful order pull (a send, for a
    channel without orders)."""
    orders_imported: int = 0
    updates_sent: int = 0
    retried: int = 0
    parked_now: int = 0
    errors: int = 0
    errors_by_class: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    failing_since: datetime | None = None
    requests: int = 0
    throttles: int = 0
    retries: int = 0
    outbox_depth: int = 0
    parked: int = 0
    stock_shown: int = 0
    order_lag: float | None = None
    """Seconds between now and the channel's order cursor (how far behind orders are)."""
    events: str | None = None
    """The events listener's state (``connected``, ``disconnected`` ...); ``None``: none runs."""
    events_received: int = 0
    events_duplicate: int = 0
    """Deliveries of a message already in the inbox (redeliveries, duplicates)."""
    events_processed: int = 0
    last_event_at: datetime | None = None
    events_error: str | None = None
    """The listener's last connection failure, while it is not connected."""
    paused: bool = False
    """Whether an operator paused the channel (it makes no marketplace call meanwhile)."""
    paused_reason: str | None = None
    paused_by: str | None = None
    paused_since: datetime | None = None
    resumed_at: datetime | None = None
    """When the daemon saw the channel's last resume."""
    last_flush: datetime | None = None
    """When the channel last accepted updates."""
    recent_errors: deque[tuple[datetime, str]] = field(
        default_factory=lambda: deque(maxlen=RECENT_ERRORS)
    )
    """The latest failed steps, ``(when, "step: class: message")``, oldest first."""

    def stale(self, now: datetime, after: float) -> bool:
        """Whether the channel has gone ``after`` seconds without a successful sync.

        A paused channel is not stale (it does no work on purpose), and a resumed one
        counts from its resume, not from its last sync before the pause.
        """
        if self.paused:
            return False
        times = [t for t in (self.last_sync, self.started, self.resumed_at) if t is not None]
        return bool(times) and (now - max(times)).total_seconds() > after
