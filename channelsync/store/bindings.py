"""Bindings: master SKUs tied to channel listings, with what was planned, sent and seen."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["BindingRecord", "BindingsSession", "ListingBinding"]


@dataclass(frozen=True, slots=True)
class BindingRecord:
    """A channel listing and the master SKU it is bound to (``sku_id`` ``None``: unbound)."""

    id: int
    channel: str
    item_id: str
    listing_sku_id: str | None
    sku_id: int | None
    merchant_code: str | None
    manual: bool
    title: str | None
    channel_quantity: int | None
    planned_quantity: int | None
    sent_quantity: int | None
    planned_price: str | None
    sent_price: str | None
    seen_at: datetime | None = None
    """When ``channel_quantity`` was read from the channel."""
    sent_at: datetime | None = None
    """When the channel accepted ``sent_quantity``."""
    held_since: datetime | None = None
    """When an unexplained drop of the channel's quantity was first seen (raises wait)."""
    held_shown: int | None = None
    """What the channel showed when the drop was first seen."""


@dataclass(frozen=True, slots=True)
class ListingBinding:
    """What a bulk binding write knows of one listing (see :meth:`StoreSession.upsert_bindings`)."""

    channel: str
    item_id: str
    listing_sku_id: str | None
    sku_id: int | None
    merchant_code: str | None
    manual: bool = False
    title: str | None = None
    channel_quantity: int | None = None


class BindingsSession(ABC):
    """The binding operations of a store transaction."""

    @abstractmethod
    def upsert_binding(
        self,
        *,
        channel: str,
        item_id: str,
        listing_sku_id: str | None,
        sku_id: int | None,
        merchant_code: str | None,
        manual: bool,
        title: str | None,
        channel_quantity: int | None,
        now: datetime,
    ) -> int:
        """Create or update the binding of one listing; return the binding id.

        A manual binding is never replaced by an automatic one.
        """

    @abstractmethod
    def bindings(
        self, *, channel: str | None = None, sku_ids: Iterable[int] | None = None
    ) -> list[BindingRecord]:
        """Return the bindings (of a channel, of some SKUs)."""

    @abstractmethod
    def bindings_of_items(self, channel: str, item_ids: Iterable[str]) -> list[BindingRecord]:
        """Return every binding of ``channel`` whose listing belongs to one of ``item_ids``."""

    @abstractmethod
    def binding_for_listing(
        self, channel: str, item_id: str, listing_sku_id: str | None
    ) -> BindingRecord | None:
        """Return the binding of one listing."""

    @abstractmethod
    def set_planned(
        self, binding_id: int, *, quantity: int | None = None, price: str | None = None
    ) -> None:
        """Remember the value last queued for the listing (quantity and/or price)."""

    @abstractmethod
    def set_sent(
        self,
        binding_id: int,
        *,
        quantity: int | None = None,
        price: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Remember the value the channel last accepted (a quantity at ``now``)."""

    @abstractmethod
    def set_observed(self, binding_id: int, quantity: int, now: datetime) -> None:
        """Remember what the channel showed of the listing at ``now``."""

    def set_observed_many(self, quantities: Mapping[int, int], now: datetime) -> None:
        """Remember what the channel showed of many listings at ``now``, per binding id.

        The default calls :meth:`set_observed` per listing (a store written elsewhere
        keeps working); the SQL store writes them as one row set.
        """
        for binding_id, quantity in quantities.items():
            self.set_observed(binding_id, quantity, now)

    @abstractmethod
    def set_hold(self, binding_id: int, since: datetime | None, shown: int | None) -> None:
        """Hold the listing's raises from ``since`` (it showed ``shown``); ``None`` lifts it."""

    @abstractmethod
    def units_ordered_since(self, channel: str, sku_id: int, since: datetime) -> int:
        """Return the units of a SKU in ``channel``'s imported orders created from ``since`` on."""

    def units_ordered_since_many(
        self, wanted: Mapping[tuple[str, int], datetime]
    ) -> dict[tuple[str, int], int]:
        """Return :meth:`units_ordered_since` for many ``(channel, sku_id)``, each its own since.

        The default asks once per pair (a store written elsewhere keeps working); the
        SQL store reads them all in one statement.
        """
        return {
            (channel, sku_id): self.units_ordered_since(channel, sku_id, since)
            for (channel, sku_id), since in wanted.items()
        }

    @abstractmethod
    def upsert_bindings(self, listings: Sequence[ListingBinding], now: datetime) -> set[int]:
        """Create or update the bindings of many listings; return the newly bound SKU ids.

        Follows :meth:`upsert_binding` row for row: a manual binding is never replaced
        by an automatic one, and a listing bound to another SKU starts from nothing
        planned or sent.
        """

    @abstractmethod
    def has_bindings(self, channel: str) -> bool:
        """Return whether any listing of ``channel`` has a binding (bound or not) yet."""

    @abstractmethod
    def bindings_for_listings(
        self, channel: str, listings: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], BindingRecord]:
        """Return the bindings of ``(item_id, listing_sku_id)`` listings of one channel.

        Keyed by ``(item_id, listing_sku_id or "")``.
        """

    @abstractmethod
    def skus_of_listings(
        self, channel: str, listings: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], int]:
        """Return the SKU id each bound listing of ``listings`` (of one channel) sells.

        Keyed as :meth:`bindings_for_listings`; a listing unbound or unknown is left out.
        What an order page needs of its lines' bindings, read without whole records.
        """

    @abstractmethod
    def set_planned_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
    ) -> None:
        """Remember the values last queued, per binding id."""

    @abstractmethod
    def set_sent_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
        now: datetime,
    ) -> None:
        """Remember the values the channels accepted, per binding id (quantities at ``now``)."""
