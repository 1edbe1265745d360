"""confirmShipment for merchant-fulfilled orders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from channelsync_amazon import AmazonChannel
from channelsync_amazon.fake import FakeSellingPartner
from channelsync_amazon.shipments import confirm_shipment_body, package_reference

from channelsync.errors import InvalidRequestError, NotFoundError
from channelsync.models import Carrier, Shipment, ShipmentLine

SHIPPED_AT = datetime(2024, 3, 1, 5, 0, tzinfo=UTC)


def _shipment(order_id: str, **extra: object) -> Shipment:
    values: dict[str, object] = {
        "channel": "amazon-us",
        "order_id": order_id,
        "carrier": Carrier.UPS,
        "tracking_number": "1Z999AA10123456784",
        "shipped_at": SHIPPED_AT,
    }
    return Shipment.model_validate(values | extra)


def test_body_matches_the_reference_example() -> None:
    body = confirm_shipment_body(
        _shipment("1"), "ATVPDKIKX0DER", "UPS", [{"orderItemId": "12345678901234", "quantity": 1}]
    )
    assert body == {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": package_reference("1Z999AA10123456784"),
            "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2024-03-01T05:00:00Z",
            "orderItems": [{"orderItemId": "12345678901234", "quantity": 1}],
        },
    }
    reference = body["packageDetail"]["packageReferenceId"]
    assert reference.isdigit()
    assert int(reference) > 0
    assert package_reference("1Z999AA10123456784") == reference  # stable across retries


async def test_ship_the_whole_order(channel: AmazonChannel, fake: FakeSellingPartner, wire) -> None:
    order = fake.generate_orders(1)[0]
    result = await channel.push_shipment(_shipment(order.order_id))
    assert result.order_id == order.order_id
    assert fake.store.orders[order.order_id].status == "Shipped"
    assert fake.store.orders[order.order_id].shipments[0].carrier_code == "UPS"
    assert wire.checked["confirmShipment"] == 1
    again = await channel.push_shipment(_shipment(order.order_id))
    assert again.already_shipped
    assert len(fake.store.orders[order.order_id].shipments) == 1
    assert wire.checked["confirmShipment"] == 1


async def test_ship_some_lines_then_the_rest(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    order = next(o for o in fake.generate_orders(10) if len(o.lines) > 1)
    first, second = order.lines[0], order.lines[1]
    await channel.push_shipment(
        _shipment(
            order.order_id,
            lines=[ShipmentLine(line_id=first.line_id, quantity=first.quantity)],
        )
    )
    assert fake.store.orders[order.order_id].status == "PartiallyShipped"
    await channel.push_shipment(
        _shipment(
            order.order_id,
            tracking_number="1Z999AA10123456785",
            lines=[ShipmentLine(merchant_code=second.merchant_code, quantity=second.quantity)],
        )
    )
    assert fake.store.orders[order.order_id].status == "Shipped"


@pytest.mark.parametrize(
    ("carrier", "name", "sent"),
    [(Carrier.OTHER, "Hermes", "Hermes"), (Carrier.SF, None, "SF Express")],
)
async def test_carriers_without_an_amazon_code_go_as_other(
    channel: AmazonChannel,
    fake: FakeSellingPartner,
    carrier: Carrier,
    name: str | None,
    sent: str,
) -> None:
    order = fake.generate_orders(1)[0]
    await channel.push_shipment(_shipment(order.order_id, carrier=carrier, carrier_name=name))
    shipped = fake.store.orders[order.order_id].shipments[0]
    assert shipped.carrier_code == "Other"
    assert channel.carrier_code(carrier) == "Other"
    names = fake.store.orders[order.order_id].extra["carrier_names"]
    assert list(names.values()) == [sent]


async def test_cancelled_orders_cannot_ship(
    channel: AmazonChannel, fake: FakeSellingPartner
) -> None:
    order = fake.generate_orders(1)[0]
    fake.cancel_order(order.order_id)
    with pytest.raises(InvalidRequestError) as caught:
        await channel.push_shipment(_shipment(order.order_id))
    assert caught.value.code == "InvalidInput"


async def test_unknown_order(channel: AmazonChannel) -> None:
    with pytest.raises(NotFoundError):
        await channel.push_shipment(_shipment("111-0000000-0000000"))


async def test_unknown_line(channel: AmazonChannel, fake: FakeSellingPartner) -> None:
    order = fake.generate_orders(1)[0]
    with pytest.raises(InvalidRequestError):
        await channel.push_shipment(
            _shipment(order.order_id, lines=[ShipmentLine(line_id="999", quantity=1)])
        )
