"""The ``douyin`` channel: one Douyin Shop (抖店) through the open platform gateway.

Orders are pulled with ``order.searchList`` by update time and read one by one with
``order.orderDetail``; stock is set per SKU with ``sku.syncStock``; shipments are
confirmed with ``order.logisticsAdd``. Listings are read (``product.listV2`` and
``sku.list``) to bind merchant codes and to read stock back, but not listed or
delisted: relisting needs ``product.editV2`` with the whole product.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from channelsync.channels import (
    Capability,
    Channel,
    ChannelLimits,
    ChannelSettings,
    InventoryCapability,
    Operation,
    OrdersCapability,
    OrderWindow,
    RateLimit,
    ShipmentsCapability,
    TimeWindow,
)
from channelsync.errors import ConflictError, DataError, InvalidRequestError
from channelsync.http import AccessToken, ResponseClassifier, TokenCache
from channelsync.models import (
    Listing,
    Order,
    Shipment,
    ShipmentResult,
    StockUpdate,
    UpdateResult,
)
from pydantic import Field

from channelsync_douyin.codes import ALREADY_SHIPPED
from channelsync_douyin.envelope import (
    DouyinClassifier,
    get_int,
    get_list,
    get_record,
    get_str,
    read_data,
)
from channelsync_douyin.mapping import CARRIER_CODES, parse_listings, parse_order, to_unix
from channelsync_douyin.signing import DouyinSigner, ParamValue, SignMethod, param_json

__all__ = ["DOUYIN_LIMITS", "MAX_SEARCH_RESULTS", "DouyinChannel", "DouyinSettings"]

#: ``order.searchList`` pages at most 50,000 orders deep (isv.parameter-invalid:20013).
MAX_SEARCH_RESULTS = 50_000
#: ``product.listV2``: page * size must stay within 10,000.
MAX_PRODUCT_RESULTS = 10_000


_READ = RateLimit(rate=10.0, burst=10)
_WRITE = RateLimit(rate=5.0, burst=5)

#: Per-method QPS is granted per app and not published; these stay well inside it.
DOUYIN_LIMITS = ChannelLimits(
    # Shipping twice may record two shipments: never resent, settled by reading the order.
    unsafe_writes=frozenset({"order.logisticsAdd"}),
    batch_sizes={
        Operation.LIST_LISTINGS: 100,
        Operation.SET_STOCK: 1,
        Operation.PULL_ORDERS: 100,
    },
    rate_limits={
        "order.searchList": _READ,
        "order.orderDetail": _READ,
        "product.listV2": _READ,
        "sku.list": _READ,
        "sku.syncStock": _WRITE,
        "order.logisticsAdd": _WRITE,
        "token.refresh": RateLimit(rate=1.0, burst=1),
    },
    default_rate_limit=RateLimit(rate=5.0, burst=5),
    order_window=OrderWindow(
        max_span=timedelta(days=1),
        default_span=timedelta(minutes=30),
        lag=timedelta(minutes=1),
        overlap=timedelta(minutes=5),
        paging="backward",
    ),
    carrier_codes=CARRIER_CODES,
    stock_delta=False,
)


class DouyinSettings(ChannelSettings):
    """The non-secret settings of a Douyin Shop channel."""

    app_key: str = Field(min_length=1)
    """The app's ``app_key`` (19 digits on the open platform)."""
    sign_method: SignMethod = "hmac-sha256"
    """``hmac-sha256`` (what the official SDKs send) or ``md5``."""
    page_size: int = Field(default=100, ge=1, le=100)
    """Orders and products per page (the gateway allows at most 100; the declared
    limits cap it too)."""


class DouyinChannel(
    Channel[DouyinSettings], OrdersCapability, InventoryCapability, ShipmentsCapability
):
    """A Douyin Shop (抖店) through the Douyin e-commerce open platform."""

    type_name: ClassVar[str] = "douyin"
    display_name: ClassVar[str] = "Douyin Shop (抖店)"
    settings_model: ClassVar[type[ChannelSettings]] = DouyinSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("app_secret", "access_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://openapi-fxg.jinritemai.com"
    limits: ClassVar[ChannelLimits] = DOUYIN_LIMITS
    status_note: ClassVar[str] = "listing, delisting, prices and refunds are out of scope"
    capability_notes: ClassVar[Mapping[Capability, str]] = {
        Capability.ORDERS: (
            "incremental pull by update time (order.searchList, 30-minute windows, pages "
            "read last to first, 100 per page), one order by id (order.orderDetail); "
            "receiver data stays masked as the gateway gives it. Orders older than 90 "
            "days cannot be searched."
        ),
        Capability.INVENTORY: (
            "absolute stock of one SKU per call (sku.syncStock, normal stock only); area "
            "and step stock and sku.syncStockBatch (all-or-nothing per product) are out "
            "of scope. Listings are read with product.listV2 and sku.list."
        ),
        Capability.SHIPMENTS: (
            "whole-order shipment (order.logisticsAdd); an order already shipped counts "
            "as success. Split parcels (order.logisticsAddMultiPack) are out of scope."
        ),
    }

    # -- wiring -----------------------------------------------------------------------

    def build_auth(self) -> httpx.Auth:
        """Return the signer; it refreshes the access token when the shop has a refresh token."""
        refresh = self._refresh_token if self.credentials.get("refresh_token") else None
        tokens = TokenCache(
            refresh,
            initial=AccessToken(self.credentials.require("access_token")),
            clock=self.clock,
            redactor=self.redactor,
        )
        return DouyinSigner(
            tokens,
            app_key=self.settings.app_key,
            secret=lambda: self.credentials.require("app_secret"),
            sign_method=self.settings.sign_method,
            clock=self.clock,
        )

    def build_classifier(self) -> ResponseClassifier:
        """Return the reader of the gateway envelope."""
        return DouyinClassifier(self.clock)

    async def call(self, method: str, params: Mapping[str, ParamValue]) -> Any:
        """Call a gateway method (``order.searchList``) and return the answer's ``data``."""
        response = await self.http.request(
            "POST",
            "/" + method.replace(".", "/"),
            operation=method,
            content=param_json(params).encode("utf-8"),
            headers={
                "Content-Type": "application/json;charset=UTF-8",
                # Asks for the current error codes instead of the old err_no ones.
                "x-open-no-old-err-code": "1",
            },
        )
        return read_data(response, method)

    def page_size(self, operation: Operation) -> int:
        """Return the page size for a paged read: the setting, within the declared limit."""
        return min(self.settings.page_size, self.limits.batch_size(operation))

    async def _refresh_token(self) -> AccessToken:
        data = await self.call(
            "token.refresh",
            {
                "grant_type": "refresh_token",
                "refresh_token": self.credentials.require("refresh_token"),
            },
        )
        token = get_str(data, "access_token", "token.refresh")
        refresh = get_str(data, "refresh_token", "token.refresh")
        self.redactor.add_secret(refresh)
        self.credentials.set("access_token", token)
        self.credentials.set("refresh_token", refresh)
        return AccessToken(token, float(get_int(data, "expires_in", "token.refresh")))

    # -- orders -----------------------------------------------------------------------

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order updated in ``[start, end)`` of ``window``, across all pages."""
        # Whether the gateway's bounds are inclusive is not documented: ask one second
        # wider on both sides, then keep exactly the half-open window.
        start = to_unix(window.start) - 1
        end = math.ceil(window.end.timestamp())
        async for record in self._search(start, end):
            order = parse_order(record, self.name)
            if window.start <= order.updated_at < window.end:
                yield order

    async def _search(self, start: int, end: int) -> AsyncIterator[object]:
        size = self.page_size(Operation.PULL_ORDERS)
        first, total = await self._search_page(start, end, 0)
        if total > MAX_SEARCH_RESULTS:
            if end - start < 2:
                raise DataError(
                    f"more than {MAX_SEARCH_RESULTS} orders updated within one second",
                    operation="order.searchList",
                )
            middle = (start + end) // 2
            async for record in self._search(start, middle):
                yield record
            async for record in self._search(middle, end):
                yield record
            return
        for record in first:
            yield record
        pages = math.ceil(total / size)
        if pages <= 1:
            return
        # Orders leaving the window while it is read shift later pages forward; reading
        # last to first (and the first page again) never skips one.
        for page in [*range(pages - 1, 0, -1), 0]:
            records, _ = await self._search_page(start, end, page)
            for record in records:
                yield record

    async def _search_page(self, start: int, end: int, page: int) -> tuple[list[object], int]:
        data = await self.call(
            "order.searchList",
            {
                "update_time_start": start,
                "update_time_end": end,
                "order_by": "update_time",
                "order_asc": True,
                "page": page,
                "size": self.page_size(Operation.PULL_ORDERS),
            },
        )
        what = f"order.searchList page {page}"
        records = get_list(data, "shop_order_list", what, default_empty=True)
        return records, get_int(data, "total", what)

    async def get_order(self, order_id: str) -> Order:
        """Return one order by its shop order id; ``NotFoundError`` when there is none."""
        data = await self.call("order.orderDetail", {"shop_order_id": order_id})
        return parse_order(get_record(data, "shop_order_detail", "order.orderDetail"), self.name)

    # -- listings (read only) ----------------------------------------------------------

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield one listing per SKU of every product on sale or in the warehouse."""
        size = self.page_size(Operation.LIST_LISTINGS)
        page = 1
        while True:
            data = await self.call("product.listV2", {"page": page, "size": size})
            what = f"product.listV2 page {page}"
            products = get_list(data, "data", what, default_empty=True)
            for product in products:
                product_id = get_str(product, "product_id", what)
                skus = await self.call("sku.list", {"product_id": int(product_id)})
                if not isinstance(skus, list):
                    raise DataError(f"sku.list of {product_id}: 'data' is not a list")
                for listing in parse_listings(product, skus, self.name):
                    yield listing
            total = get_int(data, "total", what)
            if not products or page * size >= min(total, MAX_PRODUCT_RESULTS):
                return
            page += 1

    # -- stock ------------------------------------------------------------------------

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Set the absolute stock of each SKU, one ``sku.syncStock`` call each."""
        results = []
        for update in batch:
            if update.sku_id is None:
                results.append(UpdateResult.failure(update, "Douyin stock is set per SKU"))
                continue
            try:
                product_id, sku_id = int(update.item_id), int(update.sku_id)
            except ValueError:
                results.append(
                    UpdateResult.failure(update, "Douyin product and SKU ids are numbers")
                )
                continue
            await self.call(
                "sku.syncStock",
                {
                    "product_id": product_id,
                    "sku_id": sku_id,
                    "stock_num": update.quantity,
                    "incremental": False,
                },
            )
            results.append(UpdateResult.success(update))
        return results

    # -- shipments --------------------------------------------------------------------

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Confirm shipment of a whole order; "already shipped" is a success."""
        if shipment.partial:
            raise InvalidRequestError(
                "Douyin ships whole orders through order.logisticsAdd; split parcels are "
                "not supported by this plugin",
                channel=self.name,
                operation="order.logisticsAdd",
            )
        params: dict[str, ParamValue] = {
            "order_id": shipment.order_id,
            "company_code": self.carrier_code(shipment.carrier),
            "logistics_code": shipment.tracking_number,
        }
        try:
            await self.call("order.logisticsAdd", params)
        except ConflictError as error:
            if error.code == ALREADY_SHIPPED:
                return ShipmentResult(order_id=shipment.order_id, already_shipped=True)
            raise
        return ShipmentResult(order_id=shipment.order_id)
