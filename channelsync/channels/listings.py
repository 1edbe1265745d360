"""The listings capability: read what a shop sells, list and delist it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

from channelsync.channels._batching import run_batches
from channelsync.channels.capabilities import ChannelLimits, Operation
from channelsync.models import Listing, ListingStatusChange, UpdateResult

__all__ = ["ListingLookupCapability", "ListingsCapability", "ShownQuantityCapability"]


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


class ListingLookupCapability(ABC):
    """Read chosen listings by merchant code (optional, with listings).

    The engine reads only the listings it needs with it (the re-inflation guard's
    look at listings with a raise queued) instead of scanning the shop, and finds the
    listings a scan could not reach: a marketplace that stops a scan short (Amazon's
    ``searchListingsItems`` pages through 1,000 items at most) sets :attr:`scan_capped`
    in :meth:`~ListingsCapability.iter_listings`, and the engine then looks up the
    catalogue's merchant codes the scan did not find.
    """

    scan_capped: bool = False
    """Whether the last scan of the shop stopped before its last listing."""

    @abstractmethod
    async def find_listings(self, merchant_codes: Sequence[str]) -> list[Listing]:
        """Return the listings carrying any of ``merchant_codes`` (nothing for a code unlisted).

        Batched to the marketplace's limits inside.
        """


class ShownQuantityCapability(ABC):
    """Read what a shop shows for chosen listings, by item id and SKU id (optional).

    For a marketplace that cannot look listings up by merchant code but can read them
    by its own ids (Tmall's ``taobao.item.skus.get``, 40 items a call). The re-inflation
    guard reads with it only the listings that have a raise queued, instead of scanning
    the shop. A channel that can do both is read by merchant code.
    """

    @abstractmethod
    async def shown_quantities(
        self, listings: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str], int]:
        """Return the quantity shown for each ``(item id, SKU id)`` the shop still has.

        The answer's keys spell a listing without SKU id with ``""``; a listing the
        shop no longer has is left out. Batched to the marketplace's limits inside.
        """
