"""PDD logistics companies: the carrier list and the canonical-carrier lookup.

A shipment names its carrier by ``logistics_id``, a number from
``pdd.logistics.companies.get``. Channel limits declare PDD's company *codes* per
canonical carrier; the id is looked up in the live list at shipment time, by code
first and then by the company's name, so an id is never hard-coded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from channelsync.errors import DataError, ModelError
from channelsync.models import Carrier
from channelsync_pinduoduo.mapping import optional_text

__all__ = ["CARRIER_CODES", "PddCarrier", "carrier_from_record", "find_carrier"]

#: PDD logistics company codes of the canonical carriers.
CARRIER_CODES: Mapping[Carrier, str] = {
    Carrier.SF: "SF",
    Carrier.YTO: "YTO",
    Carrier.ZTO: "ZTO",
    Carrier.STO: "STO",
    Carrier.YUNDA: "YUNDA",
    Carrier.JD: "JD",
    Carrier.EMS: "EMS",
    Carrier.DEPPON: "DEPPON",
    Carrier.JT: "JTSD",
    Carrier.BEST: "HT",
    Carrier.ZJS: "ZJS",
}


class PddCarrier(BaseModel):
    """One logistics company as PDD lists it, with the canonical carrier it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    logistics_id: int
    name: str
    code: str | None
    available: bool
    carrier: Carrier | None
    """The canonical carrier, when the code or name is one channelsync knows."""


def _canonical(code: str | None, name: str) -> Carrier | None:
    by_code = {value: carrier for carrier, value in CARRIER_CODES.items()}
    if code is not None and code in by_code:
        return by_code[code]
    try:
        return Carrier.parse(name)
    except ModelError:
        return None


def carrier_from_record(record: Mapping[str, Any]) -> PddCarrier:
    """Read one ``logistics_companies`` entry."""
    if not isinstance(record, Mapping) or record.get("id") is None:
        raise DataError("a logistics company entry has no id")
    try:
        logistics_id = int(str(record["id"]))
    except ValueError:
        raise DataError(f"logistics company id {record['id']!r} is not a number") from None
    name = str(record.get("logistics_company") or "").strip()
    code = optional_text(record.get("code"))
    available = str(record.get("available", 1)).strip() not in ("0", "false", "False")
    return PddCarrier(
        logistics_id=logistics_id,
        name=name,
        code=code,
        available=available,
        carrier=_canonical(code, name),
    )


def find_carrier(
    carriers: Iterable[PddCarrier], carrier: Carrier, *, code: str | None, name: str | None
) -> PddCarrier | None:
    """Return the available company for ``carrier``: by PDD code, then by name.

    ``name`` is the shipment's own carrier name, used for :attr:`Carrier.OTHER`.
    """
    usable = [c for c in carriers if c.available]
    if code is not None:
        for candidate in usable:
            if candidate.code == code:
                return candidate
    if name is not None:
        for candidate in usable:
            if candidate.name == name.strip():
                return candidate
    if carrier is not Carrier.OTHER:
        for candidate in usable:
            if candidate.carrier is carrier:
                return candidate
    return None
