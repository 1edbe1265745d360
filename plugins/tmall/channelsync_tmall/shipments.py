"""Shipments on TOP: offline send ("contact the carrier yourself") and the carrier list.

``taobao.logistics.offline.send`` ships a whole trade, or, with ``is_split=1``, the
sub-orders (``oid``) named in ``sub_tid``. When TOP refuses because of the trade's
state, the trade is read back: if its goods have already left, the shipment is
reported as already shipped (success), never as an error to retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channelsync.channels import ShipmentsCapability
from channelsync.errors import ConflictError, InvalidRequestError, TransientError
from channelsync.models import Shipment, ShipmentResult
from channelsync_tmall.envelope import nested_list
from channelsync_tmall.mapping import SHIPPED_STATUSES, text_field
from channelsync_tmall.orders import TopOrders

__all__ = ["CarrierCompany", "TopShipments"]

OFFLINE_SEND_METHOD = "taobao.logistics.offline.send"
COMPANIES_METHOD = "taobao.logistics.companies.get"


@dataclass(frozen=True, slots=True)
class CarrierCompany:
    """One entry of TOP's carrier list; ``tracking_pattern`` is the ``reg_mail_no`` regex."""

    code: str
    name: str
    tracking_pattern: str | None = None


class TopShipments(TopOrders, ShipmentsCapability):
    """Pushes carrier + tracking number for whole trades or some of their sub-orders."""

    async def carrier_companies(self) -> list[CarrierCompany]:
        """Return TOP's carrier list for offline shipments (codes, names, tracking regex)."""
        root = await self.call(
            COMPANIES_METHOD, {"fields": "id,code,name,reg_mail_no", "order_mode": "offline"}
        )
        companies = nested_list(
            root, "logistics_companies", "logistics_company", operation=COMPANIES_METHOD
        )
        return [
            CarrierCompany(
                code=text_field(company, "code", required=True) or "",
                name=text_field(company, "name") or "",
                tracking_pattern=text_field(company, "reg_mail_no"),
            )
            for company in companies
        ]

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Confirm ``shipment`` on TOP; an order already shipped is a success."""
        params: dict[str, str | int | None] = {
            "tid": shipment.order_id,
            "out_sid": shipment.tracking_number,
            "company_code": self.carrier_code(shipment.carrier),
        }
        sub_orders = self._sub_orders(shipment)
        if sub_orders:
            params.update(is_split=1, sub_tid=",".join(sub_orders))
        try:
            root = await self.call(OFFLINE_SEND_METHOD, params)
        except ConflictError:
            if await self._already_shipped(shipment.order_id, sub_orders):
                return ShipmentResult(order_id=shipment.order_id, already_shipped=True)
            raise
        shipping = root.get("shipping")
        success = shipping.get("is_success") if isinstance(shipping, dict) else None
        if success not in (True, "true"):
            raise TransientError(
                f"TOP did not confirm the shipment of trade {shipment.order_id}",
                channel=self.name,
                operation=OFFLINE_SEND_METHOD,
            )
        return ShipmentResult(order_id=shipment.order_id)

    def _sub_orders(self, shipment: Shipment) -> list[str]:
        if not shipment.partial:
            return []
        missing = [line for line in shipment.lines if line.line_id is None]
        if missing:
            raise InvalidRequestError(
                "a partial TOP shipment names its sub-orders: every line needs its line_id (oid)",
                channel=self.name,
                operation=OFFLINE_SEND_METHOD,
            )
        return list(dict.fromkeys(line.line_id for line in shipment.lines if line.line_id))

    async def _already_shipped(self, order_id: str, sub_orders: list[str]) -> bool:
        trade = await self.trade_record(order_id)
        if text_field(trade, "status") in SHIPPED_STATUSES:
            return True
        if not sub_orders:
            return False
        lines: dict[str, Any] = {
            text_field(line, "oid_str") or text_field(line, "oid") or "": line
            for line in nested_list(trade, "orders", "order", operation=OFFLINE_SEND_METHOD)
        }
        return all(
            oid in lines and text_field(lines[oid], "status") in SHIPPED_STATUSES
            for oid in sub_orders
        )
