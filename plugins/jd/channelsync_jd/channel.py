"""The ``jd`` channel: JD POP shops through the JOS ``routerjson`` gateway."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field

from channelsync.channels import (
    Capability,
    Channel,
    ChannelLimits,
    ChannelSettings,
    InventoryCapability,
    ListingLookupCapability,
    ListingsCapability,
    ListingScope,
    Operation,
    OrderCountCapability,
    OrdersCapability,
    OrderWindow,
    Page,
    PricingCapability,
    RateLimit,
    ShipmentsCapability,
    TimeWindow,
    next_page_number,
    paginate,
)
from channelsync.clock import format_local_time
from channelsync.errors import (
    ChannelError,
    DataError,
    InvalidRequestError,
    NotFoundError,
)
from channelsync.http import AccessToken, ResponseClassifier, TokenCache
from channelsync.models import (
    Carrier,
    Listing,
    ListingStatus,
    ListingStatusChange,
    Order,
    PriceChange,
    Shipment,
    ShipmentResult,
    StockUpdate,
    UpdateResult,
)
from channelsync_jd.codes import is_item_level
from channelsync_jd.envelope import (
    JosClassifier,
    api_result_error,
    decode_body,
    flag,
    result_root,
    text_of,
)
from channelsync_jd.mapping import (
    CURRENCY,
    ORDER_STATES,
    SELF_DELIVERY_CODE,
    WARE_STATUSES,
    JdCarrier,
    carrier_from_record,
    is_self_delivery,
    listing_from,
    order_from_info,
    record_id,
)
from channelsync_jd.methods import (
    CODES_PER_SKU_SEARCH,
    EXPIRY_FIELD,
    GET_ORDER,
    LIST_CARRIERS,
    MAX_WARE_PAGES,
    METHODS,
    ORDER_FIELDS,
    SEARCH_ORDERS,
    SEARCH_SKUS,
    SEARCH_WARES,
    SHIP_ORDER,
    SHIPPED,
    SKU_FIELDS,
    TOKEN_REFRESH_MARGIN,
    UP_OR_DOWN,
    UPDATE_PRICE,
    UPDATE_STOCK,
    WARE_FIELDS,
    WARE_IDS_PER_SEARCH,
    WARES_PER_SKU_SEARCH,
    numeric,
    page_of,
    split_window,
)
from channelsync_jd.oauth import refresh_access_token, refresh_url_for
from channelsync_jd.signing import PARAM_JSON, JosSigner, ParamValue, SignMethod, param_json

__all__ = ["JdChannel", "JdSettings"]

logger = logging.getLogger("channelsync.jd")


class JdSettings(ChannelSettings):
    """Non-secret settings of a ``jd`` channel entry in ``channelsync.toml``."""

    app_key: str = Field(min_length=1, description="The app's app_key.")
    sign_method: SignMethod = "md5"


class JdChannel(
    Channel[JdSettings],
    ListingsCapability,
    ListingLookupCapability,
    InventoryCapability,
    PricingCapability,
    OrdersCapability,
    OrderCountCapability,
    ShipmentsCapability,
):
    """JD POP shops through the JD Open Platform (JOS) routerjson gateway."""

    type_name: ClassVar[str] = "jd"
    demo_module: ClassVar[str | None] = "channelsync_jd.fake"
    display_name: ClassVar[str] = "JD (JOS)"
    settings_model: ClassVar[type[ChannelSettings]] = JdSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("app_secret", "access_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://api.jd.com/routerjson"
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._carriers: tuple[JdCarrier, ...] | None = None
        self.tokens: TokenCache | None = None

    # -- transport ------------------------------------------------------------------

    def build_classifier(self) -> ResponseClassifier:
        """Read JOS envelopes and error codes."""
        return JosClassifier(self.clock)

    def build_auth(self) -> httpx.Auth:
        """Sign every call with the shop's token, refreshing it where a refresh token exists."""
        can_refresh = bool(self.credentials.get("refresh_token"))
        self.tokens = TokenCache(
            self._refresh if can_refresh else None,
            initial=AccessToken(
                self.credentials.require("access_token"), expires_in=self._stored_lifetime()
            ),
            clock=self.clock,
            margin=TOKEN_REFRESH_MARGIN,
            redactor=self.redactor,
        )
        return JosSigner(
            self.tokens,
            app_key=self.settings.app_key,
            secret=lambda: self.credentials.require("app_secret"),
            sign_method=self.settings.sign_method,
            clock=self.clock,
        )

    def _stored_lifetime(self) -> float | None:
        stored = self.credentials.get(EXPIRY_FIELD)
        if not stored:
            return None
        try:
            expires_at = datetime.fromisoformat(stored)
        except ValueError:
            logger.warning("channel %r: ignoring an unreadable %s", self.name, EXPIRY_FIELD)
            return None
        if expires_at.tzinfo is None:
            return None
        return (expires_at - self.clock.now()).total_seconds()

    async def _refresh(self) -> AccessToken:
        refresh_token = self.credentials.require("refresh_token")
        issued = await refresh_access_token(
            url=refresh_url_for(self.settings.base_url),
            app_key=self.settings.app_key,
            app_secret=self.credentials.require("app_secret"),
            refresh_token=refresh_token,
            channel=self.name,
            transport=self._transport,
        )
        self.redactor.add_secret(issued.access_token)
        self.credentials.set("access_token", issued.access_token)
        if issued.refresh_token and issued.refresh_token != refresh_token:
            self.redactor.add_secret(issued.refresh_token)
            self.credentials.set("refresh_token", issued.refresh_token)
        if issued.expires_in is not None:
            expires_at = self.clock.now() + timedelta(seconds=issued.expires_in)
            self.credentials.set(EXPIRY_FIELD, expires_at.isoformat())
        logger.info("channel %r: access token refreshed", self.name)
        return AccessToken(issued.access_token, expires_in=issued.expires_in)

    async def call(self, method: str, params: Mapping[str, ParamValue]) -> dict[str, Any]:
        """Call one JOS method with its business parameters; return its success root."""
        response = await self.http.request(
            "POST",
            self.base_url,
            operation=method,
            data={"method": method, PARAM_JSON: param_json(params)},
        )
        return result_root(decode_body(response, method), method)

    async def _write_one(
        self,
        update: StockUpdate | PriceChange | ListingStatusChange,
        method: str,
        params: Mapping[str, ParamValue],
    ) -> UpdateResult:
        """Send one single-item write; the item's own refusal is a result, not an error."""
        try:
            root = await self.call(method, params)
        except ChannelError as error:
            if not is_item_level(error):
                raise
            return UpdateResult.failure(update, error.message, code=error.code)
        success = flag(root.get("success"))
        if success is None and "success" not in root:
            # Methods without a result flag succeed with root code "0".
            return UpdateResult.success(update)
        if not success:
            reason = text_of(root, "message", "errorMessage", "en_desc", "zh_desc")
            return UpdateResult.failure(
                update, reason or f"{method} refused the update", code=text_of(root, "code")
            )
        return UpdateResult.success(update)

    # -- listings -------------------------------------------------------------------

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield one listing per SKU of every ware, paging wares then their SKUs.

        The ware search is reported to answer nothing past page 100: a shop with more
        wares is read that far, the scan is marked capped, and :meth:`find_listings`
        finds the rest by merchant code.
        """
        size = self.limits.batch_size(Operation.LIST_LISTINGS)
        self.scan_capped = False
        page_no: int | None = 1
        while page_no is not None:
            root = await self.call(
                SEARCH_WARES,
                {
                    "wareStatusValue": list(WARE_STATUSES),
                    "field": WARE_FIELDS,
                    "pageNo": page_no,
                    "pageSize": size,
                },
            )
            wares, total = page_of(root, SEARCH_WARES)
            for start in range(0, len(wares), WARES_PER_SKU_SEARCH):
                chunk = wares[start : start + WARES_PER_SKU_SEARCH]
                skus = await self._skus_of([record_id(w.get("wareId"), "wareId") for w in chunk])
                for ware in chunk:
                    for sku in skus.get(record_id(ware.get("wareId"), "wareId"), []):
                        yield listing_from(ware, sku, channel=self.name)
            page_no = next_page_number(page_no, size, len(wares), total)
            if page_no is not None and page_no > MAX_WARE_PAGES:
                logger.warning(
                    "channel %r: the ware search stops after %d pages; %s wares not read",
                    self.name,
                    MAX_WARE_PAGES,
                    "some" if total is None else total - MAX_WARE_PAGES * size,
                )
                self.scan_capped = True
                return

    async def find_listings(self, merchant_codes: Sequence[str]) -> list[Listing]:
        """Read the SKUs with these merchant codes, then their wares, as a scan maps them.

        ``searchSkuList`` filtered by ``outId`` (20 codes a call, paged), then
        ``searchWare4Valid`` by ``wareId`` (20 wares a call) for each ware's title and
        status. A SKU whose ware the ware search does not answer is left out, as a scan
        would leave it. A code with a comma cannot travel in the comma-separated
        ``outId``: such codes are found by a scan of the shop instead.
        """
        codes = list(dict.fromkeys(code for code in merchant_codes if code))
        wanted = set(codes)
        if any("," in code for code in codes):
            return [
                listing async for listing in self.iter_listings() if listing.merchant_code in wanted
            ]
        skus: list[dict[str, Any]] = []
        for start in range(0, len(codes), CODES_PER_SKU_SEARCH):
            batch = codes[start : start + CODES_PER_SKU_SEARCH]
            async for sku in self._sku_rows({"outId": ",".join(batch)}):
                # Only exact codes: how JD matches outId (whole code or part) is not documented.
                if str(sku.get("outerId") or "") in wanted:
                    skus.append(sku)
        wares = await self._wares_by_id(
            list(dict.fromkeys(record_id(sku.get("wareId"), "wareId") for sku in skus))
        )
        found: dict[tuple[str, str | None], Listing] = {}
        for sku in skus:
            ware = wares.get(record_id(sku.get("wareId"), "wareId"))
            if ware is not None:
                listing = listing_from(ware, sku, channel=self.name)
                found.setdefault((listing.item_id, listing.sku_id), listing)
        return list(found.values())

    async def _wares_by_id(self, ware_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the ware records of ``ware_ids`` by id, 20 ids a call (whatever their status)."""
        size = self.limits.batch_size(Operation.LIST_LISTINGS)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ware_ids), WARE_IDS_PER_SEARCH):
            batch = ",".join(ware_ids[start : start + WARE_IDS_PER_SEARCH])

            async def fetch(page_no: int, batch: str = batch) -> Page[dict[str, Any], int]:
                root = await self.call(
                    SEARCH_WARES,
                    {
                        "wareId": batch,
                        "wareStatusValue": list(WARE_STATUSES),
                        "field": WARE_FIELDS,
                        "pageNo": page_no,
                        "pageSize": size,
                    },
                )
                wares, total = page_of(root, SEARCH_WARES)
                return Page(wares, next_page_number(page_no, size, len(wares), total))

            async for ware in paginate(fetch, 1, what=SEARCH_WARES):
                found[record_id(ware.get("wareId"), "wareId")] = ware
        return found

    async def _skus_of(self, ware_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        by_ware: dict[str, list[dict[str, Any]]] = {}
        async for sku in self._sku_rows({"wareId": ",".join(ware_ids)}):
            by_ware.setdefault(record_id(sku.get("wareId"), "wareId"), []).append(sku)
        return by_ware

    async def _sku_rows(self, where: Mapping[str, ParamValue]) -> AsyncIterator[dict[str, Any]]:
        """Yield every SKU record ``searchSkuList`` answers for the filter ``where``, paged."""
        size = self.limits.batch_size(Operation.LIST_LISTINGS)

        async def fetch(page_no: int) -> Page[dict[str, Any], int]:
            root = await self.call(
                SEARCH_SKUS,
                {
                    **where,
                    "field": SKU_FIELDS,
                    "pageNo": page_no,
                    # JD's own casing: pageNo but page_size in this method.
                    "page_size": size,
                },
            )
            rows, total = page_of(root, SEARCH_SKUS)
            return Page(rows, next_page_number(page_no, size, len(rows), total))

        async for sku in paginate(fetch, 1, what=SEARCH_SKUS):
            yield sku

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """List (``opType`` 1) or delist (``opType`` 2) each change's whole ware."""
        results = []
        for change in batch:
            try:
                ware_id = numeric(change.item_id, "ware id")
            except InvalidRequestError as error:
                results.append(UpdateResult.failure(change, error.message))
                continue
            listing = change.status is ListingStatus.ON_SALE
            params: dict[str, ParamValue] = {
                "wareId": ware_id,
                "opType": 1 if listing else 2,
                "note": "channelsync: list" if listing else "channelsync: delist",
            }
            results.append(await self._write_one(change, UP_OR_DOWN, params))
        return results

    # -- stock and price ------------------------------------------------------------

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Set each SKU's absolute stock, one call per SKU."""
        results = []
        for update in batch:
            try:
                sku_id = numeric(update.sku_id, "SKU id")
            except InvalidRequestError as error:
                results.append(UpdateResult.failure(update, error.message))
                continue
            params: dict[str, ParamValue] = {"skuId": sku_id, "stockNum": update.quantity}
            results.append(await self._write_one(update, UPDATE_STOCK, params))
        return results

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Set each SKU's JD price in yuan, one call per SKU."""
        results = []
        for change in batch:
            price = change.price
            try:
                sku_id = numeric(change.sku_id, "SKU id")
            except InvalidRequestError as error:
                results.append(UpdateResult.failure(change, error.message))
                continue
            if price.currency != CURRENCY:
                refusal = f"JD prices are in {CURRENCY}, not {price.currency}"
                results.append(UpdateResult.failure(change, refusal))
                continue
            if price.amount != price.quantize().amount:
                refusal = f"JD prices have at most 2 decimals, got {price}"
                results.append(UpdateResult.failure(change, refusal))
                continue
            params: dict[str, ParamValue] = {"skuId": sku_id, "jdPrice": price.quantize().amount}
            results.append(await self._write_one(change, UPDATE_PRICE, params))
        return results

    # -- orders ---------------------------------------------------------------------

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order modified inside ``window``, cut into spans JD accepts."""
        size = self.limits.batch_size(Operation.PULL_ORDERS)
        for piece in split_window(window, self.limits.order_window.max_span):
            async for info in self._order_infos(piece, size):
                yield order_from_info(info, channel=self.name)

    async def _order_infos(self, piece: TimeWindow, size: int) -> AsyncIterator[dict[str, Any]]:
        """Yield the orders of one span: the last page first, page 1 again at the end.

        An order that changes while the pages are read leaves the span and moves the
        ones behind it a place forward; read backwards, they move onto pages still to
        come instead of past the reader. Without a total, pages are read forward until
        a short one.
        """
        first = await self._search_orders(piece.start, piece.end, 1, size)
        infos, total = _order_page(first)
        if total is None:
            page: int | None = 1
            while page is not None:
                for info in infos:
                    yield info
                page = next_page_number(page, size, len(infos), None)
                if page is not None:
                    infos, _ = _order_page(
                        await self._search_orders(piece.start, piece.end, page, size)
                    )
            return
        pages = max(1, math.ceil(total / size))
        if pages == 1:
            for info in infos:
                yield info
            return
        for number in range(pages, 0, -1):
            infos, _ = _order_page(await self._search_orders(piece.start, piece.end, number, size))
            for info in infos:
                yield info

    async def count_orders(self, window: TimeWindow) -> int:
        """Return JD's ``orderTotal`` for orders created in ``window``, in one call.

        A search by creation time (``dateType`` 1) over every state, one order a page:
        JD's bounds are whole seconds and inclusive, so the end is the second before
        ``window.end``.
        """
        last = max(window.start, window.end - timedelta(seconds=1))
        result = await self._search_orders(window.start, last, 1, 1, by_created=True)
        _, total = _order_page(result)
        if total is None:
            raise DataError("the answer has no orderTotal", operation=SEARCH_ORDERS)
        return total

    async def _search_orders(
        self, start: datetime, end: datetime, page: int, size: int, *, by_created: bool = False
    ) -> dict[str, Any]:
        root = await self.call(
            SEARCH_ORDERS,
            {
                "start_date": format_local_time(start),
                "end_date": format_local_time(end),
                # 0: filter on modification time (state or waybill changes); 1: creation.
                "dateType": "1" if by_created else "0",
                "order_state": ",".join(ORDER_STATES),
                "optional_fields": ORDER_FIELDS,
                "page": str(page),
                "page_size": str(size),
                "sortType": "0",
            },
        )
        result = root.get("searchorderinfo_result")
        if not isinstance(result, dict):
            raise DataError("the answer has no searchorderinfo_result", operation=SEARCH_ORDERS)
        self._raise_for_api_result(result, SEARCH_ORDERS)
        return result

    @staticmethod
    def _raise_for_api_result(result: Mapping[str, Any], method: str) -> None:
        api_result = result.get("apiResult")
        if not isinstance(api_result, dict):
            raise DataError("the result has no apiResult", operation=method)
        error = api_result_error(api_result, method)
        if error is not None:
            raise error

    async def get_order(self, order_id: str) -> Order:
        """Return one order with its lines (``NotFoundError`` when JD does not know it)."""
        if not order_id.isdigit():
            raise NotFoundError(
                f"order {order_id!r} cannot exist on JD (ids are numbers)",
                channel=self.name,
                operation=GET_ORDER,
            )
        root = await self.call(
            GET_ORDER, {"order_id": int(order_id), "optional_fields": ORDER_FIELDS}
        )
        detail = root.get("orderDetailInfo")
        if not isinstance(detail, dict):
            raise DataError("the answer has no orderDetailInfo", operation=GET_ORDER)
        self._raise_for_api_result(detail, GET_ORDER)
        info = detail.get("orderInfo")
        if not isinstance(info, dict):
            raise NotFoundError(f"order {order_id} not found", operation=GET_ORDER)
        return order_from_info(info, channel=self.name)

    async def marketplace_now(self) -> datetime:
        """Return the time windows are planned against (the local clock; JD has no time API)."""
        return self.clock.now()

    # -- shipments ------------------------------------------------------------------

    async def list_carriers(self, *, refresh: bool = False) -> tuple[JdCarrier, ...]:
        """Return the carriers the shop can ship with (cached for the channel's life)."""
        if self._carriers is not None and not refresh:
            return self._carriers
        root = await self.call(LIST_CARRIERS, {"fields": "id,name,description"})
        rows = root.get("delivery_companies")
        if rows is None:
            rows = next((v for v in root.values() if isinstance(v, list)), [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise DataError("the carrier list is not a list of records", operation=LIST_CARRIERS)
        self._carriers = tuple(carrier_from_record(row) for row in rows)
        return self._carriers

    async def _carrier_for(self, shipment: Shipment) -> tuple[str, bool]:
        """Return JD's carrier id for ``shipment`` and whether it is self-delivery."""
        if shipment.carrier is Carrier.OTHER and is_self_delivery(shipment.carrier_name):
            return SELF_DELIVERY_CODE, True
        for known in await self.list_carriers():
            if shipment.carrier is Carrier.OTHER:
                if known.name == shipment.carrier_name:
                    return known.code, known.self_delivery
            elif known.carrier is shipment.carrier:
                return known.code, False
        return self.carrier_code(shipment.carrier), False

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Confirm the outbound shipment of a whole order with carrier id and tracking number."""
        if shipment.partial:
            raise InvalidRequestError(
                "JD ships whole orders; partial shipments are not supported",
                channel=self.name,
                operation=SHIP_ORDER,
            )
        order_id = numeric(shipment.order_id, "order id")
        code, self_delivery = await self._carrier_for(shipment)
        params: dict[str, ParamValue] = {"orderId": order_id, "logiCoprId": code}
        if not self_delivery:
            # Self-delivery keeps no tracking number on JD, so none is sent.
            params["logiNo"] = shipment.tracking_number
        root = await self.call(SHIP_ORDER, params)
        result = root.get("sopjosshipment_result")
        if not isinstance(result, dict):
            raise DataError("the answer has no sopjosshipment_result", operation=SHIP_ORDER)
        error = api_result_error(result, SHIP_ORDER)
        if error is None:
            return ShipmentResult(order_id=shipment.order_id)
        # JD's wording for "already shipped" is not published: the order's state decides.
        try:
            order = await self.get_order(shipment.order_id)
        except ChannelError:
            raise error from None
        if order.status in SHIPPED:
            return ShipmentResult(order_id=shipment.order_id, already_shipped=True)
        raise error


def _order_page(result: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    """Return the order infos of one search answer and its ``orderTotal`` (``None``: absent)."""
    infos = result.get("orderInfoList") or []
    if not isinstance(infos, list):
        raise DataError("orderInfoList is not a list", operation=SEARCH_ORDERS)
    if not all(isinstance(info, dict) for info in infos):
        raise DataError("an orderInfo is not an object", operation=SEARCH_ORDERS)
    total = result.get("orderTotal")
    try:
        known = None if total in (None, "") else int(total)
    except (TypeError, ValueError):
        raise DataError(f"orderTotal {total!r} is not a number", operation=SEARCH_ORDERS) from None
    return infos, known
