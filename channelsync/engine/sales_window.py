"""Planning again the SKUs whose recent sales changed by time alone.

Among channels of equal priority, scarce units go first to the channel that sold more
of the SKU within ``[engine] sales_window_days`` (see
:mod:`channelsync.engine.allocation`). A sale leaves that window by time alone, with no
mark on its SKU, so the ranking that counted it would stand until the SKU's next
change: the last unit kept on a channel that no longer sells it most.

So a planning pass marks changed the SKUs whose sales on a channel left the window
since the window's start that channel was last planned with. That start is kept per
channel as a cursor of kind ``sales_window``, to the minute, so a process sees what
the one before it planned (a worker sees every worker's). A channel planned for the
first time is only recorded: what left the window before has no known start.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from channelsync.engine.context import EngineContext
from channelsync.store import StoreSession

__all__ = ["SALES_WINDOW_CURSOR", "note_sales_window", "window_start"]

logger = logging.getLogger(__name__)

#: The cursor kind whose ``since`` is the sales window's start a channel was planned with.
SALES_WINDOW_CURSOR = "sales_window"


def window_start(context: EngineContext) -> datetime:
    """Return the sales window's start now, to the minute (the precision it is kept at)."""
    start = context.clock.now() - timedelta(days=context.config.sales_window_days)
    return start.replace(second=0, microsecond=0)


def note_sales_window(
    session: StoreSession, context: EngineContext, noted: datetime | None
) -> datetime:
    """Mark changed the SKUs whose sales left the window since each channel was planned.

    ``noted`` is the start this engine last recorded (``None``: none yet); while the
    start has not moved past it, nothing is read. Return the start now.
    """
    start = window_start(context)
    if noted is not None and noted >= start:
        return noted
    stored = session.cursors(SALES_WINDOW_CURSOR)
    behind: dict[datetime, list[str]] = defaultdict(list)
    for name in context.channels:
        previous = stored.get(name)
        if previous is not None and previous[0] >= start:
            continue
        if previous is not None:
            behind[previous[0]].append(name)
        session.set_cursor(name, SALES_WINDOW_CURSOR, start, None)
    left: set[int] = set()
    for since, names in behind.items():
        left |= session.skus_sold_on(names, since, until=start)
    if left:
        session.mark_changed(sorted(left))
        logger.debug("%d SKU(s) with sales leaving the sales window planned again", len(left))
    return start
