"""What the console reads: the store, the configured channels and, in a daemon, its status.

A page's data is a plain JSON-able dict built here or in :mod:`channelsync.console.pages`;
the same dict is rendered as HTML or answered as JSON. Nothing the console reads needs
a channel's secret, and nothing it returns holds one or a buyer's personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channelsync._version import __version__
from channelsync.clock import Clock, SystemClock
from channelsync.config import ChannelSyncSettings
from channelsync.daemon.status import ChannelStatus
from channelsync.store import Store

__all__ = ["ConsoleSource", "DaemonView", "iso"]


@dataclass
class DaemonView:
    """The running daemon as the console sees it (absent when serving a store alone)."""

    status: Mapping[str, ChannelStatus]
    """Each channel's running totals and latest observations."""
    started: datetime
    wake: Callable[[str], object] = lambda _channel: None
    """Make a channel's flush loop look for work now (after a change); called in the loop."""
    refresh_paused: Callable[[], object] = lambda: None
    """Apply a pause or resume written to the store at once; called from a worker thread."""


@dataclass
class ConsoleSource:
    """Everything a console page may read."""

    store: Store
    channels: Mapping[str, str]
    """The configured channels: name to channel type."""
    clock: Clock = field(default_factory=SystemClock)
    daemon: DaemonView | None = None
    version: str = __version__
    started: datetime | None = None
    settings: Mapping[str, ChannelSyncSettings] = field(default_factory=dict)
    """The configured channels' engine settings, for the warehouses feeding each (sourcing).

    Left empty, pages do not say which channels a warehouse feeds.
    """

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.daemon.started if self.daemon else self.clock.now()


def iso(moment: datetime | None) -> str | None:
    """Return ``moment`` as ISO 8601 text (``None`` stays ``None``)."""
    return None if moment is None else moment.isoformat()


def money(payload: Mapping[str, Any] | None) -> str | None:
    """Return a stored ``{"amount", "currency"}`` as text, e.g. ``12.50 CNY``."""
    if not payload:
        return None
    return f"{payload.get('amount')} {payload.get('currency')}"
