"""Orders and refunds in one canonical shape, whatever the marketplace.

Every order and refund keeps the marketplace's own status text (``raw_status``)
next to the canonical status, so nothing is lost in the mapping. An order on a
marketplace hold (e.g. risk control) is ``on_hold`` and must never be shipped.
"""

from __future__ import annotations

import re
from datetime import UTC
from enum import StrEnum
from typing import Self

from pydantic import AwareDatetime, Field, field_validator, model_validator

from channelsync.errors import CurrencyMismatchError, ModelError
from channelsync.models._base import DomainModel, Identifier, NonEmptyStr
from channelsync.models.money import Money

__all__ = [
    "Address",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Refund",
    "RefundLine",
    "RefundStatus",
]

_COUNTRY_RE = re.compile(r"[A-Za-z]{2}")


class OrderStatus(StrEnum):
    """The canonical order lifecycle every marketplace status is mapped to."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    """Paid, awaiting shipment."""
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUND_REQUESTED = "refund_requested"
    REFUNDED = "refunded"

    @property
    def is_final(self) -> bool:
        """Whether the order can no longer change (completed, cancelled or refunded)."""
        return self in _FINAL_STATUSES

    @property
    def awaits_shipment(self) -> bool:
        """Whether goods still have to be sent (paid or partially shipped)."""
        return self in _AWAITING_SHIPMENT


_FINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REFUNDED})
_AWAITING_SHIPMENT = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED})


def _check_quantity(value: int) -> int:
    if value <= 0:
        raise ModelError(f"quantity {value} must be greater than 0")
    return value


class Address(DomainModel):
    """A postal address with recipient name and phone.

    ``masked`` marks values the marketplace only gave masked or encrypted (e.g.
    Pinduoduo); they are kept as given and never decrypted.
    """

    name: str | None = None
    phone: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    masked: bool = False

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip()
        if not _COUNTRY_RE.fullmatch(code):
            raise ModelError(f"country {value!r} is not an ISO 3166-1 alpha-2 code")
        return code.upper()


class OrderLine(DomainModel):
    """One line of an order: a listing, how many, and at what unit price."""

    line_id: Identifier | None = None
    item_id: Identifier
    sku_id: Identifier | None = None
    merchant_code: Identifier | None = None
    title: str | None = None
    quantity: int
    unit_price: Money

    _validate_quantity = field_validator("quantity")(_check_quantity)

    @property
    def total(self) -> Money:
        """``unit_price`` times ``quantity``."""
        return self.unit_price * self.quantity


class Order(DomainModel):
    """An order as read from one marketplace, in canonical form.

    ``total`` is what the buyer pays. Every amount shares one currency, and
    ``updated_at`` is never before ``created_at``.
    """

    channel: Identifier
    order_id: Identifier
    status: OrderStatus
    raw_status: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    paid_at: AwareDatetime | None = None
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    total: Money
    shipping_fee: Money | None = None
    discount: Money | None = None
    shipping_address: Address | None = None
    buyer_note: str | None = None
    on_hold: bool = False
    hold_reason: NonEmptyStr | None = None
    raw_refund_status: str | None = None
    buyer_id: Identifier | None = None
    """The marketplace's stable id of the buyer; ``None`` where it gives none or masks it."""

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        currency = self.total.currency
        amounts: list[tuple[str, Money | None]] = [
            ("shipping_fee", self.shipping_fee),
            ("discount", self.discount),
        ]
        amounts += [
            (f"lines[{i}].unit_price", line.unit_price) for i, line in enumerate(self.lines)
        ]
        for field, money in amounts:
            if money is not None and money.currency != currency:
                raise CurrencyMismatchError(
                    f"order {self.order_id!r}: {field} is in {money.currency} "
                    f"but total is in {currency}"
                )
        if self.updated_at < self.created_at:
            raise ModelError(
                f"order {self.order_id!r}: updated_at {self.updated_at.isoformat()} is before "
                f"created_at {self.created_at.isoformat()}"
            )
        if self.on_hold and self.hold_reason is None:
            raise ModelError(f"order {self.order_id!r}: hold_reason is required when on_hold")
        return self

    @property
    def currency(self) -> str:
        """The currency every amount of the order is in."""
        return self.total.currency

    @property
    def version(self) -> str:
        """A stable string identifying this state of the order (UTC ``updated_at`` + status).

        Two reads of an unchanged order give the same version, so repeated
        deliveries of the same state can be recognised and skipped.
        """
        return f"{self.updated_at.astimezone(UTC).isoformat()}|{self.status.value}"

    @property
    def can_ship(self) -> bool:
        """Whether the order awaits shipment and is not held by the marketplace."""
        return self.status.awaits_shipment and not self.on_hold


class RefundStatus(StrEnum):
    """The canonical refund (after-sale) lifecycle."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REFUNDED = "refunded"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class RefundLine(DomainModel):
    """Which goods, and how many, a refund covers.

    ``line_id`` names the order line (a sub-order) when the marketplace says which;
    the goods are then that line's, whatever else the refund repeats.
    """

    line_id: Identifier | None = None
    item_id: Identifier | None = None
    sku_id: Identifier | None = None
    merchant_code: Identifier | None = None
    quantity: int

    _validate_quantity = field_validator("quantity")(_check_quantity)


class Refund(DomainModel):
    """A refund or return request on one order, in canonical form.

    ``returns_goods`` is true when the buyer sends goods back; empty ``lines``
    means the marketplace did not say which goods the refund covers.
    """

    channel: Identifier
    refund_id: Identifier
    order_id: Identifier
    status: RefundStatus
    raw_status: str
    amount: Money
    reason: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    lines: tuple[RefundLine, ...] = ()
    returns_goods: bool = False

    @field_validator("amount")
    @classmethod
    def _check_amount(cls, amount: Money) -> Money:
        if amount.amount < 0:
            raise ModelError(f"refund amount {amount} must not be negative")
        return amount

    @model_validator(mode="after")
    def _check_times(self) -> Self:
        if self.updated_at < self.created_at:
            raise ModelError(
                f"refund {self.refund_id!r}: updated_at {self.updated_at.isoformat()} is before "
                f"created_at {self.created_at.isoformat()}"
            )
        return self
