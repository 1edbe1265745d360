"""The ``pinduoduo`` channel: PDD shops through the ``/api/router`` gateway."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import httpx

from channelsync.channels import (
    Capability,
    Channel,
    ChannelSettings,
    InventoryCapability,
    ListingLookupCapability,
    ListingsCapability,
    Operation,
    OrdersCapability,
    Page,
    PricingCapability,
    RefundsCapability,
    ShipmentsCapability,
    TimeWindow,
    next_page_number,
    paginate,
)
from channelsync.channels.capabilities import ChannelLimits
from channelsync.errors import (
    ChannelError,
    ConflictError,
    DataError,
    InvalidRequestError,
    ModelError,
    NotFoundError,
)
from channelsync.http import AccessToken, ResponseClassifier, TokenCache
from channelsync.models import (
    ItemError,
    Listing,
    ListingStatus,
    ListingStatusChange,
    Order,
    PriceChange,
    Refund,
    Shipment,
    ShipmentResult,
    StockUpdate,
    StockUpdateMode,
    UpdateResult,
)
from channelsync_pinduoduo._calls import (
    Refused,
    is_item_error,
    list_of,
    require_success,
    total_count,
)
from channelsync_pinduoduo.carriers import PddCarrier, carrier_from_record, find_carrier
from channelsync_pinduoduo.envelope import PddClassifier, decode_body, success_root
from channelsync_pinduoduo.limits import (
    CAPABILITY_NOTES,
    PDD_LIMITS,
    REFUND_QUERY_STATUSES,
)
from channelsync_pinduoduo.mapping import (
    listings_from_goods,
    money_to_fen,
    optional_text,
    order_from_record,
    refund_from_record,
    to_unix,
)
from channelsync_pinduoduo.pmc import PmcEvents
from channelsync_pinduoduo.prices import PddPriceReads, plan_commit
from channelsync_pinduoduo.settings import PinduoduoSettings
from channelsync_pinduoduo.shipping import SHIP_METHOD, already_shipped, check_shippable
from channelsync_pinduoduo.signing import PddSigner, encode_params

__all__ = ["REFUND_QUERY_STATUSES", "PinduoduoChannel", "PinduoduoSettings"]

ROUTER_PATH = "/api/router"

UpdateT = TypeVar("UpdateT", StockUpdate, PriceChange, ListingStatusChange)


class PinduoduoChannel(
    Channel[PinduoduoSettings],
    ListingsCapability,
    ListingLookupCapability,
    InventoryCapability,
    PricingCapability,
    OrdersCapability,
    ShipmentsCapability,
    RefundsCapability,
    PddPriceReads,
    PmcEvents,
):
    """Pinduoduo shops through the PDD open platform gateway, with PMC's pushed events."""

    type_name: ClassVar[str] = "pinduoduo"
    demo_module: ClassVar[str | None] = "channelsync_pinduoduo.fake"
    display_name: ClassVar[str] = "Pinduoduo"
    settings_model: ClassVar[type[ChannelSettings]] = PinduoduoSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("client_secret", "access_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://gw-api.pinduoduo.com/api/router"
    limits: ClassVar[ChannelLimits] = PDD_LIMITS
    status_note: ClassVar[str] = ""
    capability_notes: ClassVar[Mapping[Capability, str]] = CAPABILITY_NOTES

    _tokens: TokenCache | None = None
    _carriers: list[PddCarrier] | None = None

    # -- transport ------------------------------------------------------------------

    @property
    def router_url(self) -> str:
        """The gateway URL every call is posted to."""
        base = self.base_url.rstrip("/")
        return base if base.endswith(ROUTER_PATH) else base + ROUTER_PATH

    def build_auth(self) -> httpx.Auth:
        """Sign with the client secret and the shop's (refreshable) access token."""
        can_refresh = bool(self.credentials.get("refresh_token"))
        self._tokens = TokenCache(
            self._refresh_access_token if can_refresh else None,
            initial=AccessToken(self.credentials.require("access_token")),
            clock=self.clock,
            margin=300.0,
            redactor=self.redactor,
        )
        return PddSigner(
            self._tokens,
            client_id=self.settings.client_id,
            client_secret=self.credentials.require("client_secret"),
            clock=self.clock,
        )

    def build_classifier(self) -> ResponseClassifier:
        """Read PDD's ``error_response`` envelopes."""
        return PddClassifier(self.clock)

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call one gateway method and return its success object.

        ``params`` are the business parameters; values are sent as PDD expects them
        (JSON text for lists and objects). Failures raise the mapped channel error.
        """
        fields = {"type": method, **encode_params(params or {})}
        response = await self.http.request("POST", self.router_url, operation=method, data=fields)
        try:
            return success_root(decode_body(response, method), method)
        except ChannelError as error:
            raise error.with_context(channel=self.name, operation=method) from None

    async def _refresh_access_token(self) -> AccessToken:
        refresh_token = self.credentials.require("refresh_token")
        method = "pdd.pop.auth.token.refresh"
        root = await self.call(method, {"refresh_token": refresh_token})
        token = optional_text(root.get("access_token"))
        if token is None:
            raise DataError(f"{method}: the answer has no access_token", channel=self.name)
        self.redactor.add_secret(token)
        renewed = optional_text(root.get("refresh_token"))
        if renewed is not None and renewed != refresh_token:
            self.redactor.add_secret(renewed)
            self.credentials.set("refresh_token", renewed)
        self.credentials.set("access_token", token)
        return AccessToken(token, expires_in=self._lifetime(root))

    def _lifetime(self, root: Mapping[str, Any]) -> float | None:
        now = self.clock.now().timestamp()
        ends: list[float] = []
        try:
            for name in ("expires_at", "refresh_token_expires_at"):
                value = root.get(name)
                if value not in (None, ""):
                    ends.append(float(str(value)))
            if ends:
                # The grant's own end bounds every refreshed token, whatever expires_in says.
                return max(0.0, min(ends) - now)
            value = root.get("expires_in")
            return None if value in (None, "") else float(str(value))
        except ValueError:
            raise DataError(
                "pdd.pop.auth.token.refresh: token lifetime is not a number", channel=self.name
            ) from None

    # -- per-item updates -----------------------------------------------------------

    async def _each(
        self, batch: Sequence[UpdateT], send: Callable[[UpdateT], Awaitable[None]]
    ) -> list[UpdateResult]:
        results = []
        for update in batch:
            try:
                await send(update)
            except Refused as refused:
                results.append(UpdateResult.failure(update, str(refused), code="is_success"))
            except ChannelError as error:
                if not is_item_error(error):
                    raise
                results.append(UpdateResult.failure(update, str(error), code=error.code))
            else:
                results.append(UpdateResult.success(update))
        return results

    # -- listings -------------------------------------------------------------------

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield every SKU of every goods, on sale or not, a declared page (100) at a time."""
        method = "pdd.goods.list.get"
        size = self.limits.batch_size(Operation.LIST_LISTINGS)

        async def fetch(page: int) -> Page[Listing, int]:
            root = await self.call(method, {"page": page, "page_size": size})
            goods = list_of(root, "goods_list", method)
            listings = [x for entry in goods for x in listings_from_goods(entry, self.name)]
            listings = await self.priced(listings, by_goods=True)
            following = next_page_number(page, size, len(goods), total_count(root, method))
            return Page(listings, following)

        async for listing in paginate(fetch, 1, what=method):
            yield listing

    async def find_listings(self, merchant_codes: Sequence[str]) -> list[Listing]:
        """Read the SKUs with these merchant codes: the goods list filtered by ``outer_id``.

        One call per code (PDD filters by one SKU code at a time), skipped for a code a
        goods read earlier already carried; then each SKU's price, one SKU per call.
        """
        method = "pdd.goods.list.get"
        wanted = set(merchant_codes)
        found: dict[tuple[str, str | None], Listing] = {}
        for code in dict.fromkeys(merchant_codes):
            if any(listing.merchant_code == code for listing in found.values()):
                continue
            root = await self.call(method, {"outer_id": code, "page": 1, "page_size": 100})
            for entry in list_of(root, "goods_list", method):
                for listing in listings_from_goods(entry, self.name):
                    key = (listing.item_id, listing.sku_id)
                    if listing.merchant_code in wanted and key not in found:
                        found[key] = listing
        return await self.priced(list(found.values()), by_goods=False)

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """List (上架) or delist (下架) whole goods, one call each."""

        async def send(change: ListingStatusChange) -> None:
            on_sale = 1 if change.status is ListingStatus.ON_SALE else 0
            method = "pdd.goods.sale.status.set"
            root = await self.call(method, {"goods_id": change.item_id, "is_onsale": on_sale})
            require_success(root, method)

        return await self._each(batch, send)

    # -- stock ----------------------------------------------------------------------

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Set (update_type 1) or change (update_type 2) the stock of one SKU per call."""

        async def send(update: StockUpdate) -> None:
            if update.sku_id is None and update.merchant_code is None:
                raise InvalidRequestError(
                    "a PDD stock update needs the SKU id or its merchant code", code="10000"
                )
            method = "pdd.goods.quantity.update"
            params: dict[str, Any] = {
                "goods_id": update.item_id,
                "quantity": update.quantity,
                "update_type": 1 if update.mode is StockUpdateMode.ABSOLUTE else 2,
            }
            if update.sku_id is not None:
                params["sku_id"] = update.sku_id
            else:
                params["outer_id"] = update.merchant_code
            require_success(await self.call(method, params), method)

        return await self._each(batch, send)

    # -- prices ---------------------------------------------------------------------

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Set group prices in fen, one call per goods; refused items do not stop the rest."""
        failed: dict[int, UpdateResult] = {}
        by_goods: dict[str, list[int]] = {}
        fen: dict[int, int] = {}
        for index, change in enumerate(batch):
            if change.sku_id is None:
                failed[index] = UpdateResult.failure(change, "a PDD price change needs the SKU id")
                continue
            try:
                fen[index] = money_to_fen(change.price)
            except ModelError as exc:
                failed[index] = UpdateResult.failure(change, str(exc), code="price")
                continue
            by_goods.setdefault(change.item_id, []).append(index)
        done: dict[int, UpdateResult] = {}
        for goods_id, indexes in by_goods.items():
            changes = [batch[i] for i in indexes]
            outcome = await self._each_goods(goods_id, changes, [fen[i] for i in indexes])
            done.update(zip(indexes, outcome, strict=True))
        return [failed.get(i) or done[i] for i in range(len(batch))]

    async def _each_goods(
        self, goods_id: str, changes: list[PriceChange], prices: list[int]
    ) -> list[UpdateResult]:
        # The whole goods is one price commit on PDD: it succeeds or fails as one.
        try:
            # A read of the last minutes (the scan's, the guard's) stands for a fresh one.
            current = await self.current_prices(goods_id, [str(c.sku_id) for c in changes])
        except ChannelError as error:
            if not is_item_error(error):
                raise
            return [UpdateResult.failure(c, str(error), code=error.code) for c in changes]
        plan = plan_commit(goods_id, changes, prices, current)
        refused = plan.refused
        if not plan.entries:
            return [refused[i] for i in range(len(changes))]
        method = "pdd.goods.sku.price.update"
        params = {"goods_id": goods_id, "sku_price_list": plan.entries, "sync_goods_operate": 1}
        problem: ItemError | None = None
        # Until PDD confirms the commit, what was read of these SKUs may be out of date.
        self.price_memo.forget(goods_id, plan.written)
        try:
            require_success(await self.call(method, params), method)
        except Refused as exc:
            problem = ItemError(code="is_success", message=str(exc))
        except ChannelError as exc:
            if not is_item_error(exc):
                raise
            problem = ItemError(code=exc.code, message=str(exc))
        if problem is None:
            self.price_memo.put(goods_id, plan.written)
        return [
            refused.get(i)
            or (
                UpdateResult.success(change)
                if problem is None
                else UpdateResult.failure(change, problem.message, code=problem.code)
            )
            for i, change in enumerate(changes)
        ]

    # -- orders ---------------------------------------------------------------------

    async def _backward(
        self, method: str, params: Mapping[str, Any], key: str, size: int
    ) -> AsyncIterator[Any]:
        """Yield every entry of a windowed list, reading the last page first as PDD advises.

        An entry that changes while the pages are read leaves the window; reading
        backwards, that shifts entries onto pages already read instead of past them.
        """
        first = await self.call(method, {**params, "page": 1, "page_size": size})
        last = math.ceil(total_count(first, method) / size)
        if last <= 1:
            for entry in list_of(first, key, method):
                yield entry
            return

        async def fetch(page: int) -> Page[Any, int]:
            root = await self.call(method, {**params, "page": page, "page_size": size})
            return Page(list_of(root, key, method), page - 1 if page > 1 else None)

        async for entry in paginate(fetch, last, what=method):
            yield entry

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order updated inside ``window`` (at most 30 minutes)."""
        params = {
            "start_updated_at": to_unix(window.start),
            "end_updated_at": to_unix(window.end),
            "order_status": 5,
            "refund_status": 5,
            "is_lucky_flag": 0,
        }
        method = "pdd.order.number.list.increment.get"
        size = self.limits.batch_size(Operation.PULL_ORDERS)
        async for record in self._backward(method, params, "order_sn_list", size):
            yield order_from_record(record, self.name)

    async def _order_record(self, order_id: str) -> dict[str, Any]:
        method = "pdd.order.information.get"
        root = await self.call(method, {"order_sn": order_id})
        info = root.get("order_info")
        if not isinstance(info, Mapping) or not info.get("order_sn"):
            raise NotFoundError(
                f"order {order_id!r} does not exist", channel=self.name, operation=method
            )
        return dict(info)

    async def get_order(self, order_id: str) -> Order:
        """Return one order with full detail (``NotFoundError`` when PDD has none)."""
        return order_from_record(await self._order_record(order_id), self.name)

    # -- shipments ------------------------------------------------------------------

    async def carriers(self) -> list[PddCarrier]:
        """Return PDD's logistics companies (read once per open channel)."""
        if self._carriers is None:
            method = "pdd.logistics.companies.get"
            root = await self.call(method)
            entries = list_of(root, "logistics_companies", method)
            self._carriers = [carrier_from_record(entry) for entry in entries]
        return list(self._carriers)

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Ship a whole order online; an order already shipped with this number is a success."""
        operation = SHIP_METHOD
        record = await self._order_record(shipment.order_id)
        order = order_from_record(record, self.name)
        done = already_shipped(record, shipment)
        if done is not None:
            return done
        check_shippable(order, shipment)
        company = find_carrier(
            await self.carriers(),
            shipment.carrier,
            code=self.limits.carrier_code(shipment.carrier),
            name=shipment.carrier_name,
        )
        if company is None:
            raise InvalidRequestError(
                f"no available PDD logistics company for carrier {shipment.carrier.value!r}",
                operation=operation,
            )
        params = {
            "order_sn": shipment.order_id,
            "logistics_id": company.logistics_id,
            "tracking_number": shipment.tracking_number,
            "redelivery_type": 1,
        }
        try:
            require_success(await self.call(operation, params), operation)
        except Refused:
            # Refused first shipments are what PDD answers for an order shipped meanwhile.
            again = already_shipped(await self._order_record(shipment.order_id), shipment)
            if again is not None:
                return again
            raise ConflictError(
                f"PDD refused to ship order {shipment.order_id!r}", operation=operation
            ) from None
        return ShipmentResult(order_id=shipment.order_id, marketplace_ref=str(company.logistics_id))

    # -- refunds --------------------------------------------------------------------

    async def fetch_refunds(self, window: TimeWindow) -> AsyncIterator[Refund]:
        """Yield every after-sales case updated inside ``window``, status by status."""
        method = "pdd.refund.list.increment.get"
        for status in REFUND_QUERY_STATUSES:
            params = {
                "after_sales_status": status,
                "after_sales_type": 1,
                "start_updated_at": to_unix(window.start),
                "end_updated_at": to_unix(window.end),
            }
            size = self.limits.batch_size(Operation.PULL_REFUNDS)
            async for record in self._backward(method, params, "refund_list", size):
                yield refund_from_record(record, self.name)
