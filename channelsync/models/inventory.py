"""Stock levels, the updates sent to marketplaces, and their per-item results.

Updates are addressed by ``(item_id, sku_id)`` on one channel and carry the
merchant code for reporting. A batch call answers one :class:`UpdateResult` per
update: a rejected SKU is a result with an :class:`ItemError`, not an exception.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, Self

from pydantic import Field, field_validator, model_validator

from channelsync.errors import ModelError
from channelsync.models._base import DomainModel, Identifier
from channelsync.models.catalogue import ListingStatus
from channelsync.models.money import Money

__all__ = [
    "ItemError",
    "ListingStatusChange",
    "PriceChange",
    "StockLevel",
    "StockUpdate",
    "StockUpdateMode",
    "UpdateResult",
]


class _ListingAddressed(Protocol):
    """Anything addressed to one channel listing (the update types)."""

    @property
    def item_id(self) -> str: ...

    @property
    def sku_id(self) -> str | None: ...

    @property
    def merchant_code(self) -> str | None: ...


class StockLevel(DomainModel):
    """On-hand stock of a master SKU, per warehouse where one is given."""

    merchant_code: Identifier
    quantity: int = Field(ge=0)
    warehouse: Identifier | None = None


class StockUpdateMode(StrEnum):
    """Whether a stock update sets the quantity or adds to it."""

    ABSOLUTE = "absolute"
    DELTA = "delta"


class _ListingUpdate(DomainModel):
    """Fields shared by the updates addressed to one channel listing."""

    item_id: Identifier
    sku_id: Identifier | None = None
    merchant_code: Identifier | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """``(item_id, sku_id)``: the listing the update is for."""
        return (self.item_id, self.sku_id)


class StockUpdate(_ListingUpdate):
    """One stock change for one channel listing.

    An absolute quantity is at least 0; a delta may be negative but never 0.
    """

    quantity: int
    mode: StockUpdateMode = StockUpdateMode.ABSOLUTE

    @model_validator(mode="after")
    def _check_quantity(self) -> Self:
        if self.mode is StockUpdateMode.ABSOLUTE and self.quantity < 0:
            raise ModelError(f"quantity {self.quantity}: an absolute stock quantity must be >= 0")
        if self.mode is StockUpdateMode.DELTA and self.quantity == 0:
            raise ModelError(f"quantity {self.quantity}: a stock delta must not be 0")
        return self


class PriceChange(_ListingUpdate):
    """A new selling price for one channel listing (greater than zero)."""

    price: Money

    @field_validator("price")
    @classmethod
    def _check_positive(cls, price: Money) -> Money:
        if price.amount <= 0:
            raise ModelError(f"price {price} must be greater than 0")
        return price


class ListingStatusChange(_ListingUpdate):
    """Put one channel listing on sale or take it off sale."""

    status: ListingStatus


class ItemError(DomainModel):
    """Why the marketplace rejected one item of a batch."""

    code: str | None = None
    message: str
    retryable: bool = False
    authentication: bool = False
    """The marketplace rejected the credentials: nothing is wrong with the item itself."""


class UpdateResult(DomainModel):
    """The outcome of one update in a batch: success, or an :class:`ItemError`."""

    item_id: Identifier
    sku_id: Identifier | None = None
    merchant_code: Identifier | None = None
    error: ItemError | None = None

    @property
    def ok(self) -> bool:
        """Whether the update was applied."""
        return self.error is None

    @property
    def key(self) -> tuple[str, str | None]:
        """``(item_id, sku_id)``: the listing the result is for."""
        return (self.item_id, self.sku_id)

    @classmethod
    def success(cls, update: _ListingAddressed) -> UpdateResult:
        """Record that ``update`` was applied."""
        return cls(item_id=update.item_id, sku_id=update.sku_id, merchant_code=update.merchant_code)

    @classmethod
    def failure(
        cls,
        update: _ListingAddressed,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
    ) -> UpdateResult:
        """Record that the marketplace rejected ``update``, with its code and message."""
        return cls(
            item_id=update.item_id,
            sku_id=update.sku_id,
            merchant_code=update.merchant_code,
            error=ItemError(code=code, message=message, retryable=retryable),
        )
