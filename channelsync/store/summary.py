"""Read models for views (the console): counts and pages computed by the database.

The engine's own reads load what one step needs; a page that summarises a store of
100,000 SKUs and 50,000 orders must not. These reads aggregate and page in SQL and
never return buyers' personal data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from channelsync.store.journal import AuditEntry
from channelsync.store.ledger import LedgerEvent
from channelsync.store.orders import ShipmentRecord, StoredOrder

__all__ = ["ChannelCounts", "SummarySession"]


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    """What is queued, parked and held on one channel."""

    pending: int = 0
    parked: int = 0
    parked_records: int = 0
    held: int = 0
    """Listings whose raises the re-inflation guard holds back."""
    bound: int = 0
    orders: int = 0


class SummarySession(ABC):
    """The view reads of a store transaction."""

    @abstractmethod
    def channel_counts(self) -> dict[str, ChannelCounts]:
        """Return each channel's outbox, parked, held, bound and order counts."""

    @abstractmethod
    def oversold(self, limit: int = 100) -> tuple[int, dict[str, int]]:
        """Return how many SKUs are oversold and, for up to ``limit``, by how many units."""

    @abstractmethod
    def skus_in_several_warehouses(self, limit: int | None = None) -> dict[int, str]:
        """Return the SKUs with stock in more than one warehouse: id to merchant code.

        By merchant code, up to ``limit`` of them (``None``: all). A warehouse counts
        once the SKU's stock was ever counted there, at zero units too.
        """

    @abstractmethod
    def search_skus(self, text: str, limit: int = 50) -> list[str]:
        """Return up to ``limit`` merchant codes containing ``text`` (any case), in order."""

    @abstractmethod
    def order_page(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[StoredOrder]]:
        """Return the number of matching orders and one page of them, newest placed first.

        The orders carry no personal data (delivery address, buyer's note).
        """

    @abstractmethod
    def order_statuses(self) -> list[str]:
        """Return the order statuses present in the store."""

    @abstractmethod
    def order_ledger(self, channel: str, order_id: str) -> list[LedgerEvent]:
        """Return the ledger events an order caused, oldest first."""

    @abstractmethod
    def order_shipments(self, channel: str, order_id: str) -> list[ShipmentRecord]:
        """Return the shipments asked for an order, oldest first."""

    @abstractmethod
    def listing_audit(self, listings: Sequence[tuple[str, str]], limit: int) -> list[AuditEntry]:
        """Return the newest ``limit`` audit entries of ``(channel, key)`` listings."""
