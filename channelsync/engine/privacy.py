"""Buyers' personal data: kept only as long as a shipment needs it, then erased.

Orders arrive with the delivery address (the recipient's name and phone) and the
buyer's note. They are needed until the order ships; Amazon's data protection policy
asks that they are deleted at most 30 days after delivery, and China's PIPL asks the
same minimisation. The store keeps them apart from the order facts, a row per order;
:func:`erase_personal_data` deletes that row for orders that are done (shipped,
completed, cancelled or refunded) and unchanged for the retention period; the order
facts (lines, amounts, statuses, the marketplace's pseudonymous buyer id that the
repeat-buyer report counts) stay. A marketplace that sends an old order again
brings its address back; the next run erases it again. Nothing here logs a value.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from channelsync.engine.context import EngineContext
from channelsync.models import OrderStatus
from channelsync.store.orders import PERSONAL_FIELDS

__all__ = ["CURSOR_KIND", "DONE_STATUSES", "PERSONAL_FIELDS", "erase_personal_data"]

logger = logging.getLogger(__name__)

#: Order states after which no shipment needs the buyer's address any more.
DONE_STATUSES = frozenset(
    {OrderStatus.SHIPPED, OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REFUNDED}
)
#: The cursor of the daemon's incremental erasure: the last run's cut-off.
CURSOR_KIND = "privacy"
_CURSOR_CHANNEL = ""


def erase_personal_data(
    context: EngineContext, retention: timedelta, *, incremental: bool = False
) -> int:
    """Erase personal data from orders done and unchanged for ``retention``; return how many.

    ``incremental`` (the daemon's hourly run) reads only orders changed since the last
    incremental run's cut-off, kept as a cursor; an order changed later (sent again
    with its address) has a newer change time, so a later run finds it. The erasure is
    recorded in the audit trail with its count and cut-off, never values.
    """
    now = context.clock.now()
    cutoff = now - retention
    with context.store.transaction() as session:
        since = session.cursor(_CURSOR_CHANNEL, CURSOR_KIND) if incremental else None
        erased = session.erase_personal_data(
            [status.value for status in DONE_STATUSES],
            cutoff,
            updated_since=since[0] if since else None,
        )
        if incremental:
            session.set_cursor(_CURSOR_CHANNEL, CURSOR_KIND, cutoff, None)
        if erased:
            session.audit(
                channel="",
                kind="privacy_erase",
                key=cutoff.isoformat(),
                sent={"orders": erased, "fields": list(PERSONAL_FIELDS)},
                ok=True,
                answer=f"personal data erased from {erased} order(s) done before {cutoff}",
                now=now,
            )
    if erased:
        logger.info("personal data erased from %d order(s) done before %s", erased, cutoff)
    return erased
