"""The ``channelsync run`` daemon: scheduling, signals, the store lock, logs, metrics, health."""

from __future__ import annotations

from channelsync.daemon.logs import current_channel, setup_logging, working_on
from channelsync.daemon.metrics import DaemonMetrics, HealthReport, MetricsServer, health
from channelsync.daemon.runner import Daemon, find_reconcile
from channelsync.daemon.service import serve
from channelsync.daemon.status import ChannelStatus

__all__ = [
    "ChannelStatus",
    "Daemon",
    "DaemonMetrics",
    "HealthReport",
    "MetricsServer",
    "current_channel",
    "find_reconcile",
    "health",
    "serve",
    "setup_logging",
    "working_on",
]
