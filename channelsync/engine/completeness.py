"""Order completeness: compare a marketplace's own order count with what was imported.

Every channel's order cursor is its watermark: every order modified before it has
been read. Where the channel can count its orders
(:class:`~channelsync.channels.OrderCountCapability`), the engine checks the windows
the watermark has passed, one span at a time and in order: the marketplace's count
of orders created in the window against the imported orders created in the same
window. A window is checked once the watermark is :data:`SETTLE` past its end, so an
order created near the watermark and modified again before it was read is not
reported as missing while it is still on its way. The windows checked are
remembered (a cursor of kind ``completeness``), so each is counted once; a mismatch
is reported in the cycle summary, by ``channelsync status`` and in the audit trail
(kind ``completeness``), naming the window and both numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channelsync.channels import OrderCountCapability, OrdersCapability, TimeWindow
from channelsync.engine.context import EngineContext

__all__ = [
    "AUDIT_KIND",
    "CURSOR_KIND",
    "SETTLE",
    "CompletenessReport",
    "Mismatch",
    "check_completeness",
]

logger = logging.getLogger(__name__)

CURSOR_KIND = "completeness"
AUDIT_KIND = "completeness"
#: How far the order watermark must be past a window before the window is counted.
SETTLE = timedelta(hours=1)
#: The longest window counted at once (shorter when the channel's order window is).
SPAN = timedelta(hours=1)
#: The most windows counted in one pass (the rest waits for the next one).
MAX_WINDOWS = 24
_ORDERS_CURSOR = "orders"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One window in which the marketplace counts a different number of orders."""

    start: datetime
    end: datetime
    counted: int
    """Orders the marketplace says were created in the window."""
    imported: int
    """Orders imported that were created in the window."""

    def describe(self) -> str:
        """Return the mismatch as one line for people."""
        missing = self.counted - self.imported
        what = f"{missing} order(s) missing" if missing > 0 else f"{-missing} order(s) extra"
        return (
            f"{what}: marketplace counts {self.counted}, {self.imported} imported, created "
            f"{self.start.isoformat()} to {self.end.isoformat()}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the mismatch as plain data (for ``--json``)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "counted": self.counted,
            "imported": self.imported,
        }


@dataclass
class CompletenessReport:
    """What one completeness check of one channel found."""

    channel: str
    windows: int = 0
    """Windows counted in this pass."""
    mismatches: list[Mismatch] = field(default_factory=list)
    checked_until: datetime | None = None
    """The end of the last window counted so far (``None``: none yet)."""


def _span(channel: OrderCountCapability) -> timedelta:
    if isinstance(channel, OrdersCapability):
        return min(SPAN, channel.limits.order_window.span)
    return SPAN


async def check_completeness(
    context: EngineContext, channel: OrderCountCapability
) -> CompletenessReport:
    """Count the windows ``channel``'s watermark has settled past, and compare.

    A :class:`~channelsync.errors.ChannelError` from the count propagates; the windows
    counted before it stay checked and the failed one is counted again next time.
    """
    name = channel.name
    report = CompletenessReport(channel=name)
    with context.store.transaction() as session:
        watermark = session.cursor(name, _ORDERS_CURSOR)
        checked = session.cursor(name, CURSOR_KIND)
    if watermark is None:
        return report
    span = _span(channel)
    horizon = watermark[0] - SETTLE
    start = horizon - span if checked is None else checked[0]
    report.checked_until = None if checked is None else checked[0]
    while start + span <= horizon and report.windows < MAX_WINDOWS:
        window = TimeWindow(start=start, end=start + span)
        counted = await channel.count_orders(window)
        now = context.clock.now()
        with context.store.transaction() as session:
            imported = session.count_orders_created(name, window.start, window.end)
            if counted != imported:
                mismatch = Mismatch(window.start, window.end, counted, imported)
                report.mismatches.append(mismatch)
                logger.warning("channel %s: %s", name, mismatch.describe())
                session.audit(
                    channel=name,
                    kind=AUDIT_KIND,
                    key="orders",
                    sent=mismatch.to_dict(),
                    ok=False,
                    answer=mismatch.describe(),
                    now=now,
                )
            session.set_cursor(name, CURSOR_KIND, window.end, None)
        report.windows += 1
        report.checked_until = window.end
        start = window.end
    return report
