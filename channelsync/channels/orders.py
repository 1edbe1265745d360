"""The orders capability: incremental, overlap-safe order pulls and single-order reads."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from channelsync.channels.capabilities import ChannelLimits
from channelsync.channels.windows import PullCursor, TimeWindow, WindowRead, read_next_window
from channelsync.clock import Clock
from channelsync.errors import PermanentChannelError
from channelsync.models import Order

__all__ = ["OrderCountCapability", "OrderPull", "OrdersCapability"]

logger = logging.getLogger(__name__)

#: How long a channel reads no fresh span after the marketplace refused one.
FRESH_REFUSED_PAUSE = timedelta(hours=1)


class OrderPull(BaseModel):
    """The answer to one incremental pull: orders, the next cursor, and whether it caught up.

    ``window`` is ``None`` when there was nothing to read yet (the cursor was already
    at the marketplace's horizon). ``caught_up`` is false when more windows remain.
    ``fresh`` is true when the read went on past ``window`` into the span the
    completeness lag excludes: those orders are early, the span is read again later.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    orders: tuple[Order, ...]
    cursor: PullCursor
    window: TimeWindow | None
    caught_up: bool
    fresh: bool = False


class OrdersCapability(ABC):
    """Pull orders changed since a cursor, and fetch one order.

    Implement :meth:`fetch_orders` (every order modified inside one window, paging
    inside) and :meth:`get_order`. :meth:`pull_orders` carries the policy: it plans
    the window from ``limits.order_window`` and the marketplace clock, reads it,
    keeps the newest version of each order and advances the cursor. Pulling the same
    span twice returns the same orders, so a crash between a pull and storing its
    cursor loses nothing. Asked for a fresh read (``fresh=True``) a channel whose
    ``order_window`` declares ``fresh_lag`` reads its last window on into the span
    the lag excludes; should the marketplace refuse that read, the window is read
    without it and the channel reads no fresh span for an hour.
    """

    limits: ClassVar[ChannelLimits]
    clock: Clock
    name: str
    """The channel's name (set by :class:`~channelsync.channels.Channel`)."""
    _fresh_refused_until: datetime | None = None

    async def marketplace_now(self) -> datetime:
        """Return the marketplace's current time (override to read the server's clock)."""
        return self.clock.now()

    async def pull_orders(self, cursor: PullCursor, *, fresh: bool = False) -> OrderPull:
        """Read the next window after ``cursor``; call again until ``caught_up``.

        ``fresh`` also reads the newest span the completeness lag excludes (when the
        channel declares ``fresh_lag``), for early visibility; the cursor moves as
        without it.
        """
        now = await self.marketplace_now()
        refused_until = self._fresh_refused_until
        fresh = fresh and (refused_until is None or now >= refused_until)
        try:
            read = await self._read_window(cursor, now, fresh=fresh)
        except PermanentChannelError as error:
            if not fresh:
                raise
            # An early read is a bonus: a marketplace that refuses it (a clock ahead of
            # ours, a stricter floor) must not cost the complete read.
            logger.warning(
                "channel %s: the marketplace refused a fresh order read (%s); reading "
                "complete windows only for %s",
                self.name,
                error,
                FRESH_REFUSED_PAUSE,
            )
            self._fresh_refused_until = now + FRESH_REFUSED_PAUSE
            read = await self._read_window(cursor, now, fresh=False)
        return OrderPull(
            orders=tuple(read.records),
            cursor=read.cursor,
            window=read.window,
            caught_up=read.caught_up,
            fresh=read.fresh,
        )

    async def _read_window(
        self, cursor: PullCursor, now: datetime, *, fresh: bool
    ) -> WindowRead[Order]:
        return await read_next_window(
            cursor,
            self.limits.order_window,
            now,
            self.fetch_orders,
            key=lambda r: r.order_id,
            updated=lambda r: r.updated_at,
            fresh=fresh,
        )

    @abstractmethod
    def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order whose modified time is inside ``window``, across all pages."""

    @abstractmethod
    async def get_order(self, order_id: str) -> Order:
        """Return one order with full detail; ``NotFoundError`` when it does not exist."""


class OrderCountCapability(ABC):
    """Count the orders a marketplace holds for a span of time (optional, with orders).

    Order completeness is checked with it: the engine asks for the number of orders
    created inside a window that its order watermark has passed and compares it with
    the orders it imported for the same window. Implement it only where the
    marketplace answers with a total (a count field of a search, a report) without
    reading every order again; a count that needs every page read proves nothing the
    pull did not already do.
    """

    name: str
    """The channel's name (set by :class:`~channelsync.channels.Channel`)."""

    @abstractmethod
    async def count_orders(self, window: TimeWindow) -> int:
        """Return how many orders were created inside ``window``, whatever their status.

        ``window.start`` is included and ``window.end`` excluded, as in
        :meth:`OrdersCapability.fetch_orders`; a retryable or permanent failure raises
        the usual :class:`~channelsync.errors.ChannelError`.
        """
