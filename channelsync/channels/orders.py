"""The orders capability: incremental, overlap-safe order pulls and single-order reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from channelsync.channels.capabilities import ChannelLimits
from channelsync.channels.windows import PullCursor, TimeWindow, read_next_window
from channelsync.clock import Clock
from channelsync.models import Order

__all__ = ["OrderCountCapability", "OrderPull", "OrdersCapability"]


class OrderPull(BaseModel):
    """The answer to one incremental pull: orders, the next cursor, and whether it caught up.

    ``window`` is ``None`` when there was nothing to read yet (the cursor was already
    at the marketplace's horizon). ``caught_up`` is false when more windows remain.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    orders: tuple[Order, ...]
    cursor: PullCursor
    window: TimeWindow | None
    caught_up: bool


class OrdersCapability(ABC):
    """Pull orders changed since a cursor, and fetch one order.

    Implement :meth:`fetch_orders` (every order modified inside one window, paging
    inside) and :meth:`get_order`. :meth:`pull_orders` carries the policy: it plans
    the window from ``limits.order_window`` and the marketplace clock, reads it,
    keeps the newest version of each order and advances the cursor. Pulling the same
    span twice returns the same orders, so a crash between a pull and storing its
    cursor loses nothing.
    """

    limits: ClassVar[ChannelLimits]
    clock: Clock
    name: str
    """The channel's name (set by :class:`~channelsync.channels.Channel`)."""

    async def marketplace_now(self) -> datetime:
        """Return the marketplace's current time (override to read the server's clock)."""
        return self.clock.now()

    async def pull_orders(self, cursor: PullCursor) -> OrderPull:
        """Read the next window after ``cursor``; call again until ``caught_up``."""
        read = await read_next_window(
            cursor,
            self.limits.order_window,
            await self.marketplace_now(),
            self.fetch_orders,
            key=lambda r: r.order_id,
            updated=lambda r: r.updated_at,
        )
        return OrderPull(
            orders=tuple(read.records),
            cursor=read.cursor,
            window=read.window,
            caught_up=read.caught_up,
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
