"""The fake-marketplace building blocks: faults, throttling, orders, mounting, serving."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

import httpx
import pytest

from channelsync.clock import FakeClock
from channelsync.testing.fakes import (
    FakeItem,
    FakeMarketplace,
    FakeSku,
    Fault,
    FaultInjector,
    OrderGenerator,
    ThrottleRule,
    demo_catalogue,
)

START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)


class CounterMarketplace(FakeMarketplace):
    """A tiny wire format: POST /set/<sku> sets stock; POST /batch sets several."""

    throttle_rules: ClassVar[dict[str, ThrottleRule]] = {"set": ThrottleRule(rate=1.0, burst=2)}

    def operation_of(self, request: httpx.Request) -> str:
        return request.url.path.strip("/").split("/")[0] or "unknown"

    def is_batch(self, operation: str) -> bool:
        return operation == "batch"

    def handle(
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        wait = self.throttled(operation)
        if wait is not None:
            return httpx.Response(429, json={"retry_after": wait})
        body = json.loads(request.content or b"{}")
        results = {}
        for index, (sku_id, quantity) in enumerate(sorted(body.items())):
            if partial_failure and index == 0:
                results[sku_id] = "refused"
                continue
            found = self.store.find_sku(sku_id)
            assert found is not None
            found[1].quantity = quantity
            results[sku_id] = "ok"
        return httpx.Response(200, json=results)

    def fault_response(
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        return httpx.Response({Fault.THROTTLE: 429, Fault.SERVER_ERROR: 503}.get(fault, 401))


@pytest.fixture
def market() -> CounterMarketplace:
    fake = CounterMarketplace(clock=FakeClock(START))
    fake.store.add_item(
        FakeItem(
            item_id="1",
            title="Lamp",
            merchant_code="L",
            price=Decimal("9.90"),
            on_sale=True,
            created=START,
            modified=START,
            skus=[
                FakeSku("a", "L-1", Decimal("9.90"), 3),
                FakeSku("b", "L-2", Decimal("9.90"), 1),
            ],
        )
    )
    return fake


def test_random_faults_are_repeatable_with_a_seed() -> None:
    first = FaultInjector(0.5, seed=7)
    second = FaultInjector(0.5, seed=7)
    assert [first.draw(batch=True) for _ in range(50)] == [
        second.draw(batch=True) for _ in range(50)
    ]
    assert 0 < first.total < 50


def test_partial_batch_faults_wait_for_a_batch_call() -> None:
    faults = FaultInjector()
    faults.force(Fault.PARTIAL_BATCH)
    assert faults.draw(batch=False) is None
    assert faults.draw(batch=True) is Fault.PARTIAL_BATCH
    assert faults.injected[Fault.PARTIAL_BATCH] == 1


def test_fault_rate_is_validated() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultInjector(1.5)


def test_throttle_uses_the_marketplace_clock(market: CounterMarketplace) -> None:
    client = httpx.Client(transport=market.transport(), base_url="http://fake")
    assert client.post("/set", json={"a": 1}).status_code == 200
    assert client.post("/set", json={"a": 2}).status_code == 200
    throttled = client.post("/set", json={"a": 3})
    assert throttled.status_code == 429
    assert throttled.json()["retry_after"] == pytest.approx(1.0)
    assert isinstance(market.clock, FakeClock)
    market.clock.advance(1.0)
    assert client.post("/set", json={"a": 4}).status_code == 200
    assert market.calls["set"] == 4


def test_timeout_applies_the_call_and_loses_the_answer(market: CounterMarketplace) -> None:
    client = httpx.Client(transport=market.transport(), base_url="http://fake")
    market.faults.force(Fault.TIMEOUT)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/batch", json={"a": 0})
    found = market.store.find_sku("a")
    assert found is not None
    assert found[1].quantity == 0


def test_reset_drops_the_call_unapplied(market: CounterMarketplace) -> None:
    client = httpx.Client(transport=market.transport(), base_url="http://fake")
    market.faults.force(Fault.RESET)
    with pytest.raises(httpx.ReadError):
        client.post("/batch", json={"a": 0})
    found = market.store.find_sku("a")
    assert found is not None
    assert found[1].quantity == 3


def test_malformed_and_truncated_bodies(market: CounterMarketplace) -> None:
    client = httpx.Client(transport=market.transport(), base_url="http://fake")
    market.faults.force(Fault.MALFORMED)
    assert client.post("/batch", json={"a": 1}).text.startswith("<html>")
    market.faults.force(Fault.TRUNCATED)
    cut = client.post("/batch", json={"a": 1, "b": 1}).content
    assert cut == b'{"a":"ok","b":"ok"}'[: len(b'{"a":"ok","b":"ok"}') // 2]


def test_partial_batch_refuses_one_item(market: CounterMarketplace) -> None:
    client = httpx.Client(transport=market.transport(), base_url="http://fake")
    market.faults.force(Fault.PARTIAL_BATCH)
    assert client.post("/batch", json={"a": 5, "b": 5}).json() == {"a": "refused", "b": "ok"}


def test_rendered_faults_come_from_the_marketplace(market: CounterMarketplace) -> None:
    client = httpx.Client(transport=market.transport(), base_url="http://fake")
    market.faults.force(Fault.SERVER_ERROR)
    assert client.post("/set", json={}).status_code == 503


async def test_mounts_in_an_async_client(market: CounterMarketplace) -> None:
    async with httpx.AsyncClient(transport=market.transport(), base_url="http://fake") as client:
        response = await client.post("/batch", json={"b": 7})
    assert response.json() == {"b": "ok"}


def test_serves_on_loopback(market: CounterMarketplace) -> None:
    with market.serve() as server:
        response = httpx.post(f"{server.url}/batch", json={"a": 2})
        assert response.json() == {"a": "ok"}
        market.faults.force(Fault.RESET)
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{server.url}/batch", json={"a": 1})


def test_order_generator_decrements_stock_and_stops_when_sold_out(
    market: CounterMarketplace,
) -> None:
    generator = OrderGenerator(
        market.store,
        market.clock,
        order_id=lambda n, _now: f"T{n:05d}",
        status="WAIT_SELLER_SEND_GOODS",
        seed=3,
    )
    orders = generator.generate(100)
    sold = sum(line.quantity for order in orders for line in order.lines)
    assert sold == 4
    assert all(sku.quantity == 0 for _, sku in market.store.iter_skus())
    assert all(order.total == sum(x.price * x.quantity for x in order.lines) for order in orders)
    assert [o.order_id for o in orders] == [f"T{n:05d}" for n in range(1, len(orders) + 1)]


def test_demo_catalogue_is_deterministic_and_shared() -> None:
    first = demo_catalogue(3, skus_per_item=2)
    assert first == demo_catalogue(3, skus_per_item=2)
    assert [sku.merchant_code for sku in first[0].skus] == ["CS-0001-1", "CS-0001-2"]
    assert all(isinstance(sku.price, Decimal) for item in first for sku in item.skus)
