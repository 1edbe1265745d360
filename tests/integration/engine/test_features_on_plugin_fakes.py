"""Refunds, auto-delist and the price hook through the engine, on the plugins' own fakes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings
from channelsync.engine.ledger import EventKind, adjust_stock
from channelsync.engine.shipments import request_shipment
from channelsync.engine.sync import SyncEngine
from channelsync.models import Money
from channelsync.plugins import PriceContext, build_plugin_manager, hookimpl
from channelsync.store import Store, open_store

from .fake_shops import SHIPPING, START, Shop, import_demo_catalogue, open_shop

QUANTITY = 30


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def state(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def on_hand(store: Store, code: str) -> int:
    with store.transaction() as session:
        sku = session.skus([code])[0]
        return session.positions([sku.id])[sku.id].on_hand


async def test_a_pinduoduo_return_is_restocked_once_on_every_channel(
    state: Store, fake_clock: FakeClock
) -> None:
    import_demo_catalogue(state, fake_clock, QUANTITY)
    pdd = open_shop("pinduoduo", fake_clock)
    tmall = open_shop("tmall", fake_clock, seed=1)
    sync = SyncEngine(state, [pdd.channel, tmall.channel], clock=fake_clock)
    await sync.run_cycle()

    [order] = pdd.generate_orders(1)
    line = order.lines[0]
    fake_clock.advance(15 * 60)
    await sync.run_cycle()
    carrier, tracking = SHIPPING["pinduoduo"]
    assert request_shipment(
        sync.context, "pinduoduo", order.order_id, carrier=carrier, tracking_number=tracking
    )
    fake_clock.advance(60)
    await sync.run_cycle()
    fake_clock.advance(15 * 60)
    await sync.run_cycle()
    code = line.merchant_code
    assert code is not None
    shipped = QUANTITY - line.quantity
    assert on_hand(state, code) == shipped

    refund = pdd.fake.buyer_requests_refund(order.order_id, return_goods=True)
    fake_clock.advance(15 * 60)
    await sync.run_cycle()
    assert on_hand(state, code) == shipped  # a return is restocked once it is refunded
    pdd.fake.complete_refund(refund.refund_id)
    fake_clock.advance(15 * 60)
    summary = await sync.run_cycle()

    assert summary.channels["pinduoduo"].errors == []
    assert summary.channels["pinduoduo"].refunds_applied == 1
    assert on_hand(state, code) == QUANTITY
    assert tmall.stock()[code] == QUANTITY
    assert pdd.stock()[code] == QUANTITY
    # Pulled again after a restart: nothing is restocked twice.
    with state.transaction() as session:
        session.set_cursor("pinduoduo", "refunds", START, None)
    fake_clock.advance(15 * 60)
    await SyncEngine(state, [pdd.channel, tmall.channel], clock=fake_clock).run_cycle()
    assert on_hand(state, code) == QUANTITY
    with state.transaction() as session:
        sku = session.skus([code])[0]
        returns = [e for e in session.ledger(sku.id) if e.kind == EventKind.RETURN_RESTOCKED]
    assert [e.on_hand_delta for e in returns] == [line.quantity]


def on_sale(shop: Shop, code: str) -> bool:
    """Whether the fake marketplace has the item carrying ``code`` on sale."""
    for item, sku in shop.fake.store.iter_skus():
        if sku.merchant_code == code:
            return bool(item.on_sale)
    raise KeyError(code)


def prices(shop: Shop) -> dict[str, Decimal]:
    """The price the fake marketplace shows per merchant code."""
    return {s.merchant_code: s.price for _, s in shop.fake.store.iter_skus() if s.merchant_code}


async def test_tmall_delists_a_sold_out_item_and_lists_it_again_when_stock_returns(
    state: Store, fake_clock: FakeClock
) -> None:
    import_demo_catalogue(state, fake_clock, 2)
    shop = open_shop("tmall", fake_clock)
    sync = SyncEngine(
        state,
        [shop.channel],
        settings={"tmall": ChannelSyncSettings(auto_delist=True)},
        clock=fake_clock,
    )
    await sync.run_cycle()
    # Tmall delists whole items: both SKUs of the first item sell out.
    first, second = "CS-0001-1", "CS-0001-2"
    assert on_sale(shop, first)
    adjust_stock(state, first, -2, key="count-1", now=fake_clock.now())
    adjust_stock(state, second, -2, key="count-2", now=fake_clock.now())
    fake_clock.advance(60)
    await sync.run_cycle()
    assert (shop.stock()[first], shop.stock()[second]) == (0, 0)
    assert not on_sale(shop, first)
    assert on_sale(shop, "CS-0002-1")  # other items are left alone

    adjust_stock(state, second, 3, key="delivery-1", now=fake_clock.now())
    fake_clock.advance(60)
    await sync.run_cycle()
    assert shop.stock()[second] == 3
    assert on_sale(shop, second)


class TenPercentOnTmall:
    @hookimpl
    def channelsync_adjust_price(self, context: PriceContext, price: Money) -> Money | None:
        if context.channel_type != "tmall":
            return None
        return Money.of(price.amount * Decimal("1.10"), price.currency)


async def test_the_price_hook_changes_the_price_a_plugin_fake_receives(
    state: Store, fake_clock: FakeClock
) -> None:
    codes = import_demo_catalogue(state, fake_clock, 5)
    shop = open_shop("tmall", fake_clock)
    host = build_plugin_manager(autoload=False, extra_plugins=[TenPercentOnTmall()])
    sync = SyncEngine(state, [shop.channel], host=host, clock=fake_clock)
    await sync.run_cycle()
    with state.transaction() as session:
        catalogue = {s.merchant_code: Decimal(s.price) for s in session.skus(codes)}
    shown = prices(shop)
    for code in codes:
        assert shown[code] == (catalogue[code] * Decimal("1.10")).quantize(Decimal("0.01"))


@pytest.mark.parametrize("plugin", ["tmall", "jd", "pinduoduo"])
async def test_a_sold_out_sku_never_delists_a_sibling_that_still_has_stock(
    state: Store, fake_clock: FakeClock, plugin: str
) -> None:
    import_demo_catalogue(state, fake_clock, 2)
    shop = open_shop(plugin, fake_clock)
    sync = SyncEngine(
        state,
        [shop.channel],
        settings={plugin: ChannelSyncSettings(auto_delist=True)},
        clock=fake_clock,
    )
    await sync.run_cycle()
    # These marketplaces delist a whole item: one SKU of two sells out.
    first, second = "CS-0001-1", "CS-0001-2"
    adjust_stock(state, first, -2, key="count-1", now=fake_clock.now())
    fake_clock.advance(60)
    await sync.run_cycle()
    assert (shop.stock()[first], shop.stock()[second]) == (0, 2)
    assert on_sale(shop, second)  # the sibling stays buyable; the sold-out SKU shows zero

    adjust_stock(state, second, -2, key="count-2", now=fake_clock.now())
    fake_clock.advance(60)
    await sync.run_cycle()
    assert not on_sale(shop, first)  # every SKU at zero: now the item goes

    adjust_stock(state, first, 1, key="delivery-1", now=fake_clock.now())
    fake_clock.advance(60)
    await sync.run_cycle()
    assert shop.stock()[first] == 1
    assert on_sale(shop, first)


async def test_pinduoduo_raises_are_checked_by_reading_only_the_raised_skus(
    state: Store, fake_clock: FakeClock
) -> None:
    import_demo_catalogue(state, fake_clock, 4)
    shop = open_shop("pinduoduo", fake_clock)
    sync = SyncEngine(state, [shop.channel], clock=fake_clock)
    await sync.run_cycle()
    fake_clock.advance(3600)
    await sync.run_cycle()
    raised = ("CS-0001-1", "CS-0001-2")  # two SKUs of one goods
    for code in raised:
        adjust_stock(state, code, 3, key=f"delivery-{code}", now=fake_clock.now())
    fake_clock.advance(60)
    fake: Any = shop.fake
    before = Counter(fake.calls)
    await sync.run_cycle()
    calls = Counter(fake.calls) - before
    assert all(shop.stock()[code] == 7 for code in raised)
    # One goods read by code (it carries both SKUs) and their two prices: not the
    # whole shop's goods list and a price read for each of its SKUs.
    assert calls["pdd.goods.list.get"] == 1
    assert calls["pdd.goods.skus.get"] == 2
