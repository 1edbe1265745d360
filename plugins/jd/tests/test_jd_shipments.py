from __future__ import annotations

from datetime import UTC, datetime

import pytest
from channelsync_jd import JdChannel
from channelsync_jd.fake import FakeJos

from channelsync.errors import ConflictError, InvalidRequestError
from channelsync.models import Carrier, OrderStatus, Shipment, ShipmentLine

SHIP = "jingdong.pop.order.shipment"


def _shipment(order_id: str, carrier: str, tracking: str = "SF123456", **extra: str) -> Shipment:
    return Shipment(
        channel="jd-shop",
        order_id=order_id,
        carrier=carrier,
        tracking_number=tracking,
        shipped_at=datetime(2024, 3, 1, 5, tzinfo=UTC),
        **extra,  # type: ignore[arg-type]
    )


async def test_ships_with_carrier_id_and_tracking(channel: JdChannel, fake: FakeJos) -> None:
    order = fake.generate_orders(1)[0]
    result = await channel.push_shipment(_shipment(order.order_id, "sf"))
    assert result.order_id == order.order_id
    assert not result.already_shipped
    assert fake.received[-1] == (
        SHIP,
        {"logiCoprId": "467", "logiNo": "SF123456", "orderId": int(order.order_id)},
    )
    assert order.status == "WAIT_GOODS_RECEIVE_CONFIRM"
    assert (await channel.get_order(order.order_id)).status is OrderStatus.SHIPPED


async def test_a_second_push_is_already_shipped(channel: JdChannel, fake: FakeJos) -> None:
    order = fake.generate_orders(1)[0]
    await channel.push_shipment(_shipment(order.order_id, "yto", "YT1"))
    again = await channel.push_shipment(_shipment(order.order_id, "yto", "YT1"))
    assert again.already_shipped
    assert len(order.shipments) == 1
    assert order.shipments[0].carrier_code == "463"  # from the shop's carrier list


async def test_self_delivery_sends_no_tracking_number(channel: JdChannel, fake: FakeJos) -> None:
    order = fake.generate_orders(1)[0]
    shipment = _shipment(order.order_id, "other", "N/A", carrier_name="厂家自送")
    await channel.push_shipment(shipment)
    assert fake.received[-1] == (SHIP, {"logiCoprId": "1274", "orderId": int(order.order_id)})
    assert order.shipments[0].tracking_number == ""


async def test_other_carrier_by_its_jd_name(channel: JdChannel, fake: FakeJos) -> None:
    fake.carriers["9999"] = "安能物流"
    order = fake.generate_orders(1)[0]
    await channel.push_shipment(_shipment(order.order_id, "other", "AN1", carrier_name="安能物流"))
    assert order.shipments[0].carrier_code == "9999"


async def test_unknown_carrier_and_partial_shipments_are_refused(
    channel: JdChannel, fake: FakeJos
) -> None:
    order = fake.generate_orders(1)[0]
    with pytest.raises(InvalidRequestError, match="ups"):
        await channel.push_shipment(_shipment(order.order_id, "ups", "1Z"))
    partial = _shipment(order.order_id, "sf").model_copy(
        update={"lines": (ShipmentLine(sku_id="1", quantity=1),)}
    )
    with pytest.raises(InvalidRequestError, match="whole orders"):
        await channel.push_shipment(partial)
    assert fake.calls[SHIP] == 0


async def test_cancelled_order_is_a_conflict(channel: JdChannel, fake: FakeJos) -> None:
    order = fake.generate_orders(1)[0]
    fake.cancel_order(order.order_id)
    with pytest.raises(ConflictError):
        await channel.push_shipment(_shipment(order.order_id, "sf"))


async def test_carrier_list(channel: JdChannel, fake: FakeJos) -> None:
    carriers = await channel.list_carriers()
    by_code = {carrier.code: carrier for carrier in carriers}
    assert by_code["467"].carrier is Carrier.SF
    assert by_code["465"].carrier is Carrier.EMS
    assert by_code["2087"].carrier is Carrier.JD
    assert by_code["1274"].self_delivery
    assert by_code["1274"].carrier is None
    await channel.list_carriers()
    assert fake.calls["360buy.get.vender.all.delivery.company"] == 1
