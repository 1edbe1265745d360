from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from channelsync.errors import CurrencyMismatchError
from channelsync.models import (
    Address,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundLine,
    RefundStatus,
)

CREATED = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
UPDATED = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)


def _cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def _line(**overrides: Any) -> OrderLine:
    fields: dict[str, Any] = {
        "item_id": "6001",
        "sku_id": "5001",
        "merchant_code": "A-1",
        "quantity": 2,
        "unit_price": _cny("19.90"),
    }
    fields.update(overrides)
    return OrderLine.model_validate(fields)


def _order(**overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "channel": "tmall",
        "order_id": "2024050112345",
        "status": OrderStatus.PAID,
        "raw_status": "WAIT_SELLER_SEND_GOODS",
        "created_at": CREATED,
        "updated_at": UPDATED,
        "lines": (_line(),),
        "total": _cny("39.80"),
    }
    fields.update(overrides)
    return Order.model_validate(fields)


def test_order_status_properties() -> None:
    assert {s for s in OrderStatus if s.is_final} == {
        OrderStatus.COMPLETED,
        OrderStatus.CANCELLED,
        OrderStatus.REFUNDED,
    }
    assert {s for s in OrderStatus if s.awaits_shipment} == {
        OrderStatus.PAID,
        OrderStatus.PARTIALLY_SHIPPED,
    }
    assert OrderStatus("partially_shipped") is OrderStatus.PARTIALLY_SHIPPED


def test_order_line_total_and_quantity() -> None:
    assert _line().total == _cny("39.80")
    with pytest.raises(ValidationError, match="quantity 0 must be greater than 0"):
        _line(quantity=0)


def test_valid_order() -> None:
    order = _order(shipping_fee=_cny("0"), discount=_cny("5"))
    assert order.currency == "CNY"
    assert order.can_ship
    assert not order.status.is_final


def test_order_needs_a_line() -> None:
    with pytest.raises(ValidationError, match="lines"):
        _order(lines=())


@pytest.mark.parametrize("field", ["shipping_fee", "discount"])
def test_order_amounts_share_one_currency(field: str) -> None:
    with pytest.raises(ValidationError, match=rf"{field} is in USD but total is in CNY"):
        _order(**{field: Money.of("1", "USD")})


def test_order_line_currency_must_match_total() -> None:
    with pytest.raises(
        ValidationError, match=r"lines\[0\]\.unit_price is in USD but total is in CNY"
    ):
        _order(lines=(_line(unit_price=Money.of("19.90", "USD")),))


def test_currency_mismatch_error_is_a_value_error() -> None:
    assert issubclass(CurrencyMismatchError, ValueError)


@pytest.mark.parametrize("field", ["created_at", "updated_at", "paid_at"])
def test_naive_datetime_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(ValidationError, match=rf"{field}\n.*timezone"):
        _order(**{field: datetime(2024, 5, 1, 10, 0)})  # noqa: DTZ001


def test_updated_before_created_is_refused() -> None:
    with pytest.raises(ValidationError, match="updated_at 2024-05-01T09:00:00"):
        _order(updated_at=CREATED - timedelta(hours=1))


def test_on_hold_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="hold_reason is required when on_hold"):
        _order(on_hold=True)
    held = _order(on_hold=True, hold_reason="risk control")
    assert not held.can_ship


@pytest.mark.parametrize(
    ("status", "can_ship"),
    [
        (OrderStatus.PENDING_PAYMENT, False),
        (OrderStatus.PAID, True),
        (OrderStatus.PARTIALLY_SHIPPED, True),
        (OrderStatus.SHIPPED, False),
        (OrderStatus.REFUND_REQUESTED, False),
        (OrderStatus.CANCELLED, False),
    ],
)
def test_can_ship(status: OrderStatus, can_ship: bool) -> None:
    assert _order(status=status).can_ship is can_ship


def test_version_is_stable_across_time_zones_and_tracks_status() -> None:
    china = timezone(timedelta(hours=8))
    a = _order(updated_at=UPDATED)
    b = _order(updated_at=UPDATED.astimezone(china))
    assert a.version == b.version == "2024-05-01T11:00:00+00:00|paid"
    assert _order(status=OrderStatus.SHIPPED).version != a.version


def test_order_is_frozen_and_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="buyer_nick"):
        _order(buyer_nick="x")


def test_address_country_is_upper_cased_and_validated() -> None:
    assert Address(country="cn").country == "CN"
    with pytest.raises(ValidationError, match="country 'CHN'"):
        Address(country="CHN")


def test_masked_address_keeps_values() -> None:
    address = Address(name="张*", phone="138****1234", masked=True)
    assert address.phone == "138****1234"
    assert address.masked


def _refund(**overrides: Any) -> Refund:
    fields: dict[str, Any] = {
        "channel": "jd",
        "refund_id": "R1",
        "order_id": "O1",
        "status": RefundStatus.REQUESTED,
        "raw_status": "WAIT_SELLER_AGREE",
        "amount": _cny("19.90"),
        "created_at": CREATED,
        "updated_at": UPDATED,
    }
    fields.update(overrides)
    return Refund.model_validate(fields)


def test_refund() -> None:
    refund = _refund(lines=(RefundLine(merchant_code="A-1", quantity=1),), returns_goods=True)
    assert refund.returns_goods
    assert refund.status.value == "requested"


def test_refund_rules() -> None:
    with pytest.raises(ValidationError, match=r"refund amount -1\.00 CNY must not be negative"):
        _refund(amount=_cny("-1"))
    with pytest.raises(ValidationError, match="quantity -1 must be greater than 0"):
        RefundLine(quantity=-1)
    with pytest.raises(ValidationError, match=r"updated_at\n.*timezone"):
        _refund(updated_at=datetime(2024, 5, 2))  # noqa: DTZ001
    with pytest.raises(ValidationError, match="is before created_at"):
        _refund(updated_at=CREATED - timedelta(seconds=1))
