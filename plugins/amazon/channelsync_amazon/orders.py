"""Orders and shipments: the channel's order pull, one order, and ``confirmShipment``.

Orders are read through the ``OrdersWire`` of the configured Orders API version
(:mod:`~channelsync_amazon.orders_v2026`, or :mod:`~channelsync_amazon.orders_v0` with
``orders_api = "v0"``); the shipment confirmation body is built by
:mod:`~channelsync_amazon.shipments`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from functools import cached_property

from channelsync.channels import (
    DetailCache,
    Operation,
    OrdersCapability,
    ShipmentsCapability,
    TimeWindow,
)
from channelsync.models import Order, Shipment, ShipmentResult
from channelsync_amazon import orders_v0, orders_v2026
from channelsync_amazon.gateway import SpApiGateway
from channelsync_amazon.shipments import confirm_shipment_body, package_reference, shipment_items

__all__ = ["ORDER_SEARCHES", "SpApiOrders"]

#: The orders search of each Orders API version: the call whose quota paces order pulls.
ORDER_SEARCHES = {"2026-01-01": orders_v2026.SEARCH_ORDERS, "v0": "getOrders"}


class SpApiOrders(SpApiGateway, OrdersCapability, ShipmentsCapability):
    """Pulls orders by last update, reads one order, confirms MFN shipments."""

    @cached_property
    def _order_details(self) -> DetailCache[Order]:
        return DetailCache()

    def _orders(self) -> orders_v0.OrdersWire | orders_v2026.OrdersWire:
        if self.settings.orders_api == "2026-01-01":
            return orders_v2026.OrdersWire(
                self.http,
                channel=self.name,
                marketplace_ids=self.settings.marketplace_ids,
                fulfillment=self.settings.fulfillment,
                page_size=self.limits.batch_size(Operation.PULL_ORDERS),
            )
        return orders_v0.OrdersWire(
            self.http,
            channel=self.name,
            marketplace_ids=self.settings.marketplace_ids,
            fulfillment=self.settings.fulfillment,
            details=self._order_details,
            page_size=self.limits.batch_size(Operation.PULL_ORDERS),
        )

    # -- orders ---------------------------------------------------------------------

    async def marketplace_now(self) -> datetime:
        """Return the time a window is planned against, once the orders search may be called.

        ``searchOrders`` allows about one call every three minutes after its burst
        (v0 ``getOrders`` one a minute). A window planned and then held for that call
        would end up that much further from the clock than the lag asks: the pull waits
        for the call's turn first, then plans.
        """
        bucket = self.http.rate_limiter.bucket(self.name, ORDER_SEARCHES[self.settings.orders_api])
        missing = 1.0 - bucket.tokens
        if missing > 0:
            await self.clock.sleep(missing / bucket.rate)
        return self.clock.now()

    def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order of the channel's fulfilment channel updated inside ``window``."""
        return self._orders().search(window)

    async def get_order(self, order_id: str) -> Order:
        """Return one order with its lines."""
        return await self._orders().get(order_id)

    # -- shipments ------------------------------------------------------------------

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Confirm a merchant-fulfilled shipment; Amazon answers 204 on success."""
        carrier_code = self.carrier_code(shipment.carrier)
        wire = self._orders()
        items = await wire.shippable_items(shipment.order_id)
        if (
            not shipment.lines
            and items
            and all(i.quantity_shipped >= i.quantity_ordered for i in items)
        ):
            # Everything left already: confirming again would edit a package, not ship one.
            return ShipmentResult(
                order_id=shipment.order_id,
                already_shipped=True,
                marketplace_ref=package_reference(shipment.tracking_number),
            )
        body = confirm_shipment_body(
            shipment,
            await wire.marketplace_of(shipment.order_id),
            carrier_code,
            shipment_items(shipment, items),
        )
        await self.http.request(
            "POST",
            f"/orders/v0/orders/{shipment.order_id}/shipmentConfirmation",
            operation="confirmShipment",
            json=body,
        )
        return ShipmentResult(
            order_id=shipment.order_id,
            marketplace_ref=package_reference(shipment.tracking_number),
        )
