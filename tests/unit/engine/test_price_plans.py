"""A planning pass's prices, shared by SKUs priced alike, are what ``plan_price`` says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from channelsync.config import Campaign, ChannelSyncSettings, PriceRule
from channelsync.engine import pricing
from channelsync.engine.pricing import CurrencyMismatch, PricePlans, plan_price
from channelsync.models import Money
from channelsync.plugins import PluginHost, PriceContext, build_plugin_manager, hookimpl
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

    def implements(self, hook_name: str, *, builtin: bool = True) -> bool:
        del builtin
        return hook_name == "channelsync_adjust_price"


def test_with_a_price_hook_every_listing_is_asked() -> None:
    rule = _Rule()
    plans = PricePlans(cast(PluginHost, rule))
    first = plans.price(MUG, SETTINGS, channel="c", channel_type="m", now=NOW)
    again = plans.price(MUG, SETTINGS, channel="c", channel_type="m", now=NOW)
    assert rule.asked == ["MUG", "MUG"]
    assert (first, again) == (Money.of("109.90", "CNY"), Money.of("108.90", "CNY"))


class _Markup:
    @hookimpl
    def channelsync_adjust_price(self, context: PriceContext, price: Money) -> Money:
        del context
        return Money.of(price.amount + 1, price.currency)


def test_the_built_in_rule_alone_shares_prices_as_no_host_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    computed: list[str] = []
    price = pricing._price

    def counted(sku: SkuRecord, *args: Any, **kwargs: Any) -> Money | CurrencyMismatch:
        computed.append(sku.merchant_code)
        return price(sku, *args, **kwargs)

    expected = _planned(MUG, SETTINGS, NOW)
    monkeypatch.setattr(pricing, "_price", counted)
    builtins = PricePlans(build_plugin_manager(autoload=False))
    for _ in range(2):
        assert builtins.price(MUG, SETTINGS, channel="c", channel_type="m", now=NOW) == expected
    assert computed == ["MUG"]  # computed once, shared with the second listing
    computed.clear()
    ruled = PricePlans(build_plugin_manager(autoload=False, extra_plugins=[_Markup()]))
    for _ in range(2):
        asked = ruled.price(MUG, SETTINGS, channel="c", channel_type="m", now=NOW)
        assert asked == Money.of("111.90", "CNY")
    assert computed == ["MUG", "MUG"]  # a rule of a plugin: every listing asked
