from __future__ import annotations

import pytest
from pydantic import ValidationError

from channelsync.models import (
    ItemError,
    ListingStatus,
    ListingStatusChange,
    Money,
    PriceChange,
    StockLevel,
    StockUpdate,
    StockUpdateMode,
    UpdateResult,
)


def test_stock_level_refuses_negative() -> None:
    with pytest.raises(ValidationError, match="quantity"):
        StockLevel(merchant_code="A-1", quantity=-1)
    assert StockLevel(merchant_code="A-1", quantity=0, warehouse="SH").warehouse == "SH"


def test_absolute_stock_update_must_not_be_negative() -> None:
    with pytest.raises(ValidationError, match=r"quantity -3: an absolute stock quantity"):
        StockUpdate(item_id="1", quantity=-3)
    assert StockUpdate(item_id="1", quantity=0).mode is StockUpdateMode.ABSOLUTE


def test_delta_may_be_negative_but_not_zero() -> None:
    assert StockUpdate(item_id="1", quantity=-3, mode="delta").quantity == -3
    with pytest.raises(ValidationError, match="quantity 0: a stock delta must not be 0"):
        StockUpdate(item_id="1", quantity=0, mode=StockUpdateMode.DELTA)


def test_update_keys() -> None:
    assert StockUpdate(item_id="1", sku_id="2", quantity=5).key == ("1", "2")
    assert PriceChange(item_id="1", price=Money.of("9.90", "CNY")).key == ("1", None)
    change = ListingStatusChange(item_id="1", sku_id="3", status=ListingStatus.DELISTED)
    assert change.key == ("1", "3")


@pytest.mark.parametrize(("amount", "shown"), [("0", r"0\.00"), ("-1.5", r"-1\.50")])
def test_price_must_be_positive(amount: str, shown: str) -> None:
    with pytest.raises(ValidationError, match=rf"price {shown} CNY must be greater than 0"):
        PriceChange(item_id="1", price=Money.of(amount, "CNY"))


def test_update_result_success() -> None:
    update = StockUpdate(item_id="1", sku_id="2", merchant_code="A-1", quantity=5)
    result = UpdateResult.success(update)
    assert result.ok
    assert result.error is None
    assert (result.item_id, result.sku_id, result.merchant_code) == ("1", "2", "A-1")


def test_update_result_failure() -> None:
    update = PriceChange(item_id="1", merchant_code="A-1", price=Money.of("5", "CNY"))
    result = UpdateResult.failure(update, "price below floor", code="isv.price-invalid")
    assert not result.ok
    assert result.error == ItemError(code="isv.price-invalid", message="price below floor")
    assert result.key == ("1", None)
    retry = UpdateResult.failure(update, "busy", retryable=True)
    assert retry.error is not None
    assert retry.error.retryable


def test_update_result_from_status_change() -> None:
    change = ListingStatusChange(item_id="7", status="on_sale")
    assert UpdateResult.success(change).item_id == "7"
