"""Shipments (online send, carriers) and incremental after-sales pulls through the fake."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from channelsync_pinduoduo import PinduoduoChannel
from channelsync_pinduoduo.channel import REFUND_QUERY_STATUSES
from channelsync_pinduoduo.fake import FakePdd
from channelsync_pinduoduo.fake.handlers import AFTER_SALES_STATUSES, Params

from channelsync.channels import PullCursor
from channelsync.clock import FakeClock
from channelsync.errors import ConflictError, InvalidRequestError
from channelsync.models import Carrier, RefundStatus, Shipment, ShipmentLine
from channelsync.testing.fakes import FakeShipment, demo_catalogue

from .conftest import MakeChannel

SEND = "pdd.logistics.online.send"


def _shipment(order_id: str, clock: FakeClock, **fields: object) -> Shipment:
    values: dict[str, object] = {
        "channel": "shop",
        "order_id": order_id,
        "carrier": Carrier.SF,
        "tracking_number": "SF1234567890",
        "shipped_at": clock.now(),
        **fields,
    }
    return Shipment.model_validate(values)


async def test_carrier_list_maps_to_canonical_carriers(channel: PinduoduoChannel) -> None:
    async with channel:
        carriers = await channel.carriers()
        again = await channel.carriers()
    assert carriers == again
    by_id = {c.logistics_id: c for c in carriers}
    assert by_id[44].carrier is Carrier.SF
    assert by_id[384].carrier is Carrier.JT
    assert by_id[3].available is False
    assert by_id[3].carrier is Carrier.BEST


async def test_shipping_an_order_with_carrier_id_and_tracking_number(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    order = fake.generate_orders(1)[0]
    async with channel:
        result = await channel.push_shipment(_shipment(order.order_id, clock))
        again = await channel.push_shipment(_shipment(order.order_id, clock))
        with pytest.raises(ConflictError, match="another tracking number"):
            await channel.push_shipment(_shipment(order.order_id, clock, tracking_number="SF999"))
    assert not result.already_shipped
    assert result.marketplace_ref == "44"
    assert again.already_shipped
    assert again.marketplace_ref == "44"
    stored = fake.store.orders[order.order_id]
    assert stored.status == "2"
    assert [(s.carrier_code, s.tracking_number) for s in stored.shipments] == [
        ("SF", "SF1234567890")
    ]
    sent = [f for m, f in fake.received if m == SEND]
    assert len(sent) == 1
    assert sent[0]["logistics_id"] == "44"
    assert sent[0]["redelivery_type"] == "1"


async def test_a_risk_controlled_order_is_never_shipped(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    order = fake.generate_orders(1)[0]
    fake.hold_for_risk_control(order.order_id)
    async with channel:
        with pytest.raises(ConflictError, match="risk control"):
            await channel.push_shipment(_shipment(order.order_id, clock))
    assert fake.calls[SEND] == 0
    assert fake.store.orders[order.order_id].status == "1"


async def test_carriers_without_an_available_company_are_refused(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    order = fake.generate_orders(1)[0]
    async with channel:
        for carrier in (Carrier.UPS, Carrier.BEST):
            with pytest.raises(InvalidRequestError, match="no available PDD logistics"):
                await channel.push_shipment(_shipment(order.order_id, clock, carrier=carrier))
        other = _shipment(order.order_id, clock, carrier=Carrier.OTHER, carrier_name="邮政EMS")
        result = await channel.push_shipment(other)
    assert result.marketplace_ref == "118"


async def test_split_shipments_are_refused(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    order = fake.generate_orders(1)[0]
    line = order.lines[0]
    partial = ShipmentLine(sku_id=line.sku_id, quantity=line.quantity + 1)
    whole = [ShipmentLine(sku_id=x.sku_id, quantity=x.quantity) for x in order.lines]
    async with channel:
        with pytest.raises(InvalidRequestError, match="whole orders"):
            await channel.push_shipment(_shipment(order.order_id, clock, lines=(partial,)))
        result = await channel.push_shipment(_shipment(order.order_id, clock, lines=tuple(whole)))
    assert not result.already_shipped


class _ShippedMeanwhile(FakePdd):
    """Ships the order itself just before answering the channel's shipment."""

    def _online_send(self, params: Params, partial: bool) -> httpx.Response:
        order = self.store.orders[params.text("order_sn")]
        order.shipments.append(
            FakeShipment(order.order_id, "SF", params.text("tracking_number"), self.clock.now())
        )
        order.status = "2"
        return super()._online_send(params, partial)


async def test_a_refused_first_shipment_of_a_shipped_order_is_already_shipped(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    shop = _ShippedMeanwhile(clock=clock)
    shop.seed_catalogue(demo_catalogue(2))
    order = shop.generate_orders(1)[0]
    async with make_channel(target=shop) as channel:
        result = await channel.push_shipment(_shipment(order.order_id, clock))
    assert result.already_shipped
    assert shop.calls[SEND] == 1


async def test_refunds_are_pulled_status_by_status(
    channel: PinduoduoChannel, fake: FakePdd, clock: FakeClock
) -> None:
    orders = fake.generate_orders(3)
    asked = fake.buyer_requests_refund(orders[0].order_id)
    paid = fake.buyer_requests_refund(orders[1].order_id, return_goods=True)
    fake.complete_refund(paid.refund_id)
    withdrawn = fake.buyer_requests_refund(orders[2].order_id)
    fake.buyer_withdraws_refund(withdrawn.refund_id)
    clock.advance(600)
    async with channel:
        pull = await channel.pull_refunds(
            PullCursor.starting_at(clock.now() - timedelta(minutes=20))
        )
    by_id = {r.refund_id: r for r in pull.refunds}
    assert by_id[asked.refund_id].status is RefundStatus.REQUESTED
    assert by_id[paid.refund_id].status is RefundStatus.REFUNDED
    assert by_id[paid.refund_id].returns_goods
    assert by_id[withdrawn.refund_id].status is RefundStatus.CANCELLED
    assert by_id[asked.refund_id].raw_status == "after_sales_status=2"
    first = orders[0].lines[0]
    assert by_id[asked.refund_id].amount.amount == first.price * first.quantity
    assert isinstance(by_id[asked.refund_id].amount.amount, Decimal)
    line = by_id[asked.refund_id].lines[0]
    assert (line.sku_id, line.merchant_code, line.quantity) == (
        first.sku_id,
        first.merchant_code,
        first.quantity,
    )
    assert by_id[asked.refund_id].order_id == orders[0].order_id
    sent = [f for m, f in fake.received if m == "pdd.refund.list.increment.get"]
    assert [int(f["after_sales_status"]) for f in sent] == list(REFUND_QUERY_STATUSES)
    assert {f["after_sales_type"] for f in sent} == {"1"}
    assert all(int(f["end_updated_at"]) - int(f["start_updated_at"]) <= 1800 for f in sent)


def _refund_query(clock: FakeClock, **params: object) -> dict[str, object]:
    end = int(clock.now().timestamp()) - 600
    return {
        "after_sales_type": 1,
        "start_updated_at": end - 1800,
        "end_updated_at": end,
        "page": 1,
        "page_size": 100,
        **params,
    }


@pytest.mark.parametrize("status", [1, 19, 20, 26, 99])
async def test_the_fake_refuses_an_after_sales_status_pdd_does_not_list(
    channel: PinduoduoChannel, clock: FakeClock, status: int
) -> None:
    # PDD lists no "all" value: one documented status per query.
    async with channel:
        with pytest.raises(InvalidRequestError) as caught:
            await channel.call(
                "pdd.refund.list.increment.get", _refund_query(clock, after_sales_status=status)
            )
    assert caught.value.code == "21001"


async def test_the_fake_requires_the_after_sales_status_and_type(
    channel: PinduoduoChannel, clock: FakeClock
) -> None:
    method = "pdd.refund.list.increment.get"
    no_type = {k: v for k, v in _refund_query(clock).items() if k != "after_sales_type"}
    async with channel:
        with pytest.raises(InvalidRequestError) as missing_status:
            await channel.call(method, _refund_query(clock))
        with pytest.raises(InvalidRequestError) as missing_type:
            await channel.call(method, {**no_type, "after_sales_status": 2})
        answer = await channel.call(method, _refund_query(clock, after_sales_status=0))
    assert missing_status.value.code == missing_type.value.code == "21002"
    assert answer["total_count"] == 0


def test_the_channel_asks_only_for_statuses_pdd_lists() -> None:
    assert set(REFUND_QUERY_STATUSES) <= AFTER_SALES_STATUSES
    assert len(set(REFUND_QUERY_STATUSES)) == len(REFUND_QUERY_STATUSES)
