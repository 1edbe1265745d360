"""Protection that knows the pace: the units a SKU may have sold that the engine has not seen.

A marketplace sells before channelsync sees the order: each channel's orders reach
the store a *visibility delay* ``d_c`` after the buyer ordered (events, fresh reads or
the lagged poll, whichever sees them first). A SKU selling ``r_c`` units a second on
channel ``c`` therefore has about ``r_c * d_c`` units sold there and not yet seen. The
planner holds back

    in_flight = ⌊ Σ_c r_c * d_c ⌋

units of every SKU (summed over the channels selling it) and partitions the SKU as
soon as its available stock is at or below the fixed threshold plus that amount; see
:func:`channelsync.engine.allocation.allocate` and the oversell explanation page for
the rule and what it proves.

``r_c`` is the SKU's units reserved by channel ``c``'s orders per second, over the last
``[engine] pace_window_seconds`` or over its last quarter, whichever is higher (so a
burst counts within minutes). ``d_c`` is *measured*: the
engine records, for every order imported for the first time while it was keeping up,
the seconds between the order's creation on the marketplace and its import, per
channel and per way of seeing orders (:class:`VisibilityMode`); the store keeps the
recent samples and their 90th percentile. Until a mode has :data:`MIN_SAMPLES` samples
the declared figure stands in for it: the event delay the channel type declares when
its events are on and healthy, else the pull interval plus the fresh-read floor, else
the pull interval plus the completeness lag.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from channelsync.channels import Channel, EventsCapability, OrdersCapability
from channelsync.store import StoreSession, VisibilityFigure

__all__ = [
    "DEFAULT_PULL_INTERVAL",
    "MIN_SAMPLES",
    "ChannelVisibility",
    "SlicePace",
    "Visibility",
    "VisibilityMode",
    "in_flight",
]

#: Samples a mode needs before its measured figure replaces the declared one.
MIN_SAMPLES = 20
#: The pace is the higher of the window's and of its last 1/_SHORT's.
_SHORT = 4
#: The pull interval assumed where no daemon said otherwise (the daemon's default).
DEFAULT_PULL_INTERVAL = 60.0


class VisibilityMode(StrEnum):
    """How a channel's orders are being seen first."""

    EVENTS = "events"
    FRESH = "fresh"
    POLLING = "polling"


@dataclass(frozen=True, slots=True)
class ChannelVisibility:
    """What a channel declares about how soon its orders can be read (seconds)."""

    lag: float = 0.0
    fresh_lag: float | None = None
    """How close to the clock a fresh read may end; ``None``: no fresh reads."""
    event_delay: float | None = None
    """How late an event may arrive; ``None``: the channel does not listen."""

    @classmethod
    def of(cls, channel: Channel[Any]) -> ChannelVisibility:
        """Read the declared figures from ``channel``'s limits and events setting."""
        rules = channel.limits.order_window
        event_delay = None
        if isinstance(channel, EventsCapability) and channel.settings.events:
            event_delay = channel.event_delay.total_seconds()
        return cls(
            lag=rules.lag.total_seconds() if isinstance(channel, OrdersCapability) else 0.0,
            fresh_lag=None if rules.fresh_lag is None else rules.fresh_lag.total_seconds(),
            event_delay=event_delay,
        )


@dataclass
class Visibility:
    """Every channel's visibility delay: measured once enough samples exist, declared until then.

    The daemon tells it each channel's pull interval (:meth:`set_pull_interval`) and,
    where a channel listens to events, whether its listener is connected and keeping
    up (:meth:`set_events`); the planner asks :meth:`delays` with the store's figures.
    """

    channels: dict[str, ChannelVisibility] = field(default_factory=dict)
    fresh_reads: bool = True
    pull_intervals: dict[str, float] = field(default_factory=dict)
    events_healthy: dict[str, bool] = field(default_factory=dict)
    min_samples: int = MIN_SAMPLES

    def set_pull_interval(self, channel: str, seconds: float) -> None:
        """Record how often ``channel`` is pulled."""
        self.pull_intervals[channel] = seconds

    def set_events(self, channel: str, healthy: bool) -> None:
        """Record whether ``channel``'s events listener is connected and keeping up."""
        self.events_healthy[channel] = healthy

    def mode(self, channel: str) -> VisibilityMode:
        """Return how ``channel``'s orders are being seen first now."""
        info = self.channels.get(channel, ChannelVisibility())
        if info.event_delay is not None and self.events_healthy.get(channel, False):
            return VisibilityMode.EVENTS
        if self.fresh_reads and info.fresh_lag is not None and info.fresh_lag < info.lag:
            return VisibilityMode.FRESH
        return VisibilityMode.POLLING

    def declared(self, channel: str, mode: VisibilityMode | None = None) -> float:
        """Return ``channel``'s declared delay in seconds in ``mode`` (default: the current)."""
        info = self.channels.get(channel, ChannelVisibility())
        mode = mode or self.mode(channel)
        pull = self.pull_intervals.get(channel, DEFAULT_PULL_INTERVAL)
        if mode is VisibilityMode.EVENTS and info.event_delay is not None:
            return info.event_delay
        if mode is VisibilityMode.FRESH and info.fresh_lag is not None:
            return pull + info.fresh_lag
        return pull + info.lag

    def delay(self, channel: str, figures: Mapping[tuple[str, str], VisibilityFigure]) -> float:
        """Return ``channel``'s delay now: measured in its current mode, or declared."""
        mode = self.mode(channel)
        measured = figures.get((channel, mode.value))
        if measured is not None and measured.samples >= self.min_samples:
            return float(measured.delay_s)
        return self.declared(channel, mode)

    def delays(self, figures: Mapping[tuple[str, str], VisibilityFigure]) -> dict[str, float]:
        """Return the delay of every known channel (see :meth:`delay`)."""
        return {name: self.delay(name, figures) for name in self.channels}


def in_flight(rates: Mapping[str, float], delays: Mapping[str, float]) -> int:
    """Return ``⌊Σ_c rates[c] * delays[c]⌋``: units that may be sold and not yet seen.

    ``rates`` in units per second per channel, ``delays`` in seconds; a channel
    without a delay counts for nothing.
    """
    total = math.fsum(
        max(0.0, rate) * max(0.0, delays.get(name, 0.0)) for name, rate in rates.items()
    )
    return math.floor(total)


@dataclass(frozen=True, slots=True)
class SlicePace:
    """The pace of a slice of SKUs per channel and the channels' delays, read once per slice."""

    rates: Mapping[tuple[int, str], float]
    """Units per second, per ``(sku_id, channel)``."""
    delays: Mapping[str, float]
    _by_sku: Mapping[int, Mapping[str, float]] = field(init=False, repr=False, compare=False)
    """``rates`` by SKU: most SKUs of a slice sold nothing, and are answered at once."""
    _finite: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_sku: dict[int, dict[str, float]] = {}
        for (sku_id, name), rate in self.rates.items():
            by_sku.setdefault(sku_id, {})[name] = rate
        object.__setattr__(self, "_by_sku", by_sku)
        # A SKU without sales counts 0 * delay per channel: 0 only while every delay is finite.
        finite = all(math.isfinite(delay) for delay in self.delays.values())
        object.__setattr__(self, "_finite", finite)

    @classmethod
    def read(
        cls,
        session: StoreSession,
        visibility: Visibility,
        sku_ids: Iterable[int],
        *,
        window_seconds: int,
        now: datetime,
    ) -> SlicePace:
        """Read the sales of the last ``window_seconds`` and the measured delays."""
        windows = cls.windows(window_seconds)
        sales = session.sales_since(sku_ids, [now - timedelta(seconds=s) for s in windows])
        return cls.of_sales(session, visibility, windows, sales)

    @staticmethod
    def windows(window_seconds: int) -> tuple[int, ...]:
        """Return the windows (seconds) whose sales give the pace: none when it is off.

        The whole window, and its last quarter: a burst shows in the pace within
        minutes instead of being averaged over the quiet time before it.
        """
        if window_seconds <= 0:
            return ()
        return window_seconds, max(1, window_seconds // _SHORT)

    @classmethod
    def of_sales(
        cls,
        session: StoreSession,
        visibility: Visibility,
        windows: Sequence[int],
        sales: Sequence[Mapping[tuple[int, str], int]],
    ) -> SlicePace:
        """Return the pace of the units sold in each of :meth:`windows` (``sales``, in order)."""
        rates: dict[tuple[int, str], float] = {}
        for seconds, sold in zip(windows, sales, strict=True):
            for key, units in sold.items():
                if units > 0:
                    rates[key] = max(rates.get(key, 0.0), units / seconds)
        return cls(rates, visibility.delays(session.visibility()) if rates else {})

    def in_flight(self, sku_id: int, channels: Iterable[str]) -> int:
        """Return the units of ``sku_id`` that may be sold on ``channels`` and not yet seen."""
        sold = self._by_sku.get(sku_id)
        if self._finite:
            # A channel without sales adds exactly 0 to the (exactly rounded) sum.
            if sold is None:
                return 0
            return in_flight({n: sold[n] for n in channels if n in sold}, self.delays)
        rates = {name: 0.0 if sold is None else sold.get(name, 0.0) for name in channels}
        return in_flight(rates, self.delays)
