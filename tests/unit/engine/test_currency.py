"""A channel's currency: a wrong-currency price is never produced, a configured rate converts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from channelsync.config import Campaign, ChannelSyncSettings, PriceRule, load_config
from channelsync.engine.pricing import (
    CurrencyMismatch,
    CurrencyMismatchError,
    channel_price,
    plan_price,
)
from channelsync.errors import ConfigurationError
from channelsync.models import Money
from channelsync.store import SkuRecord

NOW = datetime(2026, 6, 18, 12, tzinfo=UTC)
SKU = SkuRecord(
    id=1,
    merchant_code="MUG",
    product_code=None,
    title="Mug",
    price="100.00",
    currency="CNY",
    cost="80.00",
    barcode=None,
    attributes={},
    safety_stock=0,
    low_stock_alerted=False,
)


def plan(settings: ChannelSyncSettings, sku: SkuRecord = SKU) -> Money | CurrencyMismatch:
    return plan_price(sku, settings, channel="amazon-us", channel_type="amazon", now=NOW)


def test_a_channel_in_the_catalogue_currency_is_priced_as_before() -> None:
    assert plan(ChannelSyncSettings(price=PriceRule(currency="CNY"))) == Money.of("100", "CNY")


def test_another_currency_without_a_rate_is_a_mismatch_naming_everything() -> None:
    result = plan(ChannelSyncSettings(price=PriceRule(currency="USD")))
    assert result == CurrencyMismatch("MUG", "amazon-us", "CNY", "USD")
    assert isinstance(result, CurrencyMismatch)
    assert result.reason.startswith("CURRENCY_MISMATCH: SKU MUG is priced in CNY")
    assert "channel amazon-us sells in USD" in result.reason
    with pytest.raises(CurrencyMismatchError, match="CURRENCY_MISMATCH"):
        channel_price(
            SKU,
            ChannelSyncSettings(price=PriceRule(currency="USD")),
            channel="amazon-us",
            channel_type="amazon",
            now=NOW,
        )


def test_a_rate_for_another_currency_does_not_convert_this_one() -> None:
    rule = PriceRule(currency="USD", rates={"HKD": Decimal("0.128")})
    assert isinstance(plan(ChannelSyncSettings(price=rule)), CurrencyMismatch)


def test_an_explicit_rate_converts_then_applies_the_rule_in_the_channel_currency() -> None:
    rule = PriceRule(currency="USD", rates={"CNY": Decimal("0.138")})
    assert plan(ChannelSyncSettings(price=rule)) == Money.of("13.80", "USD")
    with_rule = PriceRule(
        currency="USD", rates={"CNY": Decimal("0.138")}, markup=Decimal(10), ending=Decimal("0.99")
    )
    # 13.80 + 10% = 15.18, rounded up to the ending.
    assert plan(ChannelSyncSettings(price=with_rule)) == Money.of("15.99", "USD")


def test_floors_use_the_converted_cost() -> None:
    rule = PriceRule(
        currency="USD", rates={"CNY": Decimal("0.138")}, markup=Decimal(-50), floor_margin=10
    )
    # 50 CNY -> 6.90 USD is below cost 80 CNY = 11.04 USD + 10% = 12.144 -> 12.15.
    assert plan(ChannelSyncSettings(price=rule)) == Money.of("12.15", "USD")
    floored = PriceRule(currency="USD", rates={"CNY": Decimal("0.138")}, floor=Decimal(20))
    assert plan(ChannelSyncSettings(price=floored)) == Money.of("20.00", "USD")


def test_a_fixed_campaign_price_is_in_the_channel_currency() -> None:
    campaign = Campaign(
        start=datetime(2026, 6, 18, tzinfo=UTC),
        end=datetime(2026, 6, 19, tzinfo=UTC),
        price=Decimal("9.99"),
    )
    settings = ChannelSyncSettings(
        price=PriceRule(currency="USD", rates={"CNY": Decimal("0.138")}), campaigns=(campaign,)
    )
    assert plan(settings) == Money.of("9.99", "USD")


def test_a_sku_already_in_the_channel_currency_is_not_converted() -> None:
    usd = replace(SKU, price="12.00", currency="USD", cost=None)
    rule = PriceRule(currency="USD", rates={"CNY": Decimal("0.138")})
    assert plan(ChannelSyncSettings(price=rule), usd) == Money.of("12.00", "USD")


def test_the_config_file_takes_a_currency_and_rates(tmp_path: Path) -> None:
    path = tmp_path / "channelsync.toml"
    path.write_text(
        '[[channels]]\nname = "amazon-us"\ntype = "memory"\n'
        'price = { currency = "usd", rates = { CNY = "0.138" } }\n',
        encoding="utf-8",
    )
    rule = load_config(path).channels[0].sync.price
    assert (rule.currency, rule.rates) == ("USD", {"CNY": Decimal("0.138")})


@pytest.mark.parametrize(
    ("price", "needle"),
    [
        ('{ currency = "dollars" }', "three-letter currency code"),
        ('{ currency = "USD", rates = { CNY = "-1" } }', "rates.CNY"),
        ('{ rates = { CNY = "0.138" } }', "set price.currency too"),
    ],
)
def test_a_bad_currency_setting_names_the_channel_and_field(
    tmp_path: Path, price: str, needle: str
) -> None:
    path = tmp_path / "channelsync.toml"
    path.write_text(
        f'[[channels]]\nname = "amazon-us"\ntype = "memory"\nprice = {price}\n', encoding="utf-8"
    )
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "amazon-us" in message
    assert "price" in message
    assert needle in message
