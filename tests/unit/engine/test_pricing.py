from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from channelsync.config import Campaign, ChannelSyncSettings, PriceRule
from channelsync.engine.pricing import channel_price, round_to_ending
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


def price(settings: ChannelSyncSettings, at: datetime = NOW) -> Money:
    return channel_price(SKU, settings, channel="c", channel_type="memory", now=at)


def test_round_to_ending() -> None:
    assert round_to_ending(Decimal("12.34"), Decimal("0.90")) == Decimal("12.90")
    assert round_to_ending(Decimal("12.95"), Decimal("0.90")) == Decimal("13.90")
    assert round_to_ending(Decimal("123"), Decimal("9")) == Decimal("129")
    assert round_to_ending(Decimal("130"), Decimal("9")) == Decimal("139")


def test_markup_ending_and_floor() -> None:
    assert price(ChannelSyncSettings()) == Money.of("100.00", "CNY")
    assert price(
        ChannelSyncSettings(price=PriceRule(markup=Decimal(5), ending=Decimal("0.90")))
    ) == Money.of("105.90", "CNY")
    # A 30% discount would cross cost + 10%: the floor holds.
    rule = PriceRule(markup=Decimal(-30), floor_margin=Decimal("10.001"))
    assert price(ChannelSyncSettings(price=rule)) == Money.of("88.01", "CNY")


def test_a_campaign_applies_only_inside_its_window() -> None:
    campaign = Campaign(
        start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1), price=Decimal("79")
    )
    settings = ChannelSyncSettings(price=PriceRule(floor=Decimal(85)), campaigns=(campaign,))
    assert price(settings) == Money.of("85.00", "CNY")
    assert price(settings, NOW + timedelta(hours=2)) == Money.of("100.00", "CNY")
