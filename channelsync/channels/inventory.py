"""The inventory and pricing capabilities: set SKU stock and SKU prices in batches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from channelsync.channels._batching import run_batches
from channelsync.channels.capabilities import ChannelLimits, Operation
from channelsync.models import PriceChange, StockUpdate, StockUpdateMode, UpdateResult

__all__ = ["InventoryCapability", "PricingCapability"]


class InventoryCapability(ABC):
    """Set stock per SKU, absolute or (where the marketplace has it) incremental.

    Implement :meth:`send_stock_batch`; :meth:`set_stock` splits the updates into the
    declared batch size and returns one result per update. A batch in which some SKUs
    fail is normal: the failed ones carry their reason.
    """

    limits: ClassVar[ChannelLimits]

    async def set_stock(self, updates: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Apply ``updates``; returns one result per update, in order.

        On a marketplace without incremental stock, delta updates are refused one by
        one (the engine sends absolute values there) and the rest are sent.
        """
        size = self.limits.batch_size(Operation.SET_STOCK)
        if self.limits.stock_delta:
            return await run_batches(updates, size, self.send_stock_batch)
        absolute = [u for u in updates if u.mode is StockUpdateMode.ABSOLUTE]
        sent = iter(await run_batches(absolute, size, self.send_stock_batch))
        return [
            next(sent)
            if u.mode is StockUpdateMode.ABSOLUTE
            else UpdateResult.failure(
                u, "this marketplace only accepts absolute stock; send an absolute quantity"
            )
            for u in updates
        ]

    @abstractmethod
    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Send one batch (within the declared batch size); one result per update."""


class PricingCapability(ABC):
    """Set the price of SKUs.

    Implement :meth:`send_price_batch`; :meth:`set_prices` batches like stock does.
    """

    limits: ClassVar[ChannelLimits]

    async def set_prices(self, changes: Sequence[PriceChange]) -> list[UpdateResult]:
        """Apply ``changes``; returns one result per change, in order."""
        size = self.limits.batch_size(Operation.SET_PRICE)
        return await run_batches(changes, size, self.send_price_batch)

    @abstractmethod
    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Send one batch (within the declared batch size); one result per change."""


class StockAndPriceCapability(ABC):
    """Send stock and price changes together, where the marketplace takes both in one go.

    Optional, beside :class:`InventoryCapability` and :class:`PricingCapability`: a
    marketplace whose bulk route costs a scarce submission (Amazon's listings feed,
    five per five minutes) spends one for both kinds instead of one each. The engine
    hands over the due entries of both kinds, each within its batch size.
    """

    @abstractmethod
    async def set_stock_and_prices(
        self, stock: Sequence[StockUpdate], prices: Sequence[PriceChange]
    ) -> tuple[list[UpdateResult], list[UpdateResult]]:
        """Apply both; return one result per update and per change, each in order."""
