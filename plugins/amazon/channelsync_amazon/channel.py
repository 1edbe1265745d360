"""The ``amazon`` channel: settings, declared facts, and the capabilities wired together.

One channel is one seller account (``seller_id``) in one region. Listings, prices,
stock and delisting act on the first of ``marketplace_ids`` (the channel's home
marketplace, whose currency prices are in); orders are pulled from all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, ValidationInfo, field_validator

from channelsync.channels import (
    Capability,
    Channel,
    ChannelSettings,
    DetailCache,
    EventsCapability,
    InventoryCapability,
    ListingLookupCapability,
    ListingsCapability,
    Operation,
    OrdersCapability,
    Page,
    PricingCapability,
    ShipmentsCapability,
    StockAndPriceCapability,
    TimeWindow,
    paginate,
)
from channelsync.credentials import ChannelCredentials
from channelsync.errors import ConfigurationError
from channelsync.http import ChannelHttpClient, ResponseClassifier
from channelsync.models import (
    Listing,
    ListingStatusChange,
    Order,
    PriceChange,
    Shipment,
    ShipmentResult,
    StockUpdate,
    UpdateResult,
)
from channelsync_amazon import fba, listings, orders_v0, orders_v2026, updates
from channelsync_amazon.auth import REFRESH_MARGIN, SpApiAuth, refresh_access_token
from channelsync_amazon.errors import SpApiClassifier
from channelsync_amazon.events import (
    AWS_CREDENTIAL_FIELDS,
    EVENT_TOPICS,
    MAX_WAIT_SECONDS,
    AwsKeys,
    SqsListener,
    SqsQueue,
    parse_queue_url,
    request_grantless_token,
    require_events_extra,
    subscribe_order_changes,
)
from channelsync_amazon.feeds import FEED_QUOTA_KEY, FeedSubmitter
from channelsync_amazon.limits import AMAZON_LIMITS, AmazonLimits
from channelsync_amazon.shipments import confirm_shipment_body, package_reference, shipment_items
from channelsync_amazon.writer import ListingWriter

__all__ = ["DEFAULT_TOKEN_URL", "REGION_ENDPOINTS", "AmazonChannel", "AmazonSettings"]

#: The orders search of each Orders API version: the call whose quota paces order pulls.
ORDER_SEARCHES = {"2026-01-01": orders_v2026.SEARCH_ORDERS, "v0": "getOrders"}

#: The production SP-API endpoint of each selling region.
REGION_ENDPOINTS: dict[str, str] = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a secret


class AmazonSettings(ChannelSettings):
    """Non-secret settings of an ``amazon`` channel entry in ``channelsync.toml``."""

    region: Literal["na", "eu", "fe"]
    marketplace_ids: tuple[str, ...] = Field(min_length=1)
    seller_id: str = Field(min_length=1)
    lwa_client_id: str = Field(min_length=1, description="Login with Amazon client id.")
    fulfillment: Literal["MFN", "AFN"] = "MFN"
    orders_api: Literal["2026-01-01", "v0"] = Field(
        default="2026-01-01",
        description='The Orders API version orders are read with: `"2026-01-01"` '
        '(`searchOrders`, items with each order) or the deprecated `"v0"` (`getOrders` '
        "and one `getOrderItems` call per order), which Amazon retires on 2027-03-27.",
    )
    token_url: str = Field(
        default=DEFAULT_TOKEN_URL,
        description="LWA token endpoint: an absolute URL, or a path on base_url (test servers).",
    )

    events_region: str | None = Field(
        default=None,
        description="The AWS region of the `events_url` queue, when its host does not name "
        "one (a local test server, a private endpoint name).",
    )
    events_url: str | None = Field(
        default=None,
        description="The SQS queue URL Amazon writes the seller's notifications to "
        "(`https://sqs.<region>.amazonaws.com/<account>/<queue>`); required with "
        "`events = true`. The queue is read with the credentials `aws_access_key_id` and "
        "`aws_secret_access_key` (and `aws_session_token` for temporary keys).",
    )
    events_wait_seconds: int = Field(
        default=MAX_WAIT_SECONDS,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="How long one SQS receive waits for a notification (`WaitTimeSeconds`, "
        "0 to 20). 20, a long poll, gets each notification at once with the fewest "
        "requests; 0 polls once a second.",
    )

    @field_validator("token_url")
    @classmethod
    def _check_token_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "/")):
            raise ValueError(f"token_url {value!r} must be an http(s) URL or a path")
        return value

    @field_validator("events_url")
    @classmethod
    def _check_events_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return parse_queue_url(value, region=info.data.get("events_region")).url

    @property
    def events_queue(self) -> SqsQueue | None:
        """The queue ``events_url`` names, or ``None`` when it is unset."""
        if self.events_url is None:
            return None
        return parse_queue_url(self.events_url, region=self.events_region)


class AmazonChannel(
    Channel[AmazonSettings],
    ListingsCapability,
    InventoryCapability,
    PricingCapability,
    StockAndPriceCapability,
    ListingLookupCapability,
    OrdersCapability,
    ShipmentsCapability,
    EventsCapability,
):
    """Amazon seller accounts through the Selling Partner API (merchant-fulfilled and FBA)."""

    type_name: ClassVar[str] = "amazon"
    demo_module: ClassVar[str | None] = "channelsync_amazon.fake"
    display_name: ClassVar[str] = "Amazon (Selling Partner API)"
    settings_model: ClassVar[type[ChannelSettings]] = AmazonSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("lwa_client_secret", "refresh_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = AWS_CREDENTIAL_FIELDS
    event_topics: Sequence[str] = EVENT_TOPICS
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

    def __init__(
        self,
        name: str,
        settings: AmazonSettings,
        credentials: ChannelCredentials,
        **options: Any,
    ) -> None:
        super().__init__(name, settings, credentials, **options)
        if self.settings.events:
            self._events_queue()
            require_events_extra(name)

    @property
    def base_url(self) -> str:
        """The configured override, else the region's production endpoint."""
        return self.settings.base_url or REGION_ENDPOINTS[self.settings.region]

    @property
    def token_url(self) -> str:
        """The LWA token endpoint (a path in ``token_url`` is taken on ``base_url``)."""
        url = self.settings.token_url
        return self.base_url + url if url.startswith("/") else url

    @property
    def marketplace_id(self) -> str:
        """The home marketplace: listings, prices and stock are written there."""
        return self.settings.marketplace_ids[0]

    @property
    def plain(self) -> ChannelHttpClient:
        """The transport for calls that carry no access token (LWA, pre-signed S3 URLs)."""
        if self._plain is None:
            return self.http  # raises ChannelNotOpenError with the usual message
        return self._plain

    # -- seams ----------------------------------------------------------------------

    _plain: ChannelHttpClient | None = None
    auth: SpApiAuth | None = None

    def build_auth(self) -> httpx.Auth:
        """Return the LWA header auth; its refreshes go through :attr:`plain`."""
        self.auth = SpApiAuth(
            lambda: refresh_access_token(
                self.plain, self.token_url, self.credentials, self.settings.lwa_client_id
            ),
            clock=self.clock,
            margin=REFRESH_MARGIN,
            redactor=self.redactor,
        )
        return self.auth

    def build_classifier(self) -> ResponseClassifier:
        """Return the SP-API / LWA error classifier."""
        return SpApiClassifier(self.clock)

    async def open(self) -> None:
        """Open the SP-API transport and the token-less one, sharing one rate limiter."""
        if self.is_open:
            return
        await super().open()
        plain = ChannelHttpClient(
            channel=self.name,
            base_url=self.base_url,
            limits=self.limits,
            classifier=self.build_classifier(),
            retry_policy=self.retry_policy,
            clock=self.clock,
            metrics=self.metrics,
            redactor=self.redactor,
            rate_limiter=self.http.rate_limiter,
            rate_limit_from_response=None,
            transport=self._transport,
            **self.http_client_options(),
        )
        await plain.__aenter__()
        self._plain = plain

    async def close(self) -> None:
        """Close both transports."""
        plain, self._plain = self._plain, None
        if plain is not None:
            await plain.aclose()
        await super().close()

    def _writer(self) -> ListingWriter:
        quota = self.http.rate_limiter.bucket(self.name, FEED_QUOTA_KEY)
        feeds = FeedSubmitter(
            api=self.http,
            plain=self.plain,
            clock=self.clock,
            seller_id=self.settings.seller_id,
            marketplace_id=self.marketplace_id,
            acquire_quota=quota.acquire,
        )
        return ListingWriter(
            self.http,
            seller_id=self.settings.seller_id,
            marketplace_id=self.marketplace_id,
            feeds=feeds,
            feed_threshold=self.limits.feed_threshold,
        )

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

    # -- events ---------------------------------------------------------------------

    def _events_queue(self) -> SqsQueue:
        queue = self.settings.events_queue
        if queue is None:
            raise ConfigurationError(
                "events = true needs events_url, the URL of the SQS queue Amazon writes "
                "the seller's notifications to",
                channel=self.name,
                field="events_url",
            )
        return queue

    def listen(self) -> SqsListener:
        """Return a listener on the ``events_url`` queue (not yet polling).

        Raises :class:`~channelsync.errors.ConfigurationError` without ``events_url`` or
        the ``events`` extra, and :class:`~channelsync.errors.MissingCredentialError`
        without the AWS keys.
        """
        queue = self._events_queue()
        require_events_extra(self.name)
        return SqsListener(
            self.name,
            self.clock,
            queue=queue,
            keys=AwsKeys.from_credentials(self.credentials),
            seller_id=self.settings.seller_id,
            redactor=self.redactor,
            wait_seconds=self.settings.events_wait_seconds,
        )

    async def enable_events(self) -> str:
        """Register the queue as a destination and subscribe the seller to ORDER_CHANGE."""
        queue = self._events_queue()
        grantless = ChannelHttpClient(
            channel=self.name,
            base_url=self.base_url,
            limits=self.limits,
            auth=SpApiAuth(
                lambda: request_grantless_token(
                    self.plain,
                    self.token_url,
                    self.settings.lwa_client_id,
                    self.credentials.require("lwa_client_secret"),
                ),
                clock=self.clock,
                margin=REFRESH_MARGIN,
                redactor=self.redactor,
            ),
            classifier=self.build_classifier(),
            retry_policy=self.retry_policy,
            clock=self.clock,
            metrics=self.metrics,
            redactor=self.redactor,
            rate_limiter=self.http.rate_limiter,
            transport=self._transport,
            **self.http_client_options(),
        )
        async with grantless:
            opted_in = await subscribe_order_changes(
                self.http, grantless, queue, self.settings.marketplace_ids
            )
        return opted_in.summary(self.name)

    # -- listings -------------------------------------------------------------------

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield the listings in the home marketplace, a declared page (20) at a time.

        Amazon pages through 1,000 items of a search at most; when the shop has more,
        the scan is marked capped and :meth:`find_listings` finds the rest by SKU.
        """
        size = self.limits.batch_size(Operation.LIST_LISTINGS)
        self.scan_capped = False

        async def fetch(token: str) -> Page[Listing, str]:
            body = await self.http.request_json(
                "GET",
                listings.items_path(self.settings.seller_id),
                operation="searchListingsItems",
                params=listings.search_params(self.marketplace_id, token or None, page_size=size),
            )
            if not token and listings.number_of_results(body) > listings.SEARCH_LIMIT:
                self.scan_capped = True
            return await self._with_fba(
                listings.parse_search_page(body, self.name, self.marketplace_id)
            )

        async for listing in paginate(fetch, "", what="searchListingsItems pages"):
            yield listing

    async def find_listings(self, merchant_codes: Sequence[str]) -> list[Listing]:
        """Search listings by SKU, 20 identifiers a call."""
        found: list[Listing] = []
        codes = list(dict.fromkeys(merchant_codes))
        for start in range(0, len(codes), listings.IDENTIFIERS_PER_SEARCH):
            batch = codes[start : start + listings.IDENTIFIERS_PER_SEARCH]
            body = await self.http.request_json(
                "GET",
                listings.items_path(self.settings.seller_id),
                operation="searchListingsItems",
                params=listings.sku_search_params(self.marketplace_id, batch),
            )
            page = await self._with_fba(
                listings.parse_search_page(body, self.name, self.marketplace_id)
            )
            found += page.items
        return found

    async def _with_fba(self, page: Page[Listing, str]) -> Page[Listing, str]:
        """For an FBA shop, show each listing's fulfillable units (Amazon's, read not pushed)."""
        if self.settings.fulfillment != "AFN" or not page.items:
            return page
        held = await fba.fulfillable_quantities(
            self.http, self.marketplace_id, [item.item_id for item in page.items]
        )
        items = [
            item.model_copy(update={"quantity": held.get(item.item_id, 0)}) for item in page.items
        ]
        return Page(items, page.next_token)

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """Delist by setting the MFN quantity to 0; relisting is a stock push, not a switch."""
        planned = updates.plan_statuses(batch, self.settings.fulfillment)
        return updates.merge(planned, await self._writer().apply(planned.patches))

    # -- stock and price ------------------------------------------------------------

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Set MFN quantities (PATCH per SKU or one feed); AFN stock is refused per item."""
        planned = updates.plan_stock(batch, self.settings.fulfillment)
        # Sold out: patched at once, never held for a feed's minutes of processing.
        sent = await self._writer().apply(planned.patches, at_once=planned.at_once)
        return updates.merge(planned, sent)

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Set B2C prices in the home marketplace (PATCH per SKU or one feed)."""
        planned = updates.plan_prices(batch, self.marketplace_id)
        return updates.merge(planned, await self._writer().apply(planned.patches))

    async def set_stock_and_prices(
        self, stock: Sequence[StockUpdate], prices: Sequence[PriceChange]
    ) -> tuple[list[UpdateResult], list[UpdateResult]]:
        """Send quantities and prices together: one PATCH per SKU, or one feed for all.

        A SKU whose quantity and price both change gets one message with both patches;
        the feed quota (five per five minutes) is spent once for both kinds.
        """
        quantities = updates.plan_stock(stock, self.settings.fulfillment)
        amounts = updates.plan_prices(prices, self.marketplace_id)
        sent = await self._writer().apply(
            [*quantities.patches, *amounts.patches],
            at_once=[*quantities.at_once, *amounts.at_once],
        )
        split = len(quantities.patches)
        return updates.merge(quantities, sent[:split]), updates.merge(amounts, sent[split:])

    # -- orders and shipments -------------------------------------------------------

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
