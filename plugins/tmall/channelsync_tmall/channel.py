"""The ``tmall`` channel: Tmall and Taobao shops through the TOP gateway, limits as data."""

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
from channelsync_tmall.events import TopEvents
from channelsync_tmall.gateway import TmallSettings
from channelsync_tmall.inventory import TopInventory
from channelsync_tmall.mapping import CARRIER_CODES
from channelsync_tmall.shipments import OFFLINE_SEND_METHOD, TopShipments

__all__ = ["TMALL_LIMITS", "TmallChannel", "TmallSettings"]

_READ = RateLimit(rate=10.0, burst=10)
_WRITE = RateLimit(rate=5.0, burst=5)

#: TOP publishes no per-method rate; these keep one shop well inside the app quota.
TMALL_LIMITS = ChannelLimits(
    # Shipping twice may record two shipments: never resent, settled by reading the trade.
    unsafe_writes=frozenset({OFFLINE_SEND_METHOD}),
    batch_sizes={
        Operation.LIST_LISTINGS: 200,
        Operation.SET_LISTING_STATUS: 1,
        Operation.SET_STOCK: 20,
        Operation.SET_PRICE: 40,
        Operation.PULL_ORDERS: 50,
        Operation.PULL_REFUNDS: 100,
    },
    rate_limits={
        "taobao.items.onsale.get": _READ,
        "taobao.items.inventory.get": _READ,
        "taobao.item.skus.get": _READ,
        "taobao.item.seller.get": _READ,
        "taobao.trades.sold.increment.get": _READ,
        "taobao.trades.sold.get": _READ,
        "taobao.trade.fullinfo.get": RateLimit(rate=20.0, burst=20),
        "taobao.refunds.receive.get": _READ,
        "taobao.refund.get": _READ,
        "taobao.logistics.companies.get": _READ,
        "taobao.item.update.listing": _WRITE,
        "taobao.item.update.delisting": _WRITE,
        "taobao.skus.quantity.update": _WRITE,
        "taobao.item.quantity.update": _WRITE,
        "taobao.item.sku.price.update": _WRITE,
        "taobao.logistics.offline.send": _WRITE,
        "taobao.top.auth.token.refresh": RateLimit(rate=1.0, burst=1),
    },
    default_rate_limit=RateLimit(rate=5.0, burst=5),
    order_window=OrderWindow(
        max_span=timedelta(days=1),
        default_span=timedelta(minutes=30),
        lag=timedelta(minutes=2),
        overlap=timedelta(minutes=5),
        paging="backward",
        # TOP sets no floor: fresh reads go up to its clock (the lag is advice).
        fresh_lag=timedelta(0),
    ),
    carrier_codes=CARRIER_CODES,
    listing_scope=ListingScope.ITEM,
    stock_delta=True,
)


class TmallChannel(TopInventory, TopShipments, TopEvents):
    """Tmall and Taobao shops through the Taobao Open Platform (TOP) gateway."""

    type_name: ClassVar[str] = "tmall"
    demo_module: ClassVar[str | None] = "channelsync_tmall.fake"
    display_name: ClassVar[str] = "Tmall / Taobao (TOP)"
    limits: ClassVar[ChannelLimits] = TMALL_LIMITS
    status_note: ClassVar[str] = "creating and editing items is out of scope"
    capability_notes: ClassVar[Mapping[Capability, str]] = {
        Capability.LISTINGS: (
            "reads on-sale, shelved-off and sold-out items with their SKUs and merchant "
            "codes; lists and delists whole items. Creating or editing items "
            "(taobao.item.add/update, tmall.item.schema.*) is out of scope."
        ),
        Capability.INVENTORY: (
            "absolute and incremental SKU stock, 20 SKUs of one item per call "
            "(taobao.skus.quantity.update); item-level stock for items without SKUs."
        ),
        Capability.PRICING: (
            "SKU prices (taobao.item.sku.price.update), moving the item price to the lowest "
            "SKU price; prices of items without SKUs are out of scope."
        ),
        Capability.ORDERS: (
            "incremental pull by modified time (30-minute windows, 1 day at most), pages "
            "read last to first, each trade read in full (taobao.trade.fullinfo.get); "
            "receiver data stays masked as TOP gives it."
        ),
        Capability.SHIPMENTS: (
            "offline shipment (taobao.logistics.offline.send) of a whole trade or of "
            "chosen sub-orders; a trade already shipped counts as success."
        ),
        Capability.REFUNDS: "refunds pulled by modified time (taobao.refunds.receive.get).",
        Capability.EVENTS: (
            "Taobao's message service (TMC) over WebSocket (events_url, group_name): trade, "
            "refund and item topics as order, refund and listing events; the shop is opted in "
            "with taobao.tmc.user.permit. A hint beside polling, which stays on."
        ),
    }
