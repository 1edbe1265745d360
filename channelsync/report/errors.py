"""What can go wrong while building a report."""

from __future__ import annotations

from channelsync.errors import ChannelSyncError

__all__ = ["ReportDataError", "ReportOptionError", "ReportPlotUnavailableError"]


class ReportOptionError(ChannelSyncError):
    """A report option (period, zone, window, threshold) is wrong; names the option."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(f"{option}: {message}")


class ReportDataError(ChannelSyncError):
    """A stored order cannot be read back; names the channel and the order."""

    def __init__(self, channel: str, order_id: str, message: str) -> None:
        self.channel = channel
        self.order_id = order_id
        super().__init__(f"stored order {channel}/{order_id} cannot be read: {message}")


class ReportPlotUnavailableError(ChannelSyncError):
    """``--plot`` was asked for but the optional plotting library is not installed."""
