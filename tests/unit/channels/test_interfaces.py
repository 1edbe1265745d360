"""The Channel base and the capability interfaces, driven through a tiny fake shop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest

from channelsync.channels import (
    Capability,
    Channel,
    ChannelLimits,
    ChannelSettings,
    InventoryCapability,
    Operation,
    OrdersCapability,
    OrderWindow,
    PullCursor,
    ShipmentsCapability,
    TimeWindow,
)
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import ChannelNotOpenError, InvalidRequestError, UsageError
from channelsync.models import (
    Carrier,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentResult,
    StockUpdate,
    StockUpdateMode,
    UpdateResult,
)

SECRET = "CANARY-api-key-7d1c"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


class ShopSettings(ChannelSettings):
    shop_code: str


class ShopChannel(
    Channel[ShopSettings], InventoryCapability, OrdersCapability, ShipmentsCapability
):
    """A minimal channel over a JSON API, as a plugin author would write one."""

    type_name: ClassVar[str] = "shop"
    display_name: ClassVar[str] = "Test shop"
    settings_model: ClassVar[type[ChannelSettings]] = ShopSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    default_base_url: ClassVar[str] = "https://shop.test"
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        batch_sizes={Operation.SET_STOCK: 2},
        order_window=OrderWindow(max_span=timedelta(hours=1), overlap=timedelta(minutes=5)),
        carrier_codes={Carrier.SF: "SFEXPRESS"},
    )

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        response = await self.http.request(
            "POST",
            "/stock",
            operation="stock.set",
            json=[{"sku": u.sku_id, "qty": u.quantity} for u in batch],
            headers={"x-api-key": self.credentials.require("api_key")},
        )
        failed = set(response.json()["failed"])
        return [
            UpdateResult.failure(u, "unknown sku", code="E404")
            if u.sku_id in failed
            else UpdateResult.success(u)
            for u in batch
        ]

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        response = await self.http.request(
            "GET",
            "/orders",
            operation="orders.list",
            params={"start": window.start.isoformat(), "end": window.end.isoformat()},
        )
        for raw in response.json()["orders"]:
            yield _order(raw["id"], datetime.fromisoformat(raw["updated"]))

    async def get_order(self, order_id: str) -> Order:
        return _order(order_id, T0)

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        await self.http.request(
            "POST",
            f"/orders/{shipment.order_id}/ship",
            operation="ship",
            json={"carrier": self.carrier_code(shipment.carrier), "no": shipment.tracking_number},
        )
        return ShipmentResult(order_id=shipment.order_id)


def _order(order_id: str, updated: datetime) -> Order:
    price = Money.of("9.90", "CNY")
    return Order(
        channel="shop-1",
        order_id=order_id,
        status=OrderStatus.PAID,
        raw_status="PAID",
        created_at=T0,
        updated_at=updated,
        total=price,
        lines=(OrderLine(item_id="1", quantity=1, unit_price=price),),
    )


class FakeShop:
    """The marketplace side: records requests and answers them."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.orders: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/stock":
            body = json.loads(request.content)
            return httpx.Response(
                200, json={"failed": [r["sku"] for r in body if r["sku"] == "bad"]}
            )
        if request.url.path == "/orders":
            start = datetime.fromisoformat(request.url.params["start"])
            end = datetime.fromisoformat(request.url.params["end"])
            hits = [o for o in self.orders if start <= datetime.fromisoformat(o["updated"]) < end]
            return httpx.Response(200, json={"orders": hits})
        if request.url.path.endswith("/ship"):
            return httpx.Response(401 if request.url.path.startswith("/orders/locked") else 200)
        return httpx.Response(404)


def _channel(shop: FakeShop, clock: FakeClock | None = None) -> ShopChannel:
    store = CredentialStore(
        backend=MemorySecretBackend({("shop-1", "api_key"): SECRET}), environ={}
    )
    return ShopChannel(
        "shop-1",
        ShopSettings(shop_code="S1"),
        store.for_channel("shop-1", ShopChannel.all_credential_fields()),
        transport=httpx.MockTransport(shop),
        clock=clock or FakeClock(T0),
    )


def test_capabilities_come_from_the_implemented_interfaces() -> None:
    assert ShopChannel.capabilities() == {
        Capability.INVENTORY,
        Capability.ORDERS,
        Capability.SHIPMENTS,
    }
    assert not ShopChannel.supports(Capability.PRICING)


def test_a_channel_is_unusable_outside_async_with() -> None:
    channel = _channel(FakeShop())
    with pytest.raises(ChannelNotOpenError, match="async with"):
        asyncio.run(channel.set_stock([StockUpdate(item_id="1", sku_id="a", quantity=1)]))


def test_wrong_settings_type_is_a_usage_error() -> None:
    store = CredentialStore(backend=MemorySecretBackend(), environ={})
    with pytest.raises(UsageError, match="ShopSettings"):
        ShopChannel("x", ChannelSettings(), store.for_channel("x"))  # type: ignore[arg-type]


def test_stock_is_sent_in_declared_batches_with_per_item_results() -> None:
    shop = FakeShop()
    updates = [StockUpdate(item_id="1", sku_id=s, quantity=3) for s in ("a", "bad", "c", "d", "e")]

    async def run() -> list[UpdateResult]:
        async with _channel(shop) as channel:
            return await channel.set_stock(updates)

    results = asyncio.run(run())
    assert [len(json.loads(r.content)) for r in shop.requests] == [2, 2, 1]
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert results[1].error is not None
    assert results[1].error.code == "E404"


def test_delta_stock_is_refused_per_item_where_the_marketplace_has_none() -> None:
    shop = FakeShop()
    updates = [
        StockUpdate(item_id="1", sku_id="a", quantity=-1, mode=StockUpdateMode.DELTA),
        StockUpdate(item_id="1", sku_id="b", quantity=4),
    ]

    async def run() -> list[UpdateResult]:
        async with _channel(shop) as channel:
            return await channel.set_stock(updates)

    results = asyncio.run(run())
    assert [r.ok for r in results] == [False, True]
    assert results[0].error is not None
    assert "absolute" in results[0].error.message
    assert [json.loads(r.content) for r in shop.requests] == [[{"sku": "b", "qty": 4}]]


def test_pull_orders_windows_dedupes_and_advances_the_cursor() -> None:
    shop = FakeShop()
    shop.orders = [
        {"id": "o1", "updated": (T0 + timedelta(minutes=10)).isoformat()},
        {"id": "o2", "updated": (T0 + timedelta(minutes=70)).isoformat()},
    ]
    clock = FakeClock(T0 + timedelta(minutes=90))

    async def run() -> list[tuple[list[str], datetime, bool]]:
        out = []
        cursor = PullCursor(since=T0)
        async with _channel(shop, clock) as channel:
            while True:
                pull = await channel.pull_orders(cursor)
                out.append(([o.order_id for o in pull.orders], pull.cursor.since, pull.caught_up))
                cursor = pull.cursor
                if pull.caught_up:
                    return out

    assert asyncio.run(run()) == [
        (["o1"], T0 + timedelta(minutes=55), False),
        (["o2"], T0 + timedelta(minutes=90), True),
    ]


def test_unknown_carrier_is_refused_before_any_request() -> None:
    shop = FakeShop()
    shipment = Shipment(
        channel="shop-1",
        order_id="o1",
        carrier=Carrier.DHL,
        tracking_number="123",
        shipped_at=T0,
    )

    async def run() -> None:
        async with _channel(shop) as channel:
            await channel.push_shipment(shipment)

    with pytest.raises(InvalidRequestError, match="'dhl' has no code") as caught:
        asyncio.run(run())
    assert caught.value.channel == "shop-1"
    assert shop.requests == []


def test_secrets_stay_out_of_reprs_and_are_registered_for_redaction() -> None:
    channel = _channel(FakeShop())

    async def run() -> str:
        async with channel:
            return channel.redactor.redact_text(f"header was {SECRET}")

    assert SECRET not in asyncio.run(run())
    assert SECRET not in repr(channel)
    assert SECRET not in repr(channel.credentials)


def test_settings_base_url_is_validated_and_overrides_the_default() -> None:
    assert ShopSettings(shop_code="x", base_url="http://127.0.0.1:8080/").base_url == (
        "http://127.0.0.1:8080"
    )
    with pytest.raises(ValueError, match="base_url"):
        ShopSettings(shop_code="x", base_url="not a url")
