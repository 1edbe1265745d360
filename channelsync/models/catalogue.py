"""The master catalogue (products and their SKUs) and the channel-side listings.

A :class:`Product` and its :class:`Sku` objects are the merchant's own truth,
keyed by merchant code. A :class:`Listing` is what one marketplace shows for one
sellable SKU; the engine matches listings to SKUs by merchant code.

A SKU with :attr:`Sku.components` is a kit (a bundle, or a multipack: a kit of one
component): selling one takes each component's quantity, and it holds no stock of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Self

from pydantic import AwareDatetime, Field, field_validator, model_validator

from channelsync.errors import CurrencyMismatchError, ModelError
from channelsync.models._base import DomainModel, Identifier, NonEmptyStr
from channelsync.models.money import Money

__all__ = ["Component", "Listing", "ListingStatus", "Product", "Sku", "gtin_check_digit"]

_GTIN_LENGTHS = frozenset({8, 12, 13, 14})


def gtin_check_digit(digits: str) -> int:
    """Return the GS1 check digit for ``digits`` (a GTIN without its last digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        weight = 3 if position % 2 == 0 else 1
        total += int(char) * weight
    return (10 - total % 10) % 10


def _check_barcode(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip()
    if not (code.isascii() and code.isdigit()):
        raise ModelError(f"barcode {value!r} must contain digits only")
    if len(code) not in _GTIN_LENGTHS:
        raise ModelError(f"barcode {value!r} must be 8, 12, 13 or 14 digits long, not {len(code)}")
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise ModelError(
            f"barcode {value!r} has a wrong check digit {code[-1]} (expected {expected})"
        )
    return code


class Component(DomainModel):
    """One component of a kit: the component's merchant code and the units one kit takes."""

    sku: Identifier
    quantity: int = Field(ge=1)


class Sku(DomainModel):
    """One sellable variant in the master catalogue, identified by its merchant code.

    ``components`` makes it a kit; only the shape is checked here (no component twice,
    not itself): whether the components exist and are not kits is the catalogue's check.
    """

    merchant_code: Identifier
    product_code: Identifier | None = None
    title: NonEmptyStr | None = None
    attributes: Mapping[str, str] = Field(default_factory=dict)
    barcode: str | None = None
    price: Money | None = None
    cost: Money | None = None
    components: tuple[Component, ...] = ()

    @property
    def is_kit(self) -> bool:
        """Whether the SKU is a kit (or a multipack) made of other SKUs."""
        return bool(self.components)

    @field_validator("barcode")
    @classmethod
    def _validate_barcode(cls, value: str | None) -> str | None:
        return _check_barcode(value)

    @model_validator(mode="after")
    def _check_currencies(self) -> Self:
        if (
            self.price is not None
            and self.cost is not None
            and self.price.currency != self.cost.currency
        ):
            raise CurrencyMismatchError(
                f"SKU {self.merchant_code!r}: price is in {self.price.currency} "
                f"but cost is in {self.cost.currency}"
            )
        seen: set[str] = set()
        for component in self.components:
            if component.sku == self.merchant_code:
                raise ModelError(f"kit {self.merchant_code!r} lists itself as a component")
            if component.sku in seen:
                raise ModelError(
                    f"kit {self.merchant_code!r} lists component {component.sku!r} twice"
                )
            seen.add(component.sku)
        return self


class Product(DomainModel):
    """A product of the master catalogue and its SKUs (merchant codes unique within it)."""

    code: Identifier
    title: NonEmptyStr
    description: str | None = None
    attributes: Mapping[str, str] = Field(default_factory=dict)
    skus: tuple[Sku, ...] = ()

    @field_validator("skus")
    @classmethod
    def _check_unique_merchant_codes(cls, skus: tuple[Sku, ...]) -> tuple[Sku, ...]:
        seen: set[str] = set()
        for sku in skus:
            if sku.merchant_code in seen:
                raise ModelError(f"duplicate SKU merchant code {sku.merchant_code!r}")
            seen.add(sku.merchant_code)
        return skus

    def sku(self, merchant_code: str) -> Sku | None:
        """Return the SKU with ``merchant_code``, or ``None``."""
        return next((sku for sku in self.skus if sku.merchant_code == merchant_code), None)


class ListingStatus(StrEnum):
    """Whether a listing can be bought on the marketplace."""

    ON_SALE = "on_sale"
    DELISTED = "delisted"


class Listing(DomainModel):
    """The marketplace's view of one sellable SKU (or of an item that has no SKUs).

    ``sku_id`` is ``None`` when the item has no SKUs. ``raw_status`` keeps the
    marketplace's own status text next to the canonical ``status``.
    """

    channel: Identifier
    item_id: Identifier
    sku_id: Identifier | None = None
    merchant_code: Identifier | None = None
    title: str
    price: Money | None = None
    quantity: int | None = Field(default=None, ge=0)
    status: ListingStatus
    raw_status: str | None = None
    updated_at: AwareDatetime | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """``(item_id, sku_id)``: the listing's identity on its channel."""
        return (self.item_id, self.sku_id)
