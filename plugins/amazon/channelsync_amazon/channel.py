"""The ``amazon`` channel: declared facts, and the capabilities wired together.

One channel is one seller account (``seller_id``) in one region. Listings, prices,
stock and delisting act on the first of ``marketplace_ids`` (the channel's home
marketplace, whose currency prices are in); orders are pulled from all of them.

The calls live in the capability mixins: :mod:`~channelsync_amazon.gateway` (settings,
transports, auth), :mod:`~channelsync_amazon.inventory` (listings, stock, prices),
:mod:`~channelsync_amazon.orders` (orders, shipments) and
:mod:`~channelsync_amazon.sqs_events` (events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from channelsync.channels import Capability
from channelsync_amazon.gateway import DEFAULT_TOKEN_URL, REGION_ENDPOINTS, AmazonSettings
from channelsync_amazon.inventory import SpApiInventory
from channelsync_amazon.limits import AMAZON_LIMITS, AmazonLimits
from channelsync_amazon.orders import SpApiOrders
from channelsync_amazon.sqs_events import SpApiEvents

__all__ = ["DEFAULT_TOKEN_URL", "REGION_ENDPOINTS", "AmazonChannel", "AmazonSettings"]


class AmazonChannel(SpApiInventory, SpApiOrders, SpApiEvents):
    """Amazon seller accounts through the Selling Partner API (merchant-fulfilled and FBA)."""

    type_name: ClassVar[str] = "amazon"
    demo_module: ClassVar[str | None] = "channelsync_amazon.fake"
    display_name: ClassVar[str] = "Amazon (Selling Partner API)"
    limits: ClassVar[AmazonLimits] = AMAZON_LIMITS
    status_note: ClassVar[str] = (
        'orders on Orders API v2026-01-01 (the deprecated v0 with orders_api = "v0")'
    )
    capability_notes: ClassVar[Mapping[Capability, str]] = {
        Capability.LISTINGS: (
            "searchListingsItems with offers and MFN availability (FBA quantities from FBA "
            "inventory summaries); delist sets the MFN quantity to 0 (the listing stays and "
            "comes back with stock); relisting and AFN delisting are refused per item"
        ),
        Capability.INVENTORY: (
            "MFN quantity by Listings Items PATCH (merge) below limits.feed_threshold, else "
            "one JSON_LISTINGS_FEED (a quantity of 0 is always patched at once); AFN (FBA) "
            "stock is never written"
        ),
        Capability.PRICING: (
            "B2C price (purchasable_offer, merge) in the home marketplace's currency, by "
            "PATCH or JSON_LISTINGS_FEED like stock"
        ),
        Capability.ORDERS: (
            "Orders API v2026-01-01 searchOrders by lastUpdatedAfter/Before with "
            "paginationToken, items with each order (v0 getOrders and getOrderItems with "
            'orders_api = "v0"); orders of the channel\'s fulfilment channel only; AFN '
            "orders are on hold (Amazon ships them)"
        ),
        Capability.SHIPMENTS: "confirmShipment for MFN orders; carriers without a code go as Other",
        Capability.EVENTS: (
            "SP-API notifications read from the seller's own SQS queue (events_url, AWS keys "
            "as credentials; the events extra): ORDER_CHANGE as order events, "
            "LISTINGS_ITEM_STATUS_CHANGE and LISTINGS_ITEM_MFN_QUANTITY_CHANGE as listing "
            "events; enabling registers the queue (createDestination, grantless) and "
            "subscribes ORDER_CHANGE for the channel's marketplaces"
        ),
    }
