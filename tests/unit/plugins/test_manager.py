from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from channelsync.channels import Channel, ChannelSettings
from channelsync.errors import PluginError
from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync.plugins import (
    ChannelRegistry,
    LowStockAlert,
    PriceContext,
    build_plugin_manager,
    hookimpl,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CHANNELSYNC_DISABLE_PLUGIN_AUTOLOAD",
        "CHANNELSYNC_BLOCKED_PLUGINS",
        "CHANNELSYNC_TRACE_PLUGINS",
    ):
        monkeypatch.delenv(name, raising=False)


class ShopChannel(Channel[ChannelSettings]):
    type_name = "shop"
    display_name = "Shop"
    settings_model = ChannelSettings


class ShopPlugin:
    """A plugin object providing one channel type."""

    @hookimpl
    def channelsync_register_channels(self, registry: ChannelRegistry) -> None:
        registry.add(ShopChannel)


class DuplicateShopPlugin:
    class AnotherShop(Channel[ChannelSettings]):
        type_name = "shop"
        display_name = "Another"
        settings_model = ChannelSettings

    @hookimpl
    def channelsync_register_channels(self, registry: ChannelRegistry) -> None:
        registry.add(self.AnotherShop)


class MarkupPlugin:
    @hookimpl
    def channelsync_adjust_price(self, context: PriceContext, price: Money) -> Money | None:
        if context.channel_type != "shop":
            return None
        return Money(amount=price.amount * Decimal("1.10"), currency=price.currency)


def price_context(channel_type: str = "shop") -> PriceContext:
    return PriceContext(
        channel="shop1",
        channel_type=channel_type,
        merchant_code="SKU-1",
        catalogue_price=Money(amount=Decimal("100.00"), currency="CNY"),
    )


def make_order() -> Order:
    price = Money.of("9.90", "CNY")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Order(
        channel="shop1",
        order_id="O-1",
        status=OrderStatus.PAID,
        raw_status="WAIT_SELLER_SEND_GOODS",
        created_at=at,
        updated_at=at,
        total=price,
        lines=(OrderLine(item_id="1", quantity=1, unit_price=price),),
    )


def test_builtins_load_without_entry_points() -> None:
    host = build_plugin_manager(autoload=False)

    names = {info.name: info for info in host.plugins}
    assert set(names) == {"builtin.pricing", "builtin.alerts"}
    assert all(info.builtin and info.distribution == "channelsync" for info in names.values())
    assert host.failures == []


def test_extra_plugin_adds_a_channel_type() -> None:
    host = build_plugin_manager(autoload=False, extra_plugins=[ShopPlugin()])

    assert host.registry.get("shop") is ShopChannel
    info = next(p for p in host.plugins if p.channel_types)
    assert info.name.endswith("ShopPlugin")
    assert info.channel_types == ("shop",)
    assert info.builtin is False
    assert host.registry.provider("shop") == info.name


def test_duplicate_type_from_a_second_plugin_is_a_named_failure() -> None:
    host = build_plugin_manager(autoload=False, extra_plugins=[ShopPlugin(), DuplicateShopPlugin()])

    assert host.registry.get("shop") is ShopChannel
    [failure] = host.failures
    assert failure.name.endswith("DuplicateShopPlugin")
    assert "already registered by plugin" in failure.reason
    assert "ShopPlugin" in failure.reason
    assert not any(p.name == failure.name for p in host.plugins)


def test_plugin_with_unknown_hook_is_a_failure() -> None:
    typo = SimpleNamespace(__name__="typo_plugin")

    @hookimpl
    def channelsync_register_chanels(registry: ChannelRegistry) -> None:
        raise AssertionError("never called")

    typo.channelsync_register_chanels = channelsync_register_chanels
    host = build_plugin_manager(autoload=False, extra_plugins=[typo, ShopPlugin()])

    [failure] = host.failures
    assert failure.name == "typo_plugin"
    assert "channelsync_register_chanels" in failure.reason
    assert "shop" in host.registry
    assert host.manager.get_plugin("typo_plugin") is None


def test_blocked_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNELSYNC_BLOCKED_PLUGINS", " builtin.alerts , ")

    host = build_plugin_manager(autoload=False, blocked=["builtin.pricing"])

    assert host.plugins == []
    assert host.blocked == ("builtin.alerts", "builtin.pricing")
    price = Money(amount=Decimal("5"), currency="CNY")
    assert host.adjust_price(price_context(), price) == price


def test_identity_price_rule_by_default() -> None:
    host = build_plugin_manager(autoload=False)
    price = Money(amount=Decimal("100.00"), currency="CNY")

    assert host.adjust_price(price_context(), price) == price


def test_plugin_price_rule_wins_over_identity() -> None:
    host = build_plugin_manager(autoload=False, extra_plugins=[MarkupPlugin()])
    price = Money(amount=Decimal("100.00"), currency="CNY")

    assert host.adjust_price(price_context(), price).amount == Decimal("110.0000")
    # None from the rule falls through to the built-in identity rule
    assert host.adjust_price(price_context("market"), price) == price


def test_price_rule_that_changes_currency_is_refused() -> None:
    class ToUsd:
        @hookimpl
        def channelsync_adjust_price(self, price: Money) -> Money:
            return Money(amount=price.amount, currency="USD")

    host = build_plugin_manager(autoload=False, extra_plugins=[ToUsd()])

    with pytest.raises(PluginError, match="from CNY to USD"):
        host.adjust_price(price_context(), Money(amount=Decimal("1"), currency="CNY"))


def test_order_imported_awaits_async_impls_and_isolates_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[tuple[str, str, OrderStatus | None]] = []

    class SyncSink:
        @hookimpl
        def channelsync_order_imported(
            self, order: Order, previous_status: OrderStatus | None
        ) -> None:
            calls.append(("sync", order.order_id, previous_status))

    class AsyncSink:
        @hookimpl
        async def channelsync_order_imported(self, order: Order) -> None:
            calls.append(("async", order.order_id, None))

    class AwaitableSink:
        @hookimpl
        def channelsync_order_imported(self, order: Order) -> Awaitable[None]:
            async def later() -> None:
                calls.append(("awaitable", order.order_id, None))

            return later()

    class BrokenSink:
        @hookimpl(tryfirst=True)
        async def channelsync_order_imported(self, order: Order) -> None:
            raise RuntimeError("ERP is down")

    host = build_plugin_manager(
        autoload=False,
        extra_plugins=[SyncSink(), AsyncSink(), AwaitableSink(), BrokenSink()],
    )
    with caplog.at_level(logging.ERROR, logger="channelsync.plugins"):
        asyncio.run(host.order_imported(make_order(), OrderStatus.PENDING_PAYMENT))

    assert sorted(calls) == [
        ("async", "O-1", None),
        ("awaitable", "O-1", None),
        ("sync", "O-1", OrderStatus.PENDING_PAYMENT),
    ]
    [record] = caplog.records
    assert "BrokenSink" in record.getMessage()
    assert "O-1" in record.getMessage()


def test_implements_names_the_hooks_a_loaded_plugin_implements() -> None:
    class Sink:
        @hookimpl
        def channelsync_order_imported(self, order: Order) -> None:
            del order

    builtins = build_plugin_manager(autoload=False)
    assert builtins.implements("channelsync_adjust_price")  # the identity rule
    assert not builtins.implements("channelsync_adjust_price", builtin=False)
    assert not builtins.implements("channelsync_order_imported")
    host = build_plugin_manager(autoload=False, extra_plugins=[Sink(), MarkupPlugin()])
    assert host.implements("channelsync_order_imported")
    assert host.implements("channelsync_order_imported", builtin=False)
    assert host.implements("channelsync_adjust_price", builtin=False)


def test_low_stock_is_logged_by_the_builtin_sink(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[LowStockAlert] = []

    class Sink:
        @hookimpl
        def channelsync_low_stock(self, alert: LowStockAlert) -> None:
            seen.append(alert)

    class Broken:
        @hookimpl(tryfirst=True)
        def channelsync_low_stock(self, alert: LowStockAlert) -> None:
            raise ValueError("boom")

    host = build_plugin_manager(autoload=False, extra_plugins=[Sink(), Broken()])
    alert = LowStockAlert(merchant_code="SKU-1", available=2, threshold=5, channel="shop1", at=NOW)

    with caplog.at_level(logging.WARNING):
        host.low_stock(alert)

    assert seen == [alert]
    alerts = [r for r in caplog.records if r.name == "channelsync.alerts"]
    assert len(alerts) == 1
    assert alerts[0].levelno == logging.WARNING
    assert "SKU-1 has 2 available on channel 'shop1' (threshold 5)" in alerts[0].getMessage()
    assert any(
        r.name == "channelsync.plugins" and "Broken" in r.getMessage() for r in caplog.records
    )


def test_trace_logs_hook_calls_without_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CHANNELSYNC_TRACE_PLUGINS", "1")
    host = build_plugin_manager(autoload=False)
    context = price_context().model_copy(update={"merchant_code": "CANARY-SKU"})

    with caplog.at_level(logging.DEBUG, logger="channelsync.plugins"):
        host.adjust_price(context, Money(amount=Decimal("1"), currency="CNY"))

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hook channelsync_adjust_price -> ['builtin.pricing']" in text
    assert "returned Money" in text
    assert "CANARY-SKU" not in text


def test_context_models_are_frozen() -> None:
    context = price_context()
    with pytest.raises(ValueError, match="frozen"):
        context.channel = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone"):
        LowStockAlert(
            merchant_code="S",
            available=0,
            threshold=1,
            at=datetime(2026, 1, 1),  # noqa: DTZ001
        )


class _WrongSignature:
    """Implements a real hook with an argument the specification does not have."""

    @hookimpl
    def channelsync_adjust_price(self, context: object, price: Money, discount: int) -> None:
        return None


def test_plugin_with_a_wrong_hook_signature_is_a_named_failure() -> None:
    host = build_plugin_manager(autoload=False, extra_plugins=[_WrongSignature()])
    assert [f.name.rsplit(".", 1)[-1] for f in host.failures] == ["_WrongSignature"]
    assert "discount" in host.failures[0].reason
    # the broken rule is not consulted; the built-in identity rule still answers
    price = Money.of("5.00", "CNY")
    context = PriceContext(channel="c", channel_type="t", merchant_code="m", catalogue_price=price)
    assert host.adjust_price(context, price) == price
