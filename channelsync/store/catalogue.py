"""The catalogue: products and their SKUs, as the engine stores them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["CatalogueSession", "SkuData", "SkuRecord"]


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

    @abstractmethod
    def set_low_stock_alerted(self, sku_id: int, alerted: bool) -> None:
        """Remember whether the SKU's low-stock alert has fired for the current crossing."""

    @abstractmethod
    def upsert_skus(self, skus: Sequence[SkuData], now: datetime) -> dict[str, int]:
        """Create or update SKUs by merchant code (marking them changed); return their ids."""
