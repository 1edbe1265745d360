"""The catalogue: products and their SKUs, as the engine stores them.

A kit (a bundle, or a multipack: a kit of one component) is a SKU made of other SKUs:
selling one takes ``quantity`` units of each of its components. It holds no stock of its
own. Components are plain SKUs: kits are not nested (the catalogue import checks that).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["CatalogueSession", "KitComponent", "SkuData", "SkuRecord"]


@dataclass(frozen=True, slots=True)
class SkuRecord:
    """A master SKU as stored (price and cost are decimal text in ``currency``)."""

    id: int
    merchant_code: str
    product_code: str | None
    title: str
    price: str
    currency: str
    cost: str | None
    barcode: str | None
    attributes: Mapping[str, str]
    safety_stock: int
    low_stock_alerted: bool


@dataclass(frozen=True, slots=True)
class SkuData:
    """A SKU's catalogue data for a bulk write (see :meth:`StoreSession.upsert_skus`)."""

    merchant_code: str
    product_id: int | None
    title: str
    price: str
    currency: str
    cost: str | None = None
    barcode: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KitComponent:
    """One component of a kit: the SKU and the units of it one kit takes."""

    sku_id: int
    merchant_code: str
    quantity: int


class CatalogueSession(ABC):
    """The catalogue operations of a store transaction."""

    @abstractmethod
    def upsert_product(self, code: str, title: str, attributes: Mapping[str, str]) -> int:
        """Create or update a product by code; return its id."""

    @abstractmethod
    def upsert_sku(
        self,
        *,
        merchant_code: str,
        product_id: int | None,
        title: str,
        price: str,
        currency: str,
        cost: str | None,
        barcode: str | None,
        attributes: Mapping[str, str],
        now: datetime,
    ) -> int:
        """Create or update a SKU by merchant code (and mark it changed); return its id."""

    @abstractmethod
    def skus(self, merchant_codes: Iterable[str] | None = None) -> list[SkuRecord]:
        """Return the SKUs with these merchant codes (all SKUs when ``None``), by code."""

    @abstractmethod
    def skus_by_id(self, sku_ids: Iterable[int]) -> dict[int, SkuRecord]:
        """Return the SKUs with these ids."""

    def sku_ids(self) -> dict[str, int]:
        """Return every SKU's id by merchant code, in merchant code order.

        For a lookup of the whole catalogue by code (binding). This default reads every
        record; a store overrides it to read the codes and ids alone.
        """
        return {sku.merchant_code: sku.id for sku in self.skus()}

    @abstractmethod
    def set_low_stock_alerted(self, sku_id: int, alerted: bool) -> None:
        """Remember whether the SKU's low-stock alert has fired for the current crossing."""

    def claim_low_stock_alert(self, sku_id: int, alerted: bool) -> bool:
        """Set the SKU's low-stock flag to ``alerted``; return whether this call changed it.

        A plan raises the alert only when its own call turned the flag on, so of two
        plans of one SKU at once (two workers, a kit replanned beside its component)
        one alerts. This default sets the flag and answers yes; a store of many
        writers overrides it with a compare-and-set.
        """
        self.set_low_stock_alerted(sku_id, alerted)
        return True

    @abstractmethod
    def upsert_skus(self, skus: Sequence[SkuData], now: datetime) -> dict[str, int]:
        """Create or update SKUs by merchant code (marking them changed); return their ids."""

    @abstractmethod
    def components_of(self, kit_ids: Iterable[int]) -> dict[int, tuple[KitComponent, ...]]:
        """Return the components of each of these SKUs that is a kit, by merchant code.

        SKUs that are not kits do not appear.
        """

    @abstractmethod
    def kits_using(self, sku_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
        """Return, for each of these SKUs used as a component, the ids of the kits using it.

        SKUs no kit uses do not appear; kit ids are in ascending order.
        """

    @abstractmethod
    def set_components(self, kit_id: int, components: Sequence[tuple[int, int]]) -> bool:
        """Replace a kit's components with ``(component_id, quantity)`` pairs.

        Return whether anything changed; when it did, the kit is marked changed (as
        :meth:`~channelsync.store.ledger.LedgerSession.mark_changed` does) so its
        allocation is planned again. An empty list makes the SKU a plain one. Raises
        ``ValueError`` for a quantity below 1, a component listed twice or the kit
        itself among its components: the caller checks what it writes.
        """

    @abstractmethod
    def kit_ids(self) -> list[int]:
        """Return the ids of every kit, ascending."""

    @abstractmethod
    def has_kits(self) -> bool:
        """Return whether the catalogue has any kit (one row read, whatever its size)."""
