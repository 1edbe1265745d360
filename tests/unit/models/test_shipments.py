from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from channelsync.errors import ModelError
from channelsync.models import Carrier, Shipment, ShipmentLine, ShipmentResult

SHIPPED = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)


def _shipment(**overrides: Any) -> Shipment:
    fields: dict[str, Any] = {
        "channel": "pdd",
        "order_id": "240502-1",
        "carrier": Carrier.SF,
        "tracking_number": "SF1234567890",
        "shipped_at": SHIPPED,
    }
    fields.update(overrides)
    return Shipment.model_validate(fields)


@pytest.mark.parametrize(
    ("text", "carrier"),
    [
        ("sf", Carrier.SF),
        ("SF", Carrier.SF),
        ("SF Express", Carrier.SF),
        ("顺丰", Carrier.SF),
        ("顺丰速运", Carrier.SF),
        ("\uff33\uff26", Carrier.SF),
        ("中通", Carrier.ZTO),
        ("圆通", Carrier.YTO),
        ("申通", Carrier.STO),
        ("韵达", Carrier.YUNDA),
        ("京东", Carrier.JD),
        ("JD Logistics", Carrier.JD),
        ("邮政", Carrier.EMS),
        ("ems", Carrier.EMS),
        ("德邦", Carrier.DEPPON),
        ("j&t", Carrier.JT),
        ("J&T Express", Carrier.JT),
        ("jtexpress", Carrier.JT),
        ("极兔", Carrier.JT),
        ("FedEx", Carrier.FEDEX),
        ("dhl", Carrier.DHL),
        (" ups ", Carrier.UPS),
    ],
)
def test_carrier_parse_aliases(text: str, carrier: Carrier) -> None:
    assert Carrier.parse(text) is carrier


def test_carrier_parse_bad_value_lists_valid_codes() -> None:
    with pytest.raises(ModelError, match=r"unknown carrier 'pigeon'; valid codes are: sf, yto"):
        Carrier.parse("pigeon")


def test_carrier_display_names() -> None:
    assert Carrier.SF.display_name == "SF Express"
    assert Carrier.JT.display_name == "J&T Express"
    assert Carrier.JD.display_name == "JD Logistics"
    assert all(carrier.display_name for carrier in Carrier)


def test_shipment_accepts_carrier_alias() -> None:
    assert _shipment(carrier="顺丰").carrier is Carrier.SF
    with pytest.raises(ValidationError, match="unknown carrier 'pigeon'"):
        _shipment(carrier="pigeon")


def test_tracking_number_is_stripped() -> None:
    assert _shipment(tracking_number="  SF1234567890\n").tracking_number == "SF1234567890"


@pytest.mark.parametrize("number", ["", "   ", "SF 123", "SF\t123"])
def test_bad_tracking_number_names_the_value(number: str) -> None:
    with pytest.raises(ValidationError, match=r"tracking_number\n.*tracking number"):
        _shipment(tracking_number=number)


def test_tracking_number_error_shows_value() -> None:
    with pytest.raises(ValidationError, match="tracking number 'SF 123' contains whitespace"):
        _shipment(tracking_number="SF 123")


def test_other_carrier_needs_a_name() -> None:
    with pytest.raises(ValidationError, match="carrier_name is required"):
        _shipment(carrier=Carrier.OTHER)
    assert _shipment(carrier="other", carrier_name="Local Courier").carrier_name == "Local Courier"


def test_naive_shipped_at_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"shipped_at\n.*timezone"):
        _shipment(shipped_at=datetime(2024, 5, 2, 9, 30))  # noqa: DTZ001


def test_partial() -> None:
    assert not _shipment().partial
    partial = _shipment(lines=(ShipmentLine(line_id="L1", quantity=1),))
    assert partial.partial
    with pytest.raises(ValidationError, match="quantity 0 must be greater than 0"):
        ShipmentLine(line_id="L1", quantity=0)


def test_shipment_result() -> None:
    result = ShipmentResult(order_id="240502-1", already_shipped=True)
    assert result.already_shipped
    assert result.marketplace_ref is None
