"""What each channel is shown of a SKU's available stock.

Per channel: ``shown = min(cap, floor(available * share) - buffer)``, clamped to
``[0, available]``. With the default share of 1 every channel shows all available
stock, as merchants expect when stock is plentiful.

Last-unit protection: when stock is scarce the units are partitioned, so the sum
shown across channels never exceeds what is available. Scarce means available at or
below the fixed threshold (by default the number of channels selling the SKU) plus
the units that may be sold and not yet seen (``in_flight``, from the SKU's pace and
each channel's visibility delay: :mod:`channelsync.engine.pace`); those units are held
back from the partition, since they may be gone already. Units are dealt one at a time
in turn, by priority (higher first), then recent sales (more first), then name, each
channel up to its own limit; ``strict`` partitions at every level. A channel's
``minimum`` deliberately breaks this: it is applied last and the result is marked
``overcommitted``. Channels whose stock the marketplace holds (``managed_stock =
false``) are not allocated at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from channelsync.config import ChannelSyncSettings

__all__ = ["Allocation", "ChannelShare", "allocate", "base_quantity"]


@dataclass(frozen=True, slots=True)
class ChannelShare:
    """One channel selling a SKU: its settings and units it sold recently."""

    channel: str
    settings: ChannelSyncSettings
    recent_sales: int = 0


@dataclass(frozen=True, slots=True)
class Allocation:
    """The quantity each managed channel is shown, and how it was decided."""

    available: int
    shown: Mapping[str, int]
    scarce: bool
    threshold: int
    """The level at or below which the SKU is partitioned: the fixed level plus ``in_flight``."""
    overcommitted: bool
    """The sum shown exceeds available: only ever because of a ``minimum`` setting."""
    in_flight: int = 0
    """Units that may be sold and not yet seen, held back from the partition."""

    @property
    def total(self) -> int:
        """The sum shown across channels."""
        return sum(self.shown.values())


def base_quantity(available: int, settings: ChannelSyncSettings) -> int:
    """Return ``min(cap, floor(available * share) - buffer)`` clamped to ``[0, available]``."""
    if available <= 0:
        return 0
    share = settings.share
    # A whole share (the default) shows every unit: no decimal product to floor.
    shown = (available if share == 1 else math.floor(available * share)) - settings.buffer
    cap = settings.cap
    if cap is not None and cap < shown:
        shown = cap
    if shown > available:
        return available
    return shown if shown > 0 else 0


def allocate(
    available: int,
    channels: Sequence[ChannelShare],
    *,
    strict: bool = False,
    threshold: int | None = None,
    in_flight: int = 0,
) -> Allocation:
    """Allocate ``available`` units of one SKU across ``channels``.

    ``threshold`` is the fixed scarcity level (default: the number of managed
    channels); ``in_flight`` the units that may be sold and not yet seen. The SKU is
    partitioned at or below their sum, and ``in_flight`` units are then held back.
    """
    managed = [c for c in channels if c.settings.managed_stock]
    in_flight = max(in_flight, 0)
    level = (len(managed) if threshold is None else threshold) + in_flight
    scarce = strict or available <= level
    floor = available if available > 0 else 0
    if scarce:
        limits = {c.channel: base_quantity(available, c.settings) for c in managed}
        ranked = sorted(managed, key=lambda c: (-c.settings.priority, -c.recent_sales, c.channel))
        dealt = available - in_flight
        shown = _deal(dealt if dealt > 0 else 0, [(c.channel, limits[c.channel]) for c in ranked])
        for share in managed:
            shown[share.channel] = max(shown[share.channel], share.settings.minimum)
        over = sum(shown.values()) > floor
    else:
        # Plenty: each channel its own limit (a name listed twice keeps its last),
        # raised to every minimum given for it.
        shown = {c.channel: base_quantity(available, c.settings) for c in managed}
        for share in managed:
            shown[share.channel] = max(shown[share.channel], share.settings.minimum)
        over = any(q > floor for q in shown.values())
    return Allocation(
        available=available,
        shown=shown,
        scarce=scarce,
        threshold=level,
        overcommitted=over,
        in_flight=in_flight,
    )


def _deal(units: int, ranked: list[tuple[str, int]]) -> dict[str, int]:
    """Deal ``units`` in turn to channels in rank order, each up to its limit."""
    shown = {name: 0 for name, _ in ranked}
    limit = dict(ranked)
    active = [name for name, cap in ranked if cap > 0]
    remaining = units
    while remaining > 0 and active:
        per = remaining // len(active)
        if per == 0:
            # Fewer units than channels: the highest ranked get one each.
            for name in active[:remaining]:
                shown[name] += 1
            break
        for name in active:
            give = min(per, limit[name] - shown[name])
            shown[name] += give
            remaining -= give
        active = [name for name in active if shown[name] < limit[name]]
    return shown
