"""What the daemon knows about each channel while it runs (for the health check and views)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["ChannelStatus"]


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

    def stale(self, now: datetime, after: float) -> bool:
        """Whether the channel has gone ``after`` seconds without a successful sync."""
        since = self.last_sync or self.started
        return since is not None and (now - since).total_seconds() > after
