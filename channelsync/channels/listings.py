"""The listings capability: read what a shop sells, list and delist it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

from channelsync.channels._batching import run_batches
from channelsync.channels.capabilities import ChannelLimits, Operation
from channelsync.models import Listing, ListingStatusChange, UpdateResult

__all__ = ["ListingsCapability"]


class ListingsCapability(ABC):
    """Read a shop's listings (paged) and change their on-sale status.

    Implement :meth:`iter_listings` and :meth:`send_listing_status_batch`. Whether a
    status change acts on one SKU or the whole item is declared in
    ``limits.listing_scope``.
    """

    limits: ClassVar[ChannelLimits]

    @abstractmethod
    def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield every listing of the shop (on sale and delisted), one per SKU, paging inside."""

    async def set_listing_status(
        self, changes: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """List or delist; returns one result per change, in order."""
        size = self.limits.batch_size(Operation.SET_LISTING_STATUS)
        return await run_batches(changes, size, self.send_listing_status_batch)

    @abstractmethod
    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """Send one batch (within the declared batch size); one result per change."""
