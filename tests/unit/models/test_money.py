from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from channelsync.errors import CurrencyMismatchError, ModelError
from channelsync.models import Money, minor_unit_exponent


def test_amount_accepts_str_int_and_decimal_exactly() -> None:
    assert Money.of("0.10", "CNY").amount == Decimal("0.10")
    assert Money.of(5, "CNY").amount == Decimal(5)
    assert Money.of(Decimal("19.99"), "USD").amount == Decimal("19.99")


def test_currency_is_upper_cased() -> None:
    assert Money.of("1", "cny").currency == "CNY"


@pytest.mark.parametrize("currency", ["CN", "CNYY", "C1Y", "", "元元元"])
def test_bad_currency_is_refused_naming_the_value(currency: str) -> None:
    with pytest.raises(ValidationError, match=rf"currency '{currency}'"):
        Money.of("1", currency)


def test_float_amount_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"amount 0\.1: money is never float"):
        Money.of(0.1, "CNY")  # type: ignore[arg-type]


def test_float_in_json_is_refused() -> None:
    with pytest.raises(ValidationError, match="money is never float"):
        Money.model_validate_json('{"amount": 0.1, "currency": "CNY"}')


@pytest.mark.parametrize("amount", ["NaN", "nan", "Infinity", "-inf", Decimal("NaN")])
def test_non_finite_amount_is_refused(amount: str | Decimal) -> None:
    with pytest.raises(ValidationError, match="not a finite number"):
        Money.of(amount, "CNY")


def test_garbage_amount_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="amount '12,30' is not a decimal number"):
        Money.of("12,30", "CNY")


def test_json_round_trip_keeps_exact_decimal() -> None:
    money = Money.of("1234567890.123456789", "CNY")
    text = money.model_dump_json()
    assert '"amount":"1234567890.123456789"' in text
    assert Money.model_validate_json(text) == money
    assert Money.model_validate_json(text).amount == Decimal("1234567890.123456789")


def test_json_amount_never_uses_exponent_notation() -> None:
    assert Money.of(Decimal("1E+2"), "CNY").model_dump_json() == '{"amount":"100","currency":"CNY"}'


def test_add_and_subtract_same_currency() -> None:
    a, b = Money.of("10.50", "CNY"), Money.of("0.60", "CNY")
    assert a + b == Money.of("11.10", "CNY")
    assert a - b == Money.of("9.90", "CNY")
    assert -a == Money.of("-10.50", "CNY")


def test_add_mixed_currencies_raises_naming_both() -> None:
    with pytest.raises(CurrencyMismatchError, match="CNY and USD"):
        Money.of("1", "CNY") + Money.of("1", "USD")


def test_subtract_mixed_currencies_raises() -> None:
    with pytest.raises(CurrencyMismatchError, match="USD and CNY"):
        Money.of("1", "USD") - Money.of("1", "CNY")


def test_compare_mixed_currencies_raises() -> None:
    with pytest.raises(CurrencyMismatchError, match="CNY and JPY"):
        _ = Money.of("1", "CNY") < Money.of("1", "JPY")


def test_comparisons_same_currency() -> None:
    small, big = Money.of("1.00", "CNY"), Money.of("2", "CNY")
    assert small < big
    assert small <= big
    assert big > small
    assert big >= small
    assert small <= Money.of("1", "CNY")


def test_multiply_by_int_and_decimal_only() -> None:
    price = Money.of("2.50", "CNY")
    assert price * 3 == Money.of("7.50", "CNY")
    assert 3 * price == Money.of("7.50", "CNY")
    assert price * Decimal("0.5") == Money.of("1.25", "CNY")
    with pytest.raises(TypeError, match="not float"):
        _ = price * 1.5
    with pytest.raises(TypeError, match="not float"):
        _ = 1.5 * price


def test_is_hashable_and_equality_is_model_equality() -> None:
    assert len({Money.of("1.00", "CNY"), Money.of("1.00", "CNY")}) == 1
    assert Money.of("1", "CNY") != Money.of("1", "USD")


def test_is_frozen() -> None:
    money = Money.of("1", "CNY")
    with pytest.raises(ValidationError, match="frozen"):
        money.amount = Decimal(2)  # type: ignore[misc]


def test_zero() -> None:
    assert Money.zero("cny").is_zero()
    assert Money.zero("CNY").currency == "CNY"
    assert not Money.of("0.01", "CNY").is_zero()


def test_quantize_rounds_half_up_to_minor_unit() -> None:
    assert Money.of("2.345", "CNY").quantize() == Money.of("2.35", "CNY")
    assert Money.of("-2.345", "CNY").quantize().amount == Decimal("-2.35")
    assert Money.of("1234.5", "JPY").quantize() == Money.of("1235", "JPY")
    assert Money.of("2.3449", "CNY").quantize(3).amount == Decimal("2.345")


def test_minor_unit_exponents() -> None:
    assert minor_unit_exponent("CNY") == 2
    assert minor_unit_exponent("jpy") == 0
    assert minor_unit_exponent("KRW") == 0
    assert minor_unit_exponent("XYZ") == 2


def test_to_minor_units_is_exact() -> None:
    assert Money.of("12.30", "CNY").to_minor_units() == 1230
    assert Money.of("12.3", "CNY").to_minor_units() == 1230
    assert Money.of("-0.01", "CNY").to_minor_units() == -1
    assert Money.of("1500", "JPY").to_minor_units() == 1500


def test_to_minor_units_refuses_a_fraction_of_a_fen() -> None:
    with pytest.raises(ModelError, match=r"amount 12\.305 CNY is not a whole number"):
        Money.of("12.305", "CNY").to_minor_units()


def test_to_minor_units_refuses_fractional_yen() -> None:
    with pytest.raises(ModelError, match=r"amount 10\.5 JPY"):
        Money.of("10.5", "JPY").to_minor_units()


def test_from_minor_units() -> None:
    assert Money.from_minor_units(1230, "CNY") == Money.of("12.30", "CNY")
    assert Money.from_minor_units(1230, "CNY").amount.as_tuple().exponent == -2
    assert Money.from_minor_units(500, "JPY") == Money.of("500", "JPY")
    with pytest.raises(ModelError, match=r"minor units 1\.5"):
        Money.from_minor_units(1.5, "CNY")  # type: ignore[arg-type]


def test_str_shows_minor_unit_places() -> None:
    assert str(Money.of("12.3", "CNY")) == "12.30 CNY"
    assert str(Money.of("12.345", "CNY")) == "12.345 CNY"
    assert str(Money.of("500", "JPY")) == "500 JPY"
