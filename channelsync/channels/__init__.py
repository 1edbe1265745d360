"""The ports a marketplace plugin implements: the Channel base and its capabilities."""

from __future__ import annotations

from channelsync.channels.base import Channel, ChannelSettings
from channelsync.channels.capabilities import (
    Capability,
    ChannelLimits,
    ListingScope,
    Operation,
    OrderWindow,
    RateLimit,
)
from channelsync.channels.detail_cache import DetailCache
from channelsync.channels.events import (
    ChannelEvent,
    EventConnection,
    EventKind,
    EventListener,
    EventsCapability,
    ListenerState,
    ListenerStatus,
    ReconnectingListener,
)
from channelsync.channels.interfaces import CAPABILITY_INTERFACES
from channelsync.channels.inventory import (
    InventoryCapability,
    PricingCapability,
    StockAndPriceCapability,
)
from channelsync.channels.listings import (
    ListingLookupCapability,
    ListingsCapability,
    ShownQuantityCapability,
)
from channelsync.channels.orders import OrderCountCapability, OrderPull, OrdersCapability
from channelsync.channels.paging import Page, next_page_number, paginate
from channelsync.channels.refunds import RefundPull, RefundsCapability
from channelsync.channels.shipments import ShipmentsCapability
from channelsync.channels.windows import (
    PullCursor,
    TimeWindow,
    WindowRead,
    collect_newest,
    plan_fresh_read,
    plan_window,
    read_next_window,
)

__all__ = [
    "CAPABILITY_INTERFACES",
    "Capability",
    "Channel",
    "ChannelEvent",
    "ChannelLimits",
    "ChannelSettings",
    "DetailCache",
    "EventConnection",
    "EventKind",
    "EventListener",
    "EventsCapability",
    "InventoryCapability",
    "ListenerState",
    "ListenerStatus",
    "ListingLookupCapability",
    "ListingScope",
    "ListingsCapability",
    "Operation",
    "OrderCountCapability",
    "OrderPull",
    "OrderWindow",
    "OrdersCapability",
    "Page",
    "PricingCapability",
    "PullCursor",
    "RateLimit",
    "ReconnectingListener",
    "RefundPull",
    "RefundsCapability",
    "ShipmentsCapability",
    "ShownQuantityCapability",
    "StockAndPriceCapability",
    "TimeWindow",
    "WindowRead",
    "collect_newest",
    "next_page_number",
    "paginate",
    "plan_fresh_read",
    "plan_window",
    "read_next_window",
]
