"""The ``jd`` channel: JD POP shops through the JOS ``routerjson`` gateway, limits as data.

The calls live in the capability mixins: :mod:`~channelsync_jd.gateway` (signing and
the call), :mod:`~channelsync_jd.listings`, :mod:`~channelsync_jd.inventory`,
:mod:`~channelsync_jd.orders` and :mod:`~channelsync_jd.shipments`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar

from channelsync.channels import (
    Capability,
    ChannelLimits,
    ListingScope,
    Operation,
    OrderWindow,
    RateLimit,
)
from channelsync.models import Carrier
from channelsync_jd.gateway import JdSettings
from channelsync_jd.inventory import JosInventory
from channelsync_jd.methods import METHODS, SHIP_ORDER
from channelsync_jd.shipments import JosShipments

__all__ = ["JdChannel", "JdSettings"]


class JdChannel(JosInventory, JosShipments):
    """JD POP shops through the JD Open Platform (JOS) routerjson gateway."""

    type_name: ClassVar[str] = "jd"
    demo_module: ClassVar[str | None] = "channelsync_jd.fake"
    display_name: ClassVar[str] = "JD (JOS)"
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        # Shipping twice may record two shipments: never resent, settled by reading the order.
        unsafe_writes=frozenset({SHIP_ORDER}),
        batch_sizes={
            # Page sizes: searchWare4Valid is reported to cap at 50; order search at 100.
            Operation.LIST_LISTINGS: 50,
            Operation.PULL_ORDERS: 100,
            # JD has no batch write: one ware, one SKU price, one SKU stock per call.
            Operation.SET_LISTING_STATUS: 1,
            Operation.SET_PRICE: 1,
            Operation.SET_STOCK: 1,
            Operation.PUSH_SHIPMENT: 1,
        },
        # JD publishes daily quotas, not per-method QPS: a conservative pace for every method.
        rate_limits={method: RateLimit(rate=5.0, burst=5) for method in METHODS},
        default_rate_limit=RateLimit(rate=5.0, burst=5),
        order_window=OrderWindow(
            # "At most one month apart": 28 days fits every calendar month.
            max_span=timedelta(days=28),
            default_span=timedelta(days=1),
            lag=timedelta(minutes=1),
            overlap=timedelta(minutes=5),
            paging="backward",
            # JOS sets no floor: fresh reads go up to the clock.
            fresh_lag=timedelta(0),
        ),
        # The ids every community map agrees on; all others come from the carrier list.
        carrier_codes={Carrier.SF: "467", Carrier.EMS: "465"},
        listing_scope=ListingScope.ITEM,
        stock_delta=False,
    )
    status_note: ClassVar[str] = (
        "refunds not implemented: the after-sales method parameters are not verified"
    )
    capability_notes: ClassVar[Mapping[Capability, str]] = {
        Capability.LISTINGS: (
            "reads every ware whatever its status and its SKUs (outerId = merchant code), "
            "or chosen SKUs by merchant code (searchSkuList outId); lists and delists whole "
            "wares (upOrDown). Creating or editing wares is out of scope."
        ),
        Capability.INVENTORY: "absolute stock, one SKU per call (updateSkuStock); no deltas",
        Capability.PRICING: "the SKU's JD price in yuan, one SKU per call (updateSkuJdPrice)",
        Capability.ORDERS: (
            "pop.order.search by modification time in windows of at most 28 days, "
            "100 orders a page; pop.order.get for one order. Consignee data arrives masked."
        ),
        Capability.SHIPMENTS: (
            "pop.order.shipment for the whole order with a carrier id from the shop's "
            "carrier list; carrier 'other' named 厂家自送 is self-delivery (id 1274, no "
            "tracking number sent). Partial shipments are out of scope."
        ),
    }
