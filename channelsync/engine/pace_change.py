"""Planning again the SKUs that a channel's new visibility delay changes the plan of.

The planner holds back ``⌊Σ_c r_c * d_c⌋`` units of a SKU for orders not yet seen (see
:mod:`channelsync.engine.pace`): the SKU's own pace on each channel times the
*channel's* delay. The delay moves for every SKU selling on a channel at once: an
order of one SKU imported late raises the measured figure, a listener falling back to
polling or a new pull interval changes the declared one. Only the SKUs whose orders
were imported are marked changed by the import, so the others would go on showing
what the old delay allowed: more than the plan now gives, while no pass plans them.

So each planning pass first compares every channel's delay with the one its previous
pass planned with, and marks changed the SKUs sold on a channel whose delay moved,
within the pace window (a SKU without sales there holds nothing back for it). A
process's first pass marks those of every channel: the delays the process before it
planned with are not known.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from channelsync.engine.context import EngineContext
from channelsync.engine.pace import SlicePace
from channelsync.store import StoreSession

__all__ = ["note_delays"]

logger = logging.getLogger(__name__)


def note_delays(
    session: StoreSession, context: EngineContext, planned: Mapping[str, float] | None
) -> dict[str, float]:
    """Mark changed the SKUs selling on each channel whose delay is not ``planned``'s.

    ``planned`` holds the delays the previous pass planned with (``None``: no pass
    yet). Return the delays now, which this pass plans with; none when the pace is
    off (``[engine] pace_window_seconds = 0``).
    """
    windows = SlicePace.windows(context.config.pace_window_seconds)
    if not windows:
        return {}
    delays = context.visibility.delays(session.visibility())
    moved = sorted(
        name for name, delay in delays.items() if planned is None or planned.get(name) != delay
    )
    if moved:
        since = context.clock.now() - timedelta(seconds=max(windows))
        selling = sorted(session.skus_sold_on(moved, since))
        if selling:
            session.mark_changed(selling)
            logger.debug(
                "visibility delay of %s changed: %d SKU(s) selling there planned again",
                ", ".join(moved),
                len(selling),
            )
    return delays
