"""The channel against the fake gateway: orders, stock, shipments, tokens, faults, loopback."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from channelsync.channels import Capability, PullCursor, TimeWindow
from channelsync.clock import FakeClock
from channelsync.errors import (
    AuthenticationError,
    ConflictError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
)
from channelsync.models import (
    Carrier,
    OrderStatus,
    Shipment,
    ShipmentLine,
    StockUpdate,
    StockUpdateMode,
)
from channelsync.plugins import build_plugin_manager
from channelsync.testing.fakes import Fault, ThrottleRule

from channelsync_douyin import DouyinChannel
from channelsync_douyin import channel as channel_module
from channelsync_douyin.fake import DEMO_CREDENTIALS, FakeDouyin
from channelsync_douyin.fake.wire import COMPANIES


def _window(fake: FakeDouyin, clock: FakeClock) -> TimeWindow:
    return TimeWindow(start=clock.now() - timedelta(hours=1), end=clock.now())


def _shipment(order_id: str, carrier: Carrier = Carrier.SF, **changes: object) -> Shipment:
    values: dict[str, object] = {
        "channel": "shop",
        "order_id": order_id,
        "carrier": carrier,
        "tracking_number": "SF1234567890",
        "shipped_at": "2024-03-01T04:00:00Z",
    }
    values.update(changes)
    return Shipment.model_validate(values)


def test_registered_through_the_entry_point_with_its_capabilities() -> None:
    host = build_plugin_manager()
    assert host.registry.get("douyin") is DouyinChannel
    assert DouyinChannel.capabilities() == {
        Capability.ORDERS,
        Capability.INVENTORY,
        Capability.SHIPMENTS,
    }
    assert DouyinChannel.credential_fields == ("app_secret", "access_token")
    assert set(DouyinChannel.limits.carrier_codes.values()) <= set(COMPANIES)


# -- orders ---------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "page_size"), [(0, 5), (10, 5), (7, 5), (3, 100)])
async def test_paging_edges(fake, clock, make_channel, count, page_size) -> None:
    generated = {o.order_id for o in fake.generate_orders(count)}
    clock.advance(60)
    async with make_channel(page_size=page_size) as channel:
        orders = [o async for o in channel.fetch_orders(_window(fake, clock))]
    assert {o.order_id for o in orders} == generated
    pages = max(1, -(-count // page_size))
    # The first page, then last to second, then the first again when there are several.
    assert fake.calls["order.searchList"] == (1 if pages == 1 else pages + 1)


async def test_orders_leaving_the_window_between_pages_lose_no_other(fake, clock, make_channel):
    generated = [o.order_id for o in fake.generate_orders(12)]
    clock.advance(60)
    inner = fake.transport()
    seen = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal seen
        response = await inner.handle_async_request(request)
        if request.url.path == "/order/searchList":
            seen += 1
            if seen == 1:
                # The oldest order changes now: it moves out of the (past) window.
                fake.cancel_order(generated[0])
        return response

    async with make_channel(page_size=5, transport=httpx.MockTransport(handler)) as channel:
        window = TimeWindow(start=clock.now() - timedelta(hours=1), end=clock.now())
        orders = {o.order_id async for o in channel.fetch_orders(window)}
    assert set(generated[1:]) <= orders


async def test_a_window_past_the_search_depth_is_split(fake, clock, make_channel, monkeypatch):
    monkeypatch.setattr(channel_module, "MAX_SEARCH_RESULTS", 4)
    generated = set()
    for _ in range(6):
        generated |= {o.order_id for o in fake.generate_orders(2)}
        clock.advance(120)
    async with make_channel(page_size=2) as channel:
        orders = {o.order_id async for o in channel.fetch_orders(_window(fake, clock))}
    assert orders == generated


async def test_a_long_cursor_gap_is_read_in_windows_of_the_declared_span(fake, clock, make_channel):
    fake.generate_orders(3)
    clock.advance(600)
    cursor = PullCursor(since=clock.now() - timedelta(days=2))
    spans, seen = [], set()
    async with make_channel() as channel:
        while True:
            pull = await channel.pull_orders(cursor)
            if pull.window is not None:
                spans.append(pull.window.end - pull.window.start)
            seen |= {o.order_id for o in pull.orders}
            cursor = pull.cursor
            if pull.caught_up:
                break
    assert len(spans) > 90
    assert max(spans) <= DouyinChannel.limits.order_window.span
    assert seen == set(fake.store.orders)


async def test_get_order_and_buyer_changes(fake, clock, make_channel) -> None:
    first, second = fake.generate_orders(2)
    async with make_channel() as channel:
        order = await channel.get_order(first.order_id)
        assert order.status is OrderStatus.PAID
        assert order.lines[0].line_id == first.order_id
        clock.advance(5)
        fake.cancel_order(first.order_id)
        fake.request_refund(second.order_id)
        assert (await channel.get_order(first.order_id)).status is OrderStatus.CANCELLED
        refund = await channel.get_order(second.order_id)
        assert refund.status is OrderStatus.REFUND_REQUESTED
        with pytest.raises(NotFoundError):
            await channel.get_order("6900000000000000000")


# -- stock ----------------------------------------------------------------------------


async def test_stock_lands_and_an_unknown_sku_fails_alone(fake, make_channel) -> None:
    (item_a, sku_a), (item_b, sku_b) = list(fake.store.iter_skus())[:2]
    updates = [
        StockUpdate(item_id=item_a.item_id, sku_id=sku_a.sku_id, quantity=0),
        StockUpdate(item_id=item_a.item_id, sku_id="999999999", quantity=4),
        StockUpdate(item_id=item_b.item_id, sku_id=sku_b.sku_id, quantity=11),
        StockUpdate(item_id=item_b.item_id, sku_id=sku_b.sku_id, quantity=2, mode="delta"),
        StockUpdate(item_id="not-a-number", sku_id="1", quantity=1),
        StockUpdate(item_id=item_b.item_id, quantity=1),
    ]
    async with make_channel() as channel:
        results = await channel.set_stock(updates)
        listings = {listing.key: listing for listing in [x async for x in channel.iter_listings()]}
    assert [r.ok for r in results] == [True, False, True, False, False, False]
    assert results[1].error is not None
    assert results[1].error.code == "isv.parameter-invalid:5"
    assert updates[3].mode is StockUpdateMode.DELTA
    assert (sku_a.quantity, sku_b.quantity) == (0, 11)
    assert listings[(item_b.item_id, sku_b.sku_id)].quantity == 11
    assert listings[(item_a.item_id, sku_a.sku_id)].merchant_code == sku_a.merchant_code
    assert fake.calls["sku.syncStock"] == 3


async def test_listings_page_through_products(fake, make_channel) -> None:
    async with make_channel(page_size=3) as channel:
        listings = [x async for x in channel.iter_listings()]
    assert len(listings) == 16
    assert fake.calls["product.listV2"] == 3


# -- shipments ------------------------------------------------------------------------


async def test_shipments_are_mapped_and_never_doubled(fake, make_channel) -> None:
    order = fake.generate_orders(1)[0]
    async with make_channel() as channel:
        first = await channel.push_shipment(_shipment(order.order_id, Carrier.JT))
        again = await channel.push_shipment(_shipment(order.order_id, Carrier.JT))
    assert not first.already_shipped
    assert again.already_shipped
    (recorded,) = fake.store.orders[order.order_id].shipments
    assert recorded.carrier_code == "jtexpress"
    assert fake.store.orders[order.order_id].status == "3"


async def test_shipments_the_gateway_refuses(fake, make_channel) -> None:
    order = fake.generate_orders(1)[0]
    fake.cancel_order(order.order_id)
    async with make_channel() as channel:
        with pytest.raises(ConflictError) as cancelled:
            await channel.push_shipment(_shipment(order.order_id))
        assert cancelled.value.code == "isv.business-failed:60021"
        with pytest.raises(NotFoundError):
            await channel.push_shipment(_shipment("6900000000000000000"))
        with pytest.raises(InvalidRequestError, match="split parcels"):
            await channel.push_shipment(
                _shipment(order.order_id, lines=(ShipmentLine(line_id="1", quantity=1),))
            )
        with pytest.raises(InvalidRequestError, match="ups"):
            await channel.push_shipment(_shipment(order.order_id, Carrier.UPS))


# -- tokens, faults, secrets ----------------------------------------------------------


async def test_expired_token_is_refreshed_persisted_and_redacted(
    fake, make_channel, backend, caplog
) -> None:
    fake.expire_token(DEMO_CREDENTIALS["access_token"])
    order = fake.generate_orders(1)[0]
    caplog.set_level(logging.DEBUG)
    async with make_channel() as channel:
        assert (await channel.get_order(order.order_id)).order_id == order.order_id
        assert (await channel.get_order(order.order_id)).order_id == order.order_id
    new_token = backend.get("shop", "access_token")
    new_refresh = backend.get("shop", "refresh_token")
    assert new_token in fake.access_tokens
    assert new_refresh in fake.refresh_tokens
    assert fake.calls["token.refresh"] == 1
    for secret in (new_token, new_refresh, *DEMO_CREDENTIALS.values()):
        assert secret not in caplog.text


async def test_a_refused_refresh_is_an_authentication_error(fake, make_channel, backend) -> None:
    fake.expire_token(DEMO_CREDENTIALS["access_token"])
    backend.set("shop", "refresh_token", "stale-refresh-token")
    async with make_channel(retries=3) as channel:
        with pytest.raises(AuthenticationError) as raised:
            await channel.get_order("6900000000000000000")
    assert raised.value.code == "dop.token-generate-failed:token-invalid"


async def test_without_a_refresh_token_an_expired_token_is_refused(fake, make_channel, backend):
    backend.delete("shop", "refresh_token")
    fake.expire_token(DEMO_CREDENTIALS["access_token"])
    async with make_channel() as channel:
        with pytest.raises(AuthenticationError) as raised:
            await channel.get_order("6900000000000000000")
    assert raised.value.code == "isv.access-token-expired"
    assert fake.calls["token.refresh"] == 0


async def test_throttle_is_retried_after_the_wait(fake, clock, make_channel) -> None:
    order = fake.generate_orders(1)[0]
    fake.faults.force(Fault.THROTTLE)
    async with make_channel() as channel:
        with pytest.raises(RateLimitedError) as raised:
            await channel.get_order(order.order_id)
    assert raised.value.retry_after == 1.0
    fake.faults.force(Fault.THROTTLE)
    async with make_channel(retries=2) as channel:
        assert (await channel.get_order(order.order_id)).order_id == order.order_id


async def test_the_gateway_throttles_a_burst_with_its_own_answer(fake, make_channel) -> None:
    fake.default_throttle = ThrottleRule(rate=1.0, burst=1)
    async with make_channel() as channel:
        await channel.get_order(fake.generate_orders(1)[0].order_id)
        with pytest.raises(RateLimitedError) as raised:
            await channel.get_order(next(iter(fake.store.orders)))
    assert raised.value.code == "isv.api-flow-limit"


@pytest.mark.parametrize("fault", [Fault.MALFORMED, Fault.TRUNCATED])
async def test_broken_bodies_are_data_errors(fake, make_channel, fault, caplog) -> None:
    fake.faults.force(fault)
    caplog.set_level(logging.DEBUG)
    async with make_channel() as channel:
        with pytest.raises(DataError) as raised:
            await channel.get_order("6900000000000000000")
    for secret in DEMO_CREDENTIALS.values():
        assert secret not in str(raised.value)
        assert secret not in repr(raised.value)
        assert secret not in caplog.text


async def test_loopback_server_answers_a_real_call(fake, make_channel) -> None:
    order = fake.generate_orders(1)[0]
    with fake.serve() as server:
        # No transport override: a real HTTP round trip to 127.0.0.1.
        async with make_channel(base_url=server.url, transport=None) as channel:
            assert (await channel.get_order(order.order_id)).order_id == order.order_id
    assert fake.calls["order.orderDetail"] == 1
