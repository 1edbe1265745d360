"""Carriers, shipments sent to a marketplace, and what the marketplace answered.

:class:`Carrier` is the canonical carrier list; each channel maps it to its own
logistics company codes. :meth:`Carrier.parse` reads the names people and
marketplaces actually write ("顺丰", "J&T", "sf express").
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Any, Self

from pydantic import AwareDatetime, field_validator, model_validator

from channelsync.errors import ModelError
from channelsync.models._base import DomainModel, Identifier, NonEmptyStr

__all__ = ["Carrier", "Shipment", "ShipmentLine", "ShipmentResult"]


class Carrier(StrEnum):
    """A canonical parcel carrier; values are lower-case codes."""

    SF = "sf"
    YTO = "yto"
    ZTO = "zto"
    STO = "sto"
    YUNDA = "yunda"
    JD = "jd"
    EMS = "ems"
    DEPPON = "deppon"
    JT = "jt"
    BEST = "best"
    ZJS = "zjs"
    CAINIAO = "cainiao"
    UPS = "ups"
    USPS = "usps"
    FEDEX = "fedex"
    DHL = "dhl"
    OTHER = "other"

    @property
    def display_name(self) -> str:
        """The carrier's usual English name, e.g. ``"SF Express"``."""
        return _DISPLAY_NAMES[self]

    @classmethod
    def parse(cls, text: str) -> Carrier:
        """Read a carrier from its code or a common name, in any case.

        Accepts the code (``"SF"``, ``"jt"``), English names (``"SF Express"``,
        ``"J&T"``) and Chinese names (``"顺丰"``, ``"中通快递"``). Raises
        :class:`~channelsync.errors.ModelError` listing the valid codes otherwise.
        """
        key = _alias_key(text) if isinstance(text, str) else ""
        carrier = _ALIASES.get(key)
        if carrier is None:
            valid = ", ".join(member.value for member in cls)
            raise ModelError(f"unknown carrier {text!r}; valid codes are: {valid}")
        return carrier


_DISPLAY_NAMES: dict[Carrier, str] = {
    Carrier.SF: "SF Express",
    Carrier.YTO: "YTO Express",
    Carrier.ZTO: "ZTO Express",
    Carrier.STO: "STO Express",
    Carrier.YUNDA: "Yunda Express",
    Carrier.JD: "JD Logistics",
    Carrier.EMS: "China Post EMS",
    Carrier.DEPPON: "Deppon Express",
    Carrier.JT: "J&T Express",
    Carrier.BEST: "BEST Express",
    Carrier.ZJS: "ZJS Express",
    Carrier.CAINIAO: "Cainiao",
    Carrier.UPS: "UPS",
    Carrier.USPS: "USPS",
    Carrier.FEDEX: "FedEx",
    Carrier.DHL: "DHL",
    Carrier.OTHER: "Other carrier",
}

_SEPARATORS = str.maketrans("", "", " \t-_.·")


def _alias_key(text: str) -> str:
    """Normalise a carrier name for lookup: width, case and separators ignored."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_SEPARATORS)


_ALIAS_NAMES: dict[Carrier, tuple[str, ...]] = {
    Carrier.SF: ("sf express", "shunfeng", "顺丰", "顺丰速运", "顺丰快递", "顺丰速递"),
    Carrier.YTO: ("yto express", "yuantong", "圆通", "圆通速递", "圆通快递"),
    Carrier.ZTO: ("zto express", "zhongtong", "中通", "中通快递", "中通速递"),
    Carrier.STO: ("sto express", "shentong", "申通", "申通快递", "申通速递"),
    Carrier.YUNDA: ("yunda express", "yd", "韵达", "韵达快递", "韵达速递"),
    Carrier.JD: ("jdl", "jd logistics", "jd express", "jingdong", "京东", "京东物流", "京东快递"),
    Carrier.EMS: (
        "china post",
        "china post ems",
        "chinapost",
        "邮政",
        "中国邮政",
        "邮政快递包裹",
        "邮政ems",
        "ems快递",
        "邮政包裹",
    ),
    Carrier.DEPPON: ("deppon express", "debang", "德邦", "德邦快递", "德邦物流"),
    Carrier.JT: ("j&t", "j&t express", "jtexpress", "jt express", "jitu", "极兔", "极兔速递"),
    Carrier.BEST: ("best express", "bestexpress", "htky", "百世", "百世快递", "百世汇通"),
    Carrier.ZJS: ("zjs express", "zhaijisong", "宅急送"),
    Carrier.CAINIAO: ("菜鸟", "菜鸟裹裹", "菜鸟速递"),
    Carrier.UPS: ("united parcel service",),
    Carrier.USPS: ("us postal service", "united states postal service"),
    Carrier.FEDEX: ("fed ex", "federal express", "联邦快递"),
    Carrier.DHL: ("dhl express", "敦豪"),
    Carrier.OTHER: ("其他", "其它"),
}

_ALIASES: dict[str, Carrier] = {_alias_key(member.value): member for member in Carrier}
for _carrier, _names in _ALIAS_NAMES.items():
    for _name in (*_names, _DISPLAY_NAMES[_carrier]):
        _ALIASES.setdefault(_alias_key(_name), _carrier)


class ShipmentLine(DomainModel):
    """Part of an order line sent in a partial shipment."""

    line_id: Identifier | None = None
    item_id: Identifier | None = None
    sku_id: Identifier | None = None
    merchant_code: Identifier | None = None
    quantity: int

    @field_validator("quantity")
    @classmethod
    def _check_quantity(cls, value: int) -> int:
        if value <= 0:
            raise ModelError(f"quantity {value} must be greater than 0")
        return value


class Shipment(DomainModel):
    """A shipment to confirm on a marketplace: carrier, tracking number, which lines.

    Empty ``lines`` ship the whole order.
    """

    channel: Identifier
    order_id: Identifier
    lines: tuple[ShipmentLine, ...] = ()
    carrier: Carrier
    carrier_name: NonEmptyStr | None = None
    tracking_number: str
    shipped_at: AwareDatetime

    @field_validator("carrier", mode="before")
    @classmethod
    def _parse_carrier(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Carrier):
            return Carrier.parse(value)
        return value

    @field_validator("tracking_number")
    @classmethod
    def _check_tracking_number(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ModelError(f"tracking number {value!r} is empty")
        if any(char.isspace() or not char.isprintable() for char in stripped):
            raise ModelError(f"tracking number {value!r} contains whitespace or control characters")
        return stripped

    @model_validator(mode="after")
    def _check_carrier_name(self) -> Self:
        if self.carrier is Carrier.OTHER and self.carrier_name is None:
            raise ModelError("carrier_name is required when carrier is 'other'")
        return self

    @property
    def partial(self) -> bool:
        """Whether only some lines of the order are shipped."""
        return bool(self.lines)


class ShipmentResult(DomainModel):
    """A marketplace's answer to a shipment confirmation."""

    order_id: Identifier
    already_shipped: bool = False
    marketplace_ref: str | None = None
