"""Which interface stands for which capability."""

from __future__ import annotations

from collections.abc import Mapping

from channelsync.channels.capabilities import Capability
from channelsync.channels.events import EventsCapability
from channelsync.channels.inventory import InventoryCapability, PricingCapability
from channelsync.channels.listings import ListingsCapability
from channelsync.channels.orders import OrdersCapability
from channelsync.channels.refunds import RefundsCapability
from channelsync.channels.shipments import ShipmentsCapability

__all__ = ["CAPABILITY_INTERFACES"]

CAPABILITY_INTERFACES: Mapping[Capability, type] = {
    Capability.LISTINGS: ListingsCapability,
    Capability.INVENTORY: InventoryCapability,
    Capability.PRICING: PricingCapability,
    Capability.ORDERS: OrdersCapability,
    Capability.SHIPMENTS: ShipmentsCapability,
    Capability.REFUNDS: RefundsCapability,
    Capability.EVENTS: EventsCapability,
}
