"""Shipments on JOS: the shop's carrier list and ``pop.order.shipment`` for whole orders.

When JD refuses a shipment, the order is read back: if it has already shipped, the
shipment is reported as already shipped, never as an error to retry.
"""

from __future__ import annotations

from typing import Any

from channelsync.channels import ShipmentsCapability
from channelsync.errors import ChannelError, DataError, InvalidRequestError
from channelsync.models import Carrier, Shipment, ShipmentResult
from channelsync_jd.envelope import api_result_error
from channelsync_jd.mapping import (
    SELF_DELIVERY_CODE,
    JdCarrier,
    carrier_from_record,
    is_self_delivery,
)
from channelsync_jd.methods import LIST_CARRIERS, SHIP_ORDER, SHIPPED, numeric
from channelsync_jd.orders import JosOrders
from channelsync_jd.signing import ParamValue

__all__ = ["JosShipments"]


class JosShipments(JosOrders, ShipmentsCapability):
    """Confirms whole-order shipments with a carrier id from the shop's carrier list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._carriers: tuple[JdCarrier, ...] | None = None

    async def list_carriers(self, *, refresh: bool = False) -> tuple[JdCarrier, ...]:
        """Return the carriers the shop can ship with (cached for the channel's life)."""
        if self._carriers is not None and not refresh:
            return self._carriers
        root = await self.call(LIST_CARRIERS, {"fields": "id,name,description"})
        rows = root.get("delivery_companies")
        if rows is None:
            rows = next((v for v in root.values() if isinstance(v, list)), [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise DataError("the carrier list is not a list of records", operation=LIST_CARRIERS)
        self._carriers = tuple(carrier_from_record(row) for row in rows)
        return self._carriers

    async def _carrier_for(self, shipment: Shipment) -> tuple[str, bool]:
        """Return JD's carrier id for ``shipment`` and whether it is self-delivery."""
        if shipment.carrier is Carrier.OTHER and is_self_delivery(shipment.carrier_name):
            return SELF_DELIVERY_CODE, True
        for known in await self.list_carriers():
            if shipment.carrier is Carrier.OTHER:
                if known.name == shipment.carrier_name:
                    return known.code, known.self_delivery
            elif known.carrier is shipment.carrier:
                return known.code, False
        return self.carrier_code(shipment.carrier), False

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Confirm the outbound shipment of a whole order with carrier id and tracking number."""
        if shipment.partial:
            raise InvalidRequestError(
                "JD ships whole orders; partial shipments are not supported",
                channel=self.name,
                operation=SHIP_ORDER,
            )
        order_id = numeric(shipment.order_id, "order id")
        code, self_delivery = await self._carrier_for(shipment)
        params: dict[str, ParamValue] = {"orderId": order_id, "logiCoprId": code}
        if not self_delivery:
            # Self-delivery keeps no tracking number on JD, so none is sent.
            params["logiNo"] = shipment.tracking_number
        root = await self.call(SHIP_ORDER, params)
        result = root.get("sopjosshipment_result")
        if not isinstance(result, dict):
            raise DataError("the answer has no sopjosshipment_result", operation=SHIP_ORDER)
        error = api_result_error(result, SHIP_ORDER)
        if error is None:
            return ShipmentResult(order_id=shipment.order_id)
        # JD's wording for "already shipped" is not published: the order's state decides.
        try:
            order = await self.get_order(shipment.order_id)
        except ChannelError:
            raise error from None
        if order.status in SHIPPED:
            return ShipmentResult(order_id=shipment.order_id, already_shipped=True)
        raise error
