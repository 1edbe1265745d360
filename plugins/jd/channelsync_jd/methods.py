"""JOS method names, requested fields and the pure functions the channel builds calls with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from channelsync.channels import TimeWindow
from channelsync.errors import DataError, InvalidRequestError
from channelsync.models import OrderStatus

__all__ = [
    "CODES_PER_SKU_SEARCH",
    "EXPIRY_FIELD",
    "GET_ORDER",
    "LIST_CARRIERS",
    "MAX_WARE_PAGES",
    "METHODS",
    "ORDER_FIELDS",
    "SEARCH_ORDERS",
    "SEARCH_SKUS",
    "SEARCH_WARES",
    "SHIPPED",
    "SHIP_ORDER",
    "SKU_FIELDS",
    "TOKEN_REFRESH_MARGIN",
    "UPDATE_PRICE",
    "UPDATE_STOCK",
    "UP_OR_DOWN",
    "WARES_PER_SKU_SEARCH",
    "WARE_FIELDS",
    "WARE_IDS_PER_SEARCH",
    "numeric",
    "page_of",
    "split_window",
]

SEARCH_WARES = "jingdong.ware.read.searchWare4Valid"
SEARCH_SKUS = "jingdong.sku.read.searchSkuList"
UP_OR_DOWN = "jingdong.ware.write.upOrDown"
UPDATE_PRICE = "jingdong.price.write.updateSkuJdPrice"
UPDATE_STOCK = "jingdong.stock.write.updateSkuStock"
SEARCH_ORDERS = "jingdong.pop.order.search"
GET_ORDER = "jingdong.pop.order.get"
SHIP_ORDER = "jingdong.pop.order.shipment"
LIST_CARRIERS = "360buy.get.vender.all.delivery.company"
METHODS = (
    SEARCH_WARES,
    SEARCH_SKUS,
    UP_OR_DOWN,
    UPDATE_PRICE,
    UPDATE_STOCK,
    SEARCH_ORDERS,
    GET_ORDER,
    SHIP_ORDER,
    LIST_CARRIERS,
)

#: Credential field where the expiry of a refreshed access token is kept (ISO 8601, UTC).
EXPIRY_FIELD = "access_token_expires_at"
#: Refresh this long before expiry (JD only refreshes within the last 24 hours).
TOKEN_REFRESH_MARGIN = 6 * 3600.0

WARE_FIELDS = "wareId,title,wareStatus,jdPrice,stockNum,outerId,modified"
SKU_FIELDS = "skuId,wareId,jdPrice,stockNum,outerId,status,skuName,modified"
ORDER_FIELDS = (
    "orderId,venderId,orderType,payType,orderTotalPrice,orderSellerPrice,orderPayment,"
    "freightPrice,sellerDiscount,orderState,orderStateRemark,orderRemark,orderStartTime,"
    "orderEndTime,paymentConfirmTime,modified,consigneeInfo,itemInfoList,waybill,logisticsId"
)
#: ``wareId`` of searchWare4Valid: "list, <= 20 ids" (the reference).
WARE_IDS_PER_SEARCH = 20
#: Ware ids per SKU search: the reference gives searchSkuList no bound, so the ware
#: search's 20 is used.
WARES_PER_SKU_SEARCH = WARE_IDS_PER_SEARCH
#: Merchant codes (``outId``) per SKU search: no bound documented either; the same 20.
CODES_PER_SKU_SEARCH = WARE_IDS_PER_SEARCH
# searchWare4Valid is reported to answer empty pages past about 100 pages.
MAX_WARE_PAGES = 100
SHIPPED = frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED})


def numeric(value: str | None, what: str) -> int:
    """Return a JD id as the number the gateway expects; refuse anything else."""
    if value is None or not value.isdigit():
        raise InvalidRequestError(f"{what} {value!r} is not a JD numeric id")
    return int(value)


def split_window(window: TimeWindow, span: timedelta) -> list[TimeWindow]:
    """Cut ``window`` into consecutive windows no longer than ``span``."""
    pieces = []
    start = window.start
    while start < window.end:
        end = min(start + span, window.end)
        pieces.append(TimeWindow(start=start, end=end))
        start = end
    return pieces


def page_of(root: Mapping[str, Any], method: str) -> tuple[list[dict[str, Any]], int | None]:
    """Read ``page{data[], totalItem}`` of the ware and SKU searches."""
    page = root.get("page")
    if page is None:
        return [], 0
    if not isinstance(page, dict):
        raise DataError("page is not an object", operation=method)
    data = page.get("data") or []
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise DataError("page.data is not a list of records", operation=method)
    total = page.get("totalItem")
    try:
        return data, None if total in (None, "") else int(total)
    except (TypeError, ValueError):
        raise DataError(f"page.totalItem {total!r} is not a number", operation=method) from None
