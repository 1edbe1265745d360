from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from channelsync.models import Listing, ListingStatus, Money, Product, Sku, gtin_check_digit


@pytest.mark.parametrize(
    "barcode",
    ["96385074", "036000291452", "4006381333931", "6901234567892", "10012345678902"],
)
def test_valid_gtins_are_accepted(barcode: str) -> None:
    assert Sku(merchant_code="A-1", barcode=barcode).barcode == barcode


def test_gtin_check_digit() -> None:
    assert gtin_check_digit("400638133393") == 1
    assert gtin_check_digit("9638507") == 4


def test_wrong_check_digit_names_the_barcode() -> None:
    with pytest.raises(ValidationError, match=r"barcode '4006381333932' has a wrong check digit"):
        Sku(merchant_code="A-1", barcode="4006381333932")


@pytest.mark.parametrize("barcode", ["12345", "400638133393X", "\uff14\uff10\uff10\uff16"])
def test_malformed_barcode_names_the_value(barcode: str) -> None:
    with pytest.raises(ValidationError, match=rf"barcode '{barcode}'"):
        Sku(merchant_code="A-1", barcode=barcode)


def test_merchant_code_is_stripped() -> None:
    assert Sku(merchant_code="  TSHIRT-RED-M ").merchant_code == "TSHIRT-RED-M"


def test_blank_merchant_code_is_refused() -> None:
    with pytest.raises(ValidationError, match="merchant_code"):
        Sku(merchant_code="   ")


def test_control_chars_in_merchant_code_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"merchant_code\n.*'A\\x00B'"):
        Sku(merchant_code="A\x00B")


def test_price_and_cost_must_share_currency() -> None:
    with pytest.raises(ValidationError, match="price is in CNY but cost is in USD"):
        Sku(merchant_code="A-1", price=Money.of("10", "CNY"), cost=Money.of("1", "USD"))
    sku = Sku(merchant_code="A-1", price=Money.of("10", "CNY"), cost=Money.of("4", "CNY"))
    assert sku.cost == Money.of("4", "CNY")


def test_attributes_are_kept() -> None:
    sku = Sku(merchant_code="A-1", attributes={"colour": "red", "size": "M"})
    assert sku.attributes == {"colour": "red", "size": "M"}


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="colour"):
        Sku(merchant_code="A-1", colour="red")  # type: ignore[call-arg]


def test_duplicate_merchant_codes_in_product_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate SKU merchant code 'A-1'"):
        Product(
            code="P1",
            title="T-shirt",
            skus=(Sku(merchant_code="A-1"), Sku(merchant_code="A-2"), Sku(merchant_code=" A-1")),
        )


def test_product_needs_code_and_title() -> None:
    with pytest.raises(ValidationError, match="title"):
        Product(code="P1", title=" ")
    with pytest.raises(ValidationError, match="code"):
        Product(code="", title="T-shirt")


def test_product_sku_lookup() -> None:
    product = Product(code="P1", title="T-shirt", skus=(Sku(merchant_code="A-1"),))
    assert product.sku("A-1") == Sku(merchant_code="A-1")
    assert product.sku("nope") is None


def _listing(**overrides: object) -> Listing:
    fields: dict[str, object] = {
        "channel": "tmall",
        "item_id": "6001",
        "sku_id": "5001",
        "title": "T-shirt red M",
        "status": ListingStatus.ON_SALE,
    }
    fields.update(overrides)
    return Listing.model_validate(fields)


def test_listing_key() -> None:
    assert _listing().key == ("6001", "5001")
    assert _listing(sku_id=None).key == ("6001", None)


def test_listing_quantity_must_not_be_negative() -> None:
    with pytest.raises(ValidationError, match="quantity"):
        _listing(quantity=-1)


def test_listing_naive_datetime_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"updated_at\n.*timezone"):
        _listing(updated_at=datetime(2024, 5, 1, 12, 0))  # noqa: DTZ001
    assert _listing(updated_at=datetime(2024, 5, 1, tzinfo=UTC)).updated_at is not None


def test_listing_status_values() -> None:
    assert _listing(status="delisted").status is ListingStatus.DELISTED
    with pytest.raises(ValidationError, match="status"):
        _listing(status="sold_out")
