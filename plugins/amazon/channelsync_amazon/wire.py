"""Wire primitives shared by every SP-API module: times, money, paths, JSON, field reads.

SP-API speaks UTC ISO 8601 times, decimal money with the amount as a string (Orders,
Listings reads) or as a JSON number (Listings attributes), and percent-encoded SKUs in
paths. Reading a field that is missing or of the wrong type raises :class:`DataError`,
so a changed or truncated answer never surfaces as a ``KeyError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from channelsync.errors import DataError, ModelError
from channelsync.models import Address, Money

__all__ = [
    "MARKETPLACE_CURRENCIES",
    "as_list",
    "as_object",
    "dumps",
    "format_time",
    "marketplace_currency",
    "opt_int",
    "opt_text",
    "parse_address",
    "parse_money",
    "parse_time",
    "require_text",
    "sku_path",
    "sum_money",
]

#: The currency each marketplace sells in (marketplace ids from the SP-API docs).
MARKETPLACE_CURRENCIES: Mapping[str, str] = {
    "ATVPDKIKX0DER": "USD",  # US
    "A2EUQ1WTGCTBG2": "CAD",  # CA
    "A1AM78C64UM0Y8": "MXN",  # MX
    "A2Q3Y263D00KWC": "BRL",  # BR
    "A1F83G8C2ARO7P": "GBP",  # UK
    "A1PA6795UKMFR9": "EUR",  # DE
    "A13V1IB3VIYZZH": "EUR",  # FR
    "APJ6JRA9NG5V4": "EUR",  # IT
    "A1RKKUPIHCS9HS": "EUR",  # ES
    "A1805IZSGTT6HS": "EUR",  # NL
    "A33AVAJ2PDY3EV": "TRY",  # TR
    "A2VIGQ35RCS4UG": "AED",  # AE
    "A21TJRUUN4KGV": "INR",  # IN
    "A1VC38T7YXB528": "JPY",  # JP
    "A39IBJ37TRP1C6": "AUD",  # AU
    "A19VAU5U5O7RUS": "SGD",  # SG
}


def marketplace_currency(marketplace_id: str) -> str | None:
    """Return the currency of ``marketplace_id``, or ``None`` for an unknown marketplace."""
    return MARKETPLACE_CURRENCIES.get(marketplace_id)


def format_time(moment: datetime) -> str:
    """Format an aware datetime as SP-API wants it: UTC, seconds, ``Z`` suffix."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: channelsync only handles aware times")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, *, what: str) -> datetime:
    """Parse an ISO 8601 time from an answer into an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise DataError(f"{what}: expected an ISO 8601 time, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"{what}: {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        # SP-API times are UTC; a zone-less one is read as UTC rather than local time.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def sku_path(sku: str) -> str:
    """Percent-encode a seller SKU for a path segment (``/`` -> ``%2F``, space -> ``%20``)."""
    return quote(sku, safe="")


def parse_money(value: object, *, what: str, amount_key: str, currency_key: str) -> Money:
    """Read a money object (``{"Amount": "19.99", "CurrencyCode": "USD"}`` and its casings)."""
    record = as_object(value, what=what)
    raw = record.get(amount_key)
    currency = record.get(currency_key)
    if not isinstance(currency, str) or not currency:
        raise DataError(f"{what}: money without a currency")
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise DataError(f"{what}: money amount must be a decimal string")
    try:
        amount = Decimal(str(raw))
    except InvalidOperation:
        raise DataError(f"{what}: {raw!r} is not a decimal amount") from None
    if not amount.is_finite():
        raise DataError(f"{what}: {raw!r} is not a finite amount")
    try:
        return Money(amount=amount, currency=currency)
    except (ValidationError, ModelError) as exc:
        # An unknown currency code or an amount out of range: the answer is wrong, not us.
        problem = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise DataError(f"{what}: {problem}") from None


def as_object(value: object, *, what: str) -> Mapping[str, Any]:
    """Return ``value`` as a JSON object or raise :class:`DataError`."""
    if not isinstance(value, Mapping):
        raise DataError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def as_list(value: object, *, what: str) -> Sequence[Any]:
    """Return ``value`` as a JSON array (absent: empty) or raise :class:`DataError`."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DataError(f"{what}: expected a JSON array, got {type(value).__name__}")
    return value


def require_text(record: Mapping[str, Any], key: str, *, what: str) -> str:
    """Return the non-empty string ``record[key]`` or raise :class:`DataError`."""
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise DataError(f"{what}: field {key!r} is missing or not a string")
    return value


def opt_text(record: Mapping[str, Any], key: str, *, what: str) -> str | None:
    """Return the string ``record[key]``, ``None`` when absent, else :class:`DataError`."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(f"{what}: field {key!r} is not a string")
    return value


def opt_int(record: Mapping[str, Any], key: str, *, what: str) -> int | None:
    """Return the integer ``record[key]``, ``None`` when absent, else :class:`DataError`."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{what}: field {key!r} is not an integer")
    return value


def dumps(value: object) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON, writing :class:`Decimal` as an exact number.

    Listings attributes carry prices as JSON numbers; going through ``float`` could
    change the digits, so decimals are written from their own text.
    """
    return _encode(value).encode("utf-8")


def _encode(value: object) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot encode {value} as a JSON number")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not sent to Amazon; use Decimal")
    return json.dumps(value, ensure_ascii=False)


def parse_address(value: object, *, what: str, keys: Mapping[str, str]) -> Address | None:
    """Read an address whose fields ``keys`` names (``Address`` field -> JSON key).

    Both Orders API versions carry the same address under different casings. A country
    code that is not two letters is dropped rather than refusing the order.
    """
    if value is None:
        return None
    record = as_object(value, what=what)
    fields = {field: opt_text(record, key, what=what) for field, key in keys.items()}
    country = fields.get("country")
    if country is not None and not (len(country) == 2 and country.isalpha()):
        fields["country"] = None
    return Address(**fields)


def sum_money(amounts: Sequence[Money], currency: str) -> Money | None:
    """Return the sum of ``amounts`` in ``currency``, or ``None`` when there are none."""
    if not amounts:
        return None
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
