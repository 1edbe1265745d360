"""The numbers a PDD channel is driven within, as data.

Rate limits are PDD's per-method limits (May 2023 metadata snapshot): where PDD
gives a merchant or app level, the tightest of those is used; otherwise the
method's total across all callers is the ceiling. Keys are the gateway ``type``,
which is the transport's operation key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from channelsync.channels import (
    Capability,
    ChannelLimits,
    ListingScope,
    Operation,
    OrderWindow,
    RateLimit,
)
from channelsync_pinduoduo.carriers import CARRIER_CODES

__all__ = [
    "CAPABILITY_NOTES",
    "HEADROOM",
    "MAX_PAGE_SIZE",
    "ORDER_WINDOW",
    "PDD_LIMITS",
    "PUBLISHED_RATE_LIMITS",
    "RATE_LIMITS",
    "REFUND_QUERY_STATUSES",
    "STOCK_SKUS_PER_CALL",
]


#: ``after_sales_status`` values pulled one by one: PDD's refund increment requires one
#: status and lists no "all" value (the reference and PDD's metadata agree).
REFUND_QUERY_STATUSES: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 27, 31)

#: ``page_size`` ceiling of the list and increment methods.
MAX_PAGE_SIZE = 100

#: Share of each published limit the channel paces itself to.
HEADROOM = 0.9

#: ``pdd.goods.quantity.update`` takes exactly one SKU.
STOCK_SKUS_PER_CALL = 1

#: Published limits as ``(calls, seconds)`` per level: merchant, API total, app.
PUBLISHED_RATE_LIMITS: Mapping[
    str, tuple[tuple[int, int] | None, tuple[int, int] | None, tuple[int, int] | None]
] = {
    "pdd.order.number.list.increment.get": ((3000, 60), None, None),
    "pdd.order.information.get": ((30000, 60), (2000, 1), None),
    "pdd.goods.list.get": ((600, 60), None, None),
    "pdd.goods.information.get": ((3000, 60), None, None),
    "pdd.goods.detail.get": ((3000, 60), (3000, 1), None),
    "pdd.goods.skus.get": (None, (1000, 1), None),
    "pdd.goods.quantity.update": (None, (4200, 1), None),
    "pdd.goods.sku.price.update": (None, (4000, 10), (1200, 10)),
    "pdd.goods.sale.status.set": (None, (13200, 10), None),
    "pdd.logistics.online.send": (None, (5000, 1), None),
    "pdd.logistics.companies.get": (None, (1200, 10), None),
    "pdd.refund.list.increment.get": ((100, 10), (5500, 1), (500, 1)),
    "pdd.open.decrypt.batch": (None, (19500, 10), (1, 10)),
}


def _bucket(levels: tuple[tuple[int, int] | None, ...]) -> RateLimit:
    merchant, total, app = levels
    own = [level for level in (merchant, app) if level is not None]
    calls, seconds = min(own or [total or (1, 1)], key=lambda level: level[0] / level[1])
    # PDD counts in its own windows on its own clock: pacing exactly at the ceiling trips it.
    rate = calls / seconds * HEADROOM
    return RateLimit(rate=rate, burst=max(1, min(10, int(rate))))


RATE_LIMITS: Mapping[str, RateLimit] = {
    method: _bucket(levels) for method, levels in PUBLISHED_RATE_LIMITS.items()
}

#: 30-minute increments, paged last page first; ends well behind PDD's clock.
ORDER_WINDOW = OrderWindow(
    max_span=timedelta(minutes=30),
    lag=timedelta(minutes=5),
    overlap=timedelta(minutes=5),
    paging="backward",
    # PDD refuses a window ending less than 3 minutes before its clock; the lag's two
    # further minutes are for completeness. Fresh reads go to 3 minutes and 15 seconds
    # (the seconds for clock skew and rounding to whole seconds).
    fresh_lag=timedelta(minutes=3, seconds=15),
)

PDD_LIMITS = ChannelLimits(
    # Shipping twice may record two shipments: never resent, settled by reading the order.
    unsafe_writes=frozenset({"pdd.logistics.online.send"}),
    batch_sizes={
        Operation.LIST_LISTINGS: MAX_PAGE_SIZE,
        Operation.SET_LISTING_STATUS: 1,
        Operation.SET_STOCK: STOCK_SKUS_PER_CALL,
        Operation.SET_PRICE: 50,
        Operation.PULL_ORDERS: MAX_PAGE_SIZE,
        Operation.GET_ORDER: 1,
        Operation.PUSH_SHIPMENT: 1,
        Operation.PULL_REFUNDS: MAX_PAGE_SIZE,
    },
    rate_limits=RATE_LIMITS,
    default_rate_limit=RateLimit(rate=5.0, burst=5),
    order_window=ORDER_WINDOW,
    carrier_codes=CARRIER_CODES,
    listing_scope=ListingScope.ITEM,
    stock_delta=True,
)

#: What each capability covers, and what it leaves out.
CAPABILITY_NOTES: Mapping[Capability, str] = {
    Capability.LISTINGS: (
        "goods and SKUs with merchant codes from pdd.goods.list.get, group prices read "
        "one goods per call (pdd.goods.information.get), or one chosen SKU per call "
        "(pdd.goods.skus.get); "
        "list/delist acts on the whole goods. Creating and editing goods is out of scope."
    ),
    Capability.INVENTORY: (
        "absolute and incremental stock, one SKU per call (pdd.goods.quantity.update)."
    ),
    Capability.PRICING: (
        "sets the group (拼单) price in whole fen; the single-buy price keeps its current "
        "gap above it. Market price and 2-piece discounts are out of scope."
    ),
    Capability.ORDERS: (
        "30-minute update-time windows ending 5 minutes behind PDD's clock, pages of 100 "
        "read last page first; receiver data kept masked, never decrypted; risk-controlled "
        "and unconfirmed orders are on hold."
    ),
    Capability.SHIPMENTS: (
        "online shipment of whole orders with a PDD logistics company and tracking number; "
        "split shipments and shipment edits are out of scope."
    ),
    Capability.REFUNDS: (
        "after-sales cases by update time, one query per refund-related status (PDD has "
        "no 'all' status); exchange, resend and repair cases are out of scope."
    ),
    Capability.EVENTS: (
        "PMC push over a signed WebSocket (events_url, client_id and client_secret): "
        "pdd_trade_* topics as order events, pdd_refund_* as refund events; the shop opts "
        "in with pdd.pmc.user.permit. A hint only: polling stays on as the safety net."
    ),
}
