"""Exact amounts of money in one currency, and ISO 4217 minor units.

Money is always a :class:`~decimal.Decimal` plus a currency code; floats are refused
at the door because they cannot hold prices such as 0.10 exactly. Arithmetic and
comparison between different currencies raise
:class:`~channelsync.errors.CurrencyMismatchError`; nothing is ever converted or
rounded silently.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import field_serializer, field_validator

from channelsync.errors import CurrencyMismatchError, ModelError
from channelsync.models._base import DomainModel

__all__ = ["DEFAULT_MINOR_UNIT_EXPONENT", "MINOR_UNIT_EXPONENTS", "Money", "minor_unit_exponent"]

#: Exponent used for currencies missing from :data:`MINOR_UNIT_EXPONENTS`.
DEFAULT_MINOR_UNIT_EXPONENT = 2

#: ISO 4217 minor-unit exponents (decimal places) of common currencies.
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    "AED": 2,
    "AUD": 2,
    "BHD": 3,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CLP": 0,
    "CNY": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "HUF": 2,
    "IDR": 2,
    "ILS": 2,
    "INR": 2,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "MOP": 2,
    "MXN": 2,
    "MYR": 2,
    "NOK": 2,
    "NZD": 2,
    "OMR": 3,
    "PHP": 2,
    "PLN": 2,
    "RUB": 2,
    "SAR": 2,
    "SEK": 2,
    "SGD": 2,
    "THB": 2,
    "TND": 3,
    "TRY": 2,
    "TWD": 2,
    "UGX": 0,
    "USD": 2,
    "VND": 0,
    "ZAR": 2,
}

_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")


def _normalise_currency(value: object) -> str:
    if not isinstance(value, str) or not _CURRENCY_RE.fullmatch(value):
        raise ModelError(f"currency {value!r} is not an ISO 4217 code of three letters")
    return value.upper()


def minor_unit_exponent(currency: str) -> int:
    """Return how many decimal places the currency's minor unit has (CNY 2, JPY 0).

    Currencies not in :data:`MINOR_UNIT_EXPONENTS` get
    :data:`DEFAULT_MINOR_UNIT_EXPONENT`.
    """
    code = _normalise_currency(currency)
    return MINOR_UNIT_EXPONENTS.get(code, DEFAULT_MINOR_UNIT_EXPONENT)


def _coerce_amount(value: object) -> Decimal:
    """Turn an allowed amount input into a finite Decimal, refusing floats."""
    if isinstance(value, float):
        raise ModelError(f"amount {value!r}: money is never float; pass a string or Decimal")
    if isinstance(value, bool):
        raise ModelError(f"amount {value!r}: a bool is not an amount")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ModelError(f"amount {value!r} is not a decimal number") from None
    else:
        raise ModelError(
            f"amount {value!r} of type {type(value).__name__} is not allowed; "
            "pass a string, int or Decimal"
        )
    if not result.is_finite():
        raise ModelError(f"amount {value!r} is not a finite number")
    return result


class Money(DomainModel):
    """An exact amount in one currency, e.g. ``Money.of("12.30", "CNY")``.

    ``amount`` accepts ``Decimal``, ``int`` or ``str`` (never ``float``) and
    serialises to JSON as a string so no precision is lost.
    """

    amount: Decimal
    currency: str

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: Any) -> Decimal:
        return _coerce_amount(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _check_currency(cls, value: Any) -> str:
        return _normalise_currency(value)

    @field_serializer("amount", when_used="json")
    def _serialise_amount(self, amount: Decimal) -> str:
        return format(amount, "f")

    # -- construction ---------------------------------------------------------------

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Build money from an amount (``Decimal``, ``int`` or ``str``) and a currency code."""
        return cls(amount=amount, currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in ``currency``."""
        return cls(amount=Decimal(0), currency=currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: str) -> Money:
        """Build money from a whole number of minor units (e.g. fen to yuan: 1230 -> 12.30)."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise ModelError(f"minor units {units!r} must be an int")
        exponent = minor_unit_exponent(currency)
        return cls(amount=Decimal(units).scaleb(-exponent), currency=currency)

    # -- queries ----------------------------------------------------------------------

    def is_zero(self) -> bool:
        """Whether the amount is zero."""
        return self.amount == 0

    def quantize(self, exponent: int | None = None) -> Money:
        """Round half-up to ``exponent`` decimal places (default: the currency's minor unit)."""
        places = minor_unit_exponent(self.currency) if exponent is None else exponent
        step = Decimal(1).scaleb(-places)
        return Money(
            amount=self.amount.quantize(step, rounding=ROUND_HALF_UP), currency=self.currency
        )

    def to_minor_units(self) -> int:
        """Return the amount in minor units (yuan to fen: 12.30 -> 1230).

        Raises :class:`~channelsync.errors.ModelError` when the amount is not a whole
        number of minor units; it never rounds.
        """
        exponent = minor_unit_exponent(self.currency)
        scaled = self.amount.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise ModelError(
                f"amount {self.amount} {self.currency} is not a whole number of minor units "
                f"(the currency has {exponent} decimal places); quantize it first"
            )
        return int(scaled)

    # -- arithmetic -------------------------------------------------------------------

    def _same_currency(self, other: Money, operation: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(
                f"cannot {operation} {self.currency} and {other.currency} amounts "
                f"({self} and {other})"
            )

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            raise TypeError(
                f"money can only be multiplied by int or Decimal, not "
                f"{type(factor).__name__} ({factor!r})"
            )
        return Money(amount=self.amount * factor, currency=self.currency)

    def __rmul__(self, factor: object) -> Money:
        return self.__mul__(factor)

    # -- ordering ---------------------------------------------------------------------

    def _compare_amounts(self, other: object, operation: str) -> tuple[Decimal, Decimal] | None:
        if not isinstance(other, Money):
            return None
        self._same_currency(other, operation)
        return self.amount, other.amount

    def __lt__(self, other: object) -> bool:
        pair = self._compare_amounts(other, "compare")
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        pair = self._compare_amounts(other, "compare")
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        pair = self._compare_amounts(other, "compare")
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        pair = self._compare_amounts(other, "compare")
        return NotImplemented if pair is None else pair[0] >= pair[1]

    # -- display ----------------------------------------------------------------------

    def __str__(self) -> str:
        amount = self.amount
        places = minor_unit_exponent(self.currency)
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent > -places:
            amount = amount.quantize(Decimal(1).scaleb(-places))
        return f"{format(amount, 'f')} {self.currency}"
