"""The refunds capability: incremental pulls of refunds and returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from channelsync.channels.capabilities import ChannelLimits
from channelsync.channels.windows import PullCursor, TimeWindow, read_next_window
from channelsync.clock import Clock
from channelsync.models import Refund

__all__ = ["RefundPull", "RefundsCapability"]


class RefundPull(BaseModel):
    """The answer to one incremental refund pull (see :class:`~channelsync.channels.OrderPull`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    refunds: tuple[Refund, ...]
    cursor: PullCursor
    window: TimeWindow | None
    caught_up: bool


class RefundsCapability(ABC):
    """Pull refunds and returns changed since a cursor, within the order-window rules.

    Implement :meth:`fetch_refunds`; :meth:`pull_refunds` plans windows like orders do.
    """

    limits: ClassVar[ChannelLimits]
    clock: Clock
    name: str
    """The channel's name (set by :class:`~channelsync.channels.Channel`)."""

    async def marketplace_now(self) -> datetime:
        """Return the marketplace's current time."""
        return self.clock.now()

    async def pull_refunds(self, cursor: PullCursor) -> RefundPull:
        """Read the next window after ``cursor``; call again until ``caught_up``."""
        read = await read_next_window(
            cursor,
            self.limits.order_window,
            await self.marketplace_now(),
            self.fetch_refunds,
            key=lambda r: r.refund_id,
            updated=lambda r: r.updated_at,
        )
        return RefundPull(
            refunds=tuple(read.records),
            cursor=read.cursor,
            window=read.window,
            caught_up=read.caught_up,
        )

    @abstractmethod
    def fetch_refunds(self, window: TimeWindow) -> AsyncIterator[Refund]:
        """Yield every refund whose modified time is inside ``window``, across all pages."""
