"""The numbers an ``amazon`` channel is driven within, as data.

Rate limits are SP-API's default usage plans (rate per second, burst) per operation;
a seller's real plan can be higher or lower and arrives in ``x-amzn-RateLimit-Limit``,
which the transport follows at run time, down or up. :class:`AmazonLimits` adds the
threshold at which a batch of price or quantity changes goes through a
``JSON_LISTINGS_FEED`` instead of one PATCH per SKU.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import PositiveInt

from channelsync.channels import ChannelLimits, ListingScope, Operation, OrderWindow, RateLimit
from channelsync_amazon.auth import LWA_OPERATION
from channelsync_amazon.feeds import FEED_QUOTA_KEY, MAX_FEED_MESSAGES
from channelsync_amazon.listings import LISTINGS_PAGE_SIZE
from channelsync_amazon.orders_v0 import MAX_RESULTS_PER_PAGE
from channelsync_amazon.shipments import CARRIER_CODES

__all__ = ["AMAZON_LIMITS", "RATE_LIMITS", "AmazonLimits"]

#: SP-API default usage plans (reference §5), keyed by operation id.
RATE_LIMITS: dict[str, RateLimit] = {
    "getOrders": RateLimit(rate=0.0167, burst=20),
    "getOrder": RateLimit(rate=0.5, burst=30),
    "getOrderItems": RateLimit(rate=0.5, burst=30),
    # Orders API v2026-01-01 (its getOrder has v0's plan and replaces it).
    "searchOrders": RateLimit(rate=0.0056, burst=20),
    "confirmShipment": RateLimit(rate=2.0, burst=10),
    "getListingsItem": RateLimit(rate=5.0, burst=10),
    "patchListingsItem": RateLimit(rate=5.0, burst=5),
    "deleteListingsItem": RateLimit(rate=5.0, burst=5),
    "searchListingsItems": RateLimit(rate=5.0, burst=5),
    "createFeedDocument": RateLimit(rate=0.5, burst=15),
    "createFeed": RateLimit(rate=0.0083, burst=15),
    "getFeed": RateLimit(rate=2.0, burst=15),
    "getFeedDocument": RateLimit(rate=0.0222, burst=10),
    "getInventorySummaries": RateLimit(rate=2.0, burst=2),
    # Notifications API v1: every operation 1 per second, burst 5.
    **dict.fromkeys(
        (
            "createDestination",
            "getDestinations",
            "getDestination",
            "deleteDestination",
            "createSubscription",
            "getSubscription",
            "getSubscriptionById",
            "deleteSubscriptionById",
        ),
        RateLimit(rate=1.0, burst=5),
    ),
    # Five JSON_LISTINGS_FEED submissions per five minutes per region, besides createFeed's plan.
    FEED_QUOTA_KEY: RateLimit(rate=5 / 300, burst=5),
    # Amazon states no plan for these; they are paced gently all the same.
    LWA_OPERATION: RateLimit(rate=1.0, burst=5),
    "uploadFeedDocument": RateLimit(rate=5.0, burst=5),
    "downloadFeedDocument": RateLimit(rate=5.0, burst=5),
}


class AmazonLimits(ChannelLimits):
    """:class:`ChannelLimits` plus the feed threshold.

    ``feed_threshold``: a price or quantity batch of at least this many updates is
    sent as one ``JSON_LISTINGS_FEED``; a smaller one as one Listings Items PATCH per
    SKU (fast to apply, 5 per second). ``batch_size`` for those operations is the
    feed's message limit, so the engine may hand over any batch up to it.
    """

    feed_threshold: PositiveInt = 20


AMAZON_LIMITS = AmazonLimits(
    # Confirming a shipment twice may record two packages: never resent, settled by
    # reading the order.
    unsafe_writes=frozenset({"confirmShipment"}),
    batch_sizes={
        Operation.LIST_LISTINGS: LISTINGS_PAGE_SIZE,
        Operation.SET_STOCK: MAX_FEED_MESSAGES,
        Operation.SET_PRICE: MAX_FEED_MESSAGES,
        Operation.SET_LISTING_STATUS: MAX_FEED_MESSAGES,
        Operation.PULL_ORDERS: MAX_RESULTS_PER_PAGE,
    },
    rate_limits=RATE_LIMITS,
    default_rate_limit=RateLimit(rate=1.0, burst=1),
    # Amazon sets no longest span; a week keeps a first backfill to few calls of getOrders
    # (1 per minute after its burst). The "before" bound must be 2+ minutes in the past:
    # a third minute absorbs clock skew and request latency.
    # Fresh reads go to 2 minutes and 15 seconds: the floor, and seconds for clock skew.
    order_window=OrderWindow(
        max_span=timedelta(days=7),
        lag=timedelta(minutes=3),
        overlap=timedelta(minutes=10),
        fresh_lag=timedelta(minutes=2, seconds=15),
    ),
    carrier_codes=CARRIER_CODES,
    listing_scope=ListingScope.SKU,
    stock_delta=False,
    feed_threshold=20,
)
