"""The default alert sink: low-stock alerts are logged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from channelsync.plugins import hookimpl

if TYPE_CHECKING:
    from channelsync.plugins.context import LowStockAlert

logger = logging.getLogger("channelsync.alerts")


@hookimpl(trylast=True)
def channelsync_low_stock(alert: LowStockAlert) -> None:
    """Log the alert at ``WARNING`` on the ``channelsync.alerts`` logger."""
    where = f"on channel {alert.channel!r}" if alert.channel else "in the master stock"
    logger.warning(
        "low stock: %s has %d available %s (threshold %d) at %s",
        alert.merchant_code,
        alert.available,
        where,
        alert.threshold,
        alert.at.isoformat(),
    )
