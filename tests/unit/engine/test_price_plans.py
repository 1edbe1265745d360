"""A planning pass's prices, shared by SKUs priced alike, are what ``plan_price`` says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

from channelsync.config import Campaign, ChannelSyncSettings, PriceRule
from channelsync.engine.pricing import CurrencyMismatch, PricePlans, plan_price
from channelsync.models import Money
from channelsync.plugins import PluginHost, PriceContext
from channelsync.store import SkuRecord

NOW = datetime(2026, 6, 18, 12, tzinfo=UTC)
MUG = SkuRecord(
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
CUP = replace(MUG, id=2, merchant_code="CUP", title="Cup")
BOWL = replace(MUG, id=3, merchant_code="BOWL", title="Bowl", cost="110.00")
SETTINGS = ChannelSyncSettings(
    price=PriceRule(markup=Decimal(10), ending=Decimal("0.90"), floor_margin=Decimal(5)),
    campaigns=(
        Campaign(
            start=NOW - timedelta(hours=1),
            end=NOW + timedelta(hours=1),
            markup=Decimal(-20),
            skus=("CUP",),
        ),
    ),
)


def _planned(sku: SkuRecord, settings: ChannelSyncSettings, at: datetime) -> object:
    return plan_price(sku, settings, channel="c", channel_type="memory", now=at)


def test_shared_prices_are_each_skus_own() -> None:
    plans = PricePlans(None)
    usd = ChannelSyncSettings(price=PriceRule(currency="USD"))
    for at in (NOW, NOW + timedelta(hours=2)):
        for settings in (SETTINGS, ChannelSyncSettings(), usd):
            for sku in (MUG, CUP, BOWL, MUG):
                shared = plans.price(sku, settings, channel="c", channel_type="memory", now=at)
                assert shared == _planned(sku, settings, at)
    # A campaign for one SKU, a higher cost for another: three prices from one catalogue price.
    prices = {
        sku.merchant_code: plans.price(sku, SETTINGS, channel="c", channel_type="m", now=NOW)
        for sku in (MUG, CUP, BOWL)
    }
    assert prices == {
        "MUG": Money.of("110.90", "CNY"),
        "CUP": Money.of("84.00", "CNY"),
        "BOWL": Money.of("115.50", "CNY"),
    }
    mismatch = plans.price(CUP, usd, channel="c", channel_type="m", now=NOW)
    assert mismatch == CurrencyMismatch("CUP", "c", "CNY", "USD")


class _Rule:
    """A price hook that lowers every price by one unit of the SKU's position in its calls."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def adjust_price(self, context: PriceContext, price: Money) -> Money:
        self.asked.append(context.merchant_code)
        return Money.of(price.amount - len(self.asked), price.currency)


def test_with_a_price_hook_every_listing_is_asked() -> None:
    rule = _Rule()
    plans = PricePlans(cast(PluginHost, rule))
    first = plans.price(MUG, SETTINGS, channel="c", channel_type="m", now=NOW)
    again = plans.price(MUG, SETTINGS, channel="c", channel_type="m", now=NOW)
    assert rule.asked == ["MUG", "MUG"]
    assert (first, again) == (Money.of("109.90", "CNY"), Money.of("108.90", "CNY"))
