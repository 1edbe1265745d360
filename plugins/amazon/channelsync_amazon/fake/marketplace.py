"""``FakeSellingPartner``: a stateful SP-API, LWA token endpoint and S3 document store.

Written from the wire reference (``reference/amazon.md``) and Amazon's models, not
from the plugin. It checks what Amazon checks: LWA client and refresh token, the
``x-amz-access-token`` on every SP-API call (403 ``Unauthorized`` when missing,
unknown or expired), the per-operation usage plans (429 ``QuotaExceeded``, no
rate-limit header), the JSON_LISTINGS_FEED quota (5 per 5 minutes), pre-signed
document URLs (no access token, the declared ``Content-Type``), order windows,
page sizes and batch limits.

Its Notifications API (:mod:`~channelsync_amazon.fake.notifications`) takes
grantless tokens (LWA ``client_credentials``) for destinations and the seller's token
for subscriptions; :meth:`FakeSellingPartner.serve_events` serves the SQS queue the
subscribed notifications are written to (:mod:`~channelsync_amazon.fake.events`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, unquote

import httpx

from channelsync.clock import Clock
from channelsync.testing.fakes import (
    FakeItem,
    FakeOrder,
    FakeSku,
    Fault,
    FaultInjector,
    LoopbackServer,
    OrderGenerator,
    PushQueue,
    SeedItem,
    ThrottleRule,
)
from channelsync_amazon.fake import access, handlers, notifications
from channelsync_amazon.fake.aws_keys import AwsKey
from channelsync_amazon.fake.control import SellingPartnerControl
from channelsync_amazon.fake.feeds import FakeDocument, FakeFeed
from channelsync_amazon.fake.notifications import (
    GRANTLESS_OPERATIONS,
    NOTIFICATION_OPERATIONS,
    FakeDestination,
    FakeSubscription,
)
from channelsync_amazon.fake.notifier import Notifier
from channelsync_amazon.fake.subscriptions import NotificationsMixin
from channelsync_amazon.fake.wire import (
    DEFAULT_MARKETPLACE,
    FakeRequestError,
    json_response,
    lwa_error,
    s3_error,
    sp_error,
)

if TYPE_CHECKING:
    from channelsync_amazon.fake.events import FakeEventsServer

__all__ = ["FakeSellingPartner"]

#: Currencies of the marketplaces the fake can play.
_CURRENCIES = {
    "ATVPDKIKX0DER": "USD",
    "A2EUQ1WTGCTBG2": "CAD",
    "A1F83G8C2ARO7P": "GBP",
    "A1PA6795UKMFR9": "EUR",
    "A13V1IB3VIYZZH": "EUR",
    "A1VC38T7YXB528": "JPY",
}
_S3_OPERATIONS = frozenset({"uploadFeedDocument", "downloadFeedDocument"})
_DENIED = "Access to requested resource is denied."
_QUOTA = "You exceeded your quota for the requested resource."
#: Statuses whose answers carry ``x-amzn-RateLimit-Limit`` in the models.
_RATE_HEADER_STATUSES = frozenset({200, 201, 202, 204, 400, 404})

Route = tuple[str, tuple[str, ...]]


class FakeSellingPartner(NotificationsMixin, SellingPartnerControl):
    """A fake Amazon seller account: listings, FBA stock, feeds, orders, shipments."""

    #: SP-API default usage plans (reference §5).
    throttle_rules: ClassVar[Mapping[str, ThrottleRule]] = {
        "getOrders": ThrottleRule(0.0167, 20),
        "getOrder": ThrottleRule(0.5, 30),
        "getOrderItems": ThrottleRule(0.5, 30),
        "searchOrders": ThrottleRule(0.0056, 20),
        "getOrder2026": ThrottleRule(0.5, 30),
        "confirmShipment": ThrottleRule(2.0, 10),
        "getListingsItem": ThrottleRule(5.0, 10),
        "patchListingsItem": ThrottleRule(5.0, 5),
        "deleteListingsItem": ThrottleRule(5.0, 5),
        "searchListingsItems": ThrottleRule(5.0, 5),
        "createFeedDocument": ThrottleRule(0.5, 15),
        "createFeed": ThrottleRule(0.0083, 15),
        "getFeed": ThrottleRule(2.0, 15),
        "getFeedDocument": ThrottleRule(0.0222, 10),
        "getInventorySummaries": ThrottleRule(2.0, 2),
        **dict.fromkeys(sorted(NOTIFICATION_OPERATIONS), ThrottleRule(1.0, 5)),
    }
    #: JSON_LISTINGS_FEED submissions: 5 per 5 minutes per region.
    feed_quota: ClassVar[ThrottleRule] = ThrottleRule(5 / 300, 5)

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        seller_id: str,
        marketplace_ids: Iterable[str] = (DEFAULT_MARKETPLACE,),
        clock: Clock | None = None,
        faults: FaultInjector | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_tokens = {refresh_token}
        self.seller_id = seller_id
        self.marketplace_ids = tuple(marketplace_ids)
        self.marketplace_id = self.marketplace_ids[0]
        self.currency = _CURRENCIES.get(self.marketplace_id, "USD")
        self.region_channel = "AMAZON_NA"
        self._rng = random.Random(seed)  # noqa: S311 - repeatable fake data
        #: Issued access tokens -> monotonic expiry.
        self.access_tokens: dict[str, float] = {}
        self.token_lifetime = 3600
        #: When true, every refresh also returns a new refresh token (and retires the old).
        self.rotate_refresh_tokens = False
        #: The seller's usage plans; lower one to see the client follow the rate header.
        self.usage_plans: dict[str, ThrottleRule] = dict(self.throttle_rules)
        self.documents: dict[str, FakeDocument] = {}
        self.feeds: dict[str, FakeFeed] = {}
        self.queue_seconds = 20.0
        self.process_seconds = 40.0
        self.gzip_reports = False
        self.document_base = "https://tortuga-prod-na.s3-external-1.amazonaws.com"
        self.items_page_size = 100
        self.order_tokens: dict[str, tuple[list[str], int, int, dict[str, str]]] = {}
        self.item_tokens: dict[str, tuple[str, int]] = {}
        self.listing_tokens: dict[str, tuple[list[str], int, int]] = {}
        self.inventory_tokens: dict[str, tuple[list[str], int, float]] = {}
        #: Grantless access tokens -> (monotonic expiry, scope).
        self.grantless_tokens: dict[str, tuple[float, str]] = {}
        self.application_id = "amzn1.sp.solution.fake-application"
        self.destinations: dict[str, FakeDestination] = {}
        #: The seller's subscriptions, by notification type.
        self.subscriptions: dict[str, FakeSubscription] = {}
        #: The AWS keys that may read the served queue (by access key id).
        self.aws_keys: dict[str, AwsKey] = {}
        self.aws_region = "us-east-1"
        self.aws_account_id = "123456789012"  # moto's account for every key
        #: What the push service sends next; delivery itself is SQS's (moto's).
        self.push = PushQueue(clock=self.clock, redeliver_after=1.0, seed=seed)
        self.events: FakeEventsServer | None = None
        self.notifier = Notifier(self)
        self._counter = 0
        self.store.on_change(self.notifier)
        self._orders = OrderGenerator(
            self.store,
            self.clock,
            order_id=lambda _n, _now: self._order_id(),
            status="Unshipped",
            seed=seed,
            decorate=self._decorate,
        )

    # -- identifiers ----------------------------------------------------------------

    def token(self, kind: str) -> str:
        """Return a fresh opaque token (page tokens, ids)."""
        self._counter += 1
        return f"{kind}-{self._counter:06d}-{self._rng.getrandbits(48):012x}"

    def request_id(self) -> str:
        """Return a request id in Amazon's UUID shape."""
        bits = f"{self._rng.getrandbits(128):032x}"
        return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"

    def _order_id(self) -> str:
        return (
            f"{self._rng.randint(111, 999)}-{self._rng.randint(0, 9_999_999):07d}-"
            f"{self._rng.randint(0, 9_999_999):07d}"
        )

    def new_document(self, content_type: str) -> FakeDocument:
        """Create a feed document with a pre-signed URL signature."""
        document = FakeDocument(
            document_id=f"amzn1.tortuga.4.na.{self.token('doc')}",
            content_type=content_type,
            created=self.clock.now(),
            signature=f"{self._rng.getrandbits(256):064x}",
        )
        self.documents[document.document_id] = document
        return document

    def document_url(self, document: FakeDocument, *, upload: bool) -> str:
        """Return the pre-signed S3 URL of ``document``."""
        kind = "feed-documents" if upload else "documents"
        return (
            f"{self.document_base}/s3/{kind}/{document.document_id}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300"
            f"&X-Amz-Signature={document.signature}"
        )

    # -- seeding and the marketplace's own changes ----------------------------------

    def seed_catalogue(self, items: Iterable[SeedItem], *, afn_skus: Collection[str] = ()) -> None:
        """Create a listing per seed SKU (seller SKU = merchant code); some may be FBA."""
        now = self.clock.now()
        for seed in items:
            item = FakeItem(
                item_id=seed.merchant_code,
                title=seed.title,
                merchant_code=seed.merchant_code,
                price=seed.price,
                on_sale=True,
                created=now,
                modified=now,
            )
            for variant in seed.skus:
                item.skus.append(
                    self._sku(
                        variant.merchant_code,
                        variant.price,
                        variant.quantity,
                        variant.properties,
                        variant.merchant_code in afn_skus,
                    )
                )
            self.store.add_item(item)

    def add_listing(
        self, sku: str, title: str, price: Decimal, quantity: int, *, afn: bool = False
    ) -> FakeSku:
        """Add one listing whose seller SKU is ``sku``."""
        now = self.clock.now()
        record = self._sku(sku, price, quantity, "", afn)
        item = FakeItem(sku, title, sku, price, True, now, now, skus=[record])
        self.store.add_item(item)
        return record

    def _sku(self, sku: str, price: Decimal, quantity: int, properties: str, afn: bool) -> FakeSku:
        asin = f"B0{self._rng.getrandbits(40):010X}"[:10]
        extra: dict[str, Any] = {
            "asin": asin,
            "product_type": "PRODUCT",
            "afn": afn,
            "attributes": {
                "fulfillment_availability": []
                if afn
                else [{"fulfillment_channel_code": "DEFAULT", "lead_time_to_ship_max_days": 2}],
            },
        }
        if afn:
            extra["fnsku"] = f"X00{self._rng.getrandbits(28):07X}"[:10]
        return FakeSku(sku, sku, price, quantity, properties, extra)

    def generate_orders(self, count: int = 1) -> list[FakeOrder]:
        """Create buyers' orders (``Unshipped``), lowering the listings' stock."""
        return self._orders.generate(count)

    def _decorate(self, order: FakeOrder) -> None:
        first = self.store.find_sku(order.lines[0].sku_id or "")
        afn = first is not None and bool(first[1].extra.get("afn"))
        order.extra.update(
            marketplace_id=self.marketplace_id,
            fulfillment="AFN" if afn else "MFN",
            postal_code=f"{self._rng.randint(10000, 99999)}",
            country="US",
        )
        asins = {}
        for line in order.lines:
            line.line_id = f"{self._rng.randint(10**13, 10**14 - 1)}"
            found = self.store.find_sku(line.sku_id or "")
            asins[line.line_id] = found[1].extra["asin"] if found else "B000000000"
        order.extra["asins"] = asins
        order.city, order.province = "SEATTLE", "WA"

    def set_order_status(self, order_id: str, status: str) -> FakeOrder:
        """Change an order's status as Amazon would (e.g. ``Pending`` -> ``Unshipped``)."""
        with self.store.lock:
            order = self.store.orders[order_id]
            order.status = status
            order.modified = self.clock.now()
            self.store.changed(order, "status")
            return order

    def cancel_order(self, order_id: str) -> FakeOrder:
        """Cancel an unshipped order as its buyer would: ``Canceled``, stock returned."""
        with self.store.lock:
            order = self.store.orders[order_id]
            for line in order.lines:
                found = self.store.find_sku(line.sku_id or "")
                if found is not None:
                    found[1].quantity += line.quantity
            order.status = "Canceled"
            order.modified = self.clock.now()
            self.store.changed(order, "cancelled")
            return order

    def request_cancellation(self, order_id: str) -> FakeOrder:
        """Record a buyer's request to cancel (``BuyerRequestedChange``); the seller decides."""
        with self.store.lock:
            order = self.store.orders[order_id]
            order.extra["buyer_cancel_requested"] = True
            order.modified = self.clock.now()
            self.store.changed(order, "buyer_cancel_requested")
            return order

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired (as after an hour)."""
        for token in self.access_tokens:
            self.access_tokens[token] = float("-inf")
        for token, (_, scope) in self.grantless_tokens.items():
            self.grantless_tokens[token] = (float("-inf"), scope)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> LoopbackServer:
        """Serve on loopback; document URLs then point at the same server."""
        server = super().serve(host, port)
        self.document_base = server.url
        return server

    # -- dispatch -------------------------------------------------------------------

    def _route(self, request: httpx.Request) -> Route:
        raw = request.url.raw_path.split(b"?", 1)[0].decode("ascii", "replace")
        parts = tuple(unquote(p) for p in raw.split("/")[1:])
        method = request.method
        routes: list[tuple[str, tuple[str, ...], str]] = [
            ("POST", ("auth", "o2", "token"), "lwaToken"),
            ("PUT", ("s3", "feed-documents", "*"), "uploadFeedDocument"),
            ("GET", ("s3", "documents", "*"), "downloadFeedDocument"),
            ("GET", ("listings", "2021-08-01", "items", "*"), "searchListingsItems"),
            ("GET", ("listings", "2021-08-01", "items", "*", "*"), "getListingsItem"),
            ("PATCH", ("listings", "2021-08-01", "items", "*", "*"), "patchListingsItem"),
            ("DELETE", ("listings", "2021-08-01", "items", "*", "*"), "deleteListingsItem"),
            ("POST", ("feeds", "2021-06-30", "documents"), "createFeedDocument"),
            ("GET", ("feeds", "2021-06-30", "documents", "*"), "getFeedDocument"),
            ("POST", ("feeds", "2021-06-30", "feeds"), "createFeed"),
            ("GET", ("feeds", "2021-06-30", "feeds", "*"), "getFeed"),
            ("GET", ("orders", "v0", "orders"), "getOrders"),
            ("GET", ("orders", "v0", "orders", "*"), "getOrder"),
            ("GET", ("orders", "v0", "orders", "*", "orderItems"), "getOrderItems"),
            ("GET", ("orders", "2026-01-01", "orders"), "searchOrders"),
            ("GET", ("orders", "2026-01-01", "orders", "*"), "getOrder2026"),
            ("POST", ("orders", "v0", "orders", "*", "shipmentConfirmation"), "confirmShipment"),
            ("GET", ("fba", "inventory", "v1", "summaries"), "getInventorySummaries"),
            ("POST", ("notifications", "v1", "destinations"), "createDestination"),
            ("GET", ("notifications", "v1", "destinations"), "getDestinations"),
            ("GET", ("notifications", "v1", "destinations", "*"), "getDestination"),
            ("DELETE", ("notifications", "v1", "destinations", "*"), "deleteDestination"),
            ("POST", ("notifications", "v1", "subscriptions", "*"), "createSubscription"),
            ("GET", ("notifications", "v1", "subscriptions", "*"), "getSubscription"),
            ("GET", ("notifications", "v1", "subscriptions", "*", "*"), "getSubscriptionById"),
            (
                "DELETE",
                ("notifications", "v1", "subscriptions", "*", "*"),
                "deleteSubscriptionById",
            ),
        ]
        for verb, pattern, name in routes:
            if verb == method and len(pattern) == len(parts):
                args = []
                for want, got in zip(pattern, parts, strict=True):
                    if want == "*":
                        if not got:
                            break
                        args.append(got)
                    elif want != got:
                        break
                else:
                    return name, tuple(args)
        return "unknown", ()

    def operation_of(self, request: httpx.Request) -> str:
        """Return the SP-API operation id (or ``lwaToken`` / the S3 calls)."""
        return self._route(request)[0]

    def takes_access_token(self, operation: str) -> bool:
        """Return ``False`` for the LWA token grant and the presigned S3 calls (no token)."""
        return operation != "lwaToken" and operation not in _S3_OPERATIONS

    def is_batch(self, operation: str) -> bool:
        """Return whether ``operation`` is a batch (a feed: partial failure refuses one message)."""
        return operation == "createFeed"

    def params(self, request: httpx.Request) -> dict[str, str]:
        """Return the query parameters (the last value of a repeated one)."""
        query = request.url.query.decode("ascii", "replace")
        return dict(parse_qsl(query, keep_blank_values=True))

    def handle(  # noqa: PLR0911 - LWA, S3, then SP-API's own checks in order
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        """Answer one call from the store."""
        _, args = self._route(request)
        if operation == "lwaToken":
            return access.lwa_token(self, request)
        if operation in _S3_OPERATIONS:
            return access.s3(self, request, operation, args[0])
        request_id = self.request_id()
        if operation == "unknown":
            return sp_error(404, "NotFound", "Resource not found", request_id=request_id)
        if not self._token_accepted(request.headers.get("x-amz-access-token"), operation):
            return sp_error(403, "Unauthorized", _DENIED, request_id=request_id)
        plan = self.usage_plans.get(operation)
        if self.quota_spent(operation, plan):
            return sp_error(429, "QuotaExceeded", _QUOTA, request_id=request_id)
        rate = plan.rate if plan is not None else None
        try:
            if operation in NOTIFICATION_OPERATIONS:
                status, body = notifications.handle(self, request, operation, args)
            else:
                handler: Callable[..., tuple[int, object]] = getattr(handlers, operation)
                status, body = handler(self, request, *args, partial_failure=partial_failure)
        except FakeRequestError as error:
            return sp_error(
                error.status,
                error.code,
                error.message,
                request_id=request_id,
                rate=rate if error.status in _RATE_HEADER_STATUSES else None,
            )
        if status == 204:
            return httpx.Response(
                204, headers={"x-amzn-RequestId": request_id, "x-amzn-RateLimit-Limit": f"{rate:g}"}
            )
        return json_response(status, body, request_id=request_id, rate=rate)

    def _token_accepted(self, token: str | None, operation: str) -> bool:
        """Check the token: a grantless one for grantless operations, else a seller's."""
        now = self.clock.monotonic()
        if not token:
            return False
        if operation in GRANTLESS_OPERATIONS:
            expiry, scope = self.grantless_tokens.get(token, (float("-inf"), ""))
            return expiry > now and scope == "sellingpartnerapi::notifications"
        return self.access_tokens.get(token, float("-inf")) > now

    def fault_response(  # noqa: PLR0911 - three transports, three faults
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        """Amazon's answers to a throttle, a server error and an expired token."""
        if operation == "lwaToken":
            if fault is Fault.THROTTLE:
                return lwa_error(429, "temporarily_unavailable", "Too many requests")
            return lwa_error(500, "server_error", "Internal server error")
        if operation in _S3_OPERATIONS:
            if fault is Fault.THROTTLE:
                return s3_error(503, "SlowDown", "Please reduce your request rate.")
            return s3_error(500, "InternalError", "We encountered an internal error.")
        request_id = self.request_id()
        if fault is Fault.THROTTLE:
            return sp_error(429, "QuotaExceeded", _QUOTA, request_id=request_id)
        if fault is Fault.EXPIRED_TOKEN:
            token = request.headers.get("x-amz-access-token")
            if token in self.access_tokens:
                self.access_tokens[token] = float("-inf")
            if token in self.grantless_tokens:
                self.grantless_tokens[token] = (float("-inf"), self.grantless_tokens[token][1])
            return sp_error(403, "Unauthorized", _DENIED, request_id=request_id)
        return sp_error(
            503, "ServiceUnavailable", "Service temporarily unavailable", request_id=request_id
        )

    def quota_spent(self, key: str, rule: ThrottleRule | None) -> bool:
        """Take one call from ``key``'s plan; return whether the plan was spent."""
        return self.throttled(key, rule) is not None

    def document_expired(self, document: FakeDocument) -> bool:
        """Feed document ids expire two days after creation."""
        return self.clock.now() - document.created > timedelta(days=2)
