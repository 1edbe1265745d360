"""The fake gateway's methods: each takes the decoded business parameters and answers.

Limits enforced as the reference states them: ware pages of at most 50, at most 20
``wareId`` per ware search, order pages of at most 100, order windows of at most one
calendar month, English order states only, whole-ware list/delist, one SKU per stock
or price call, shipments only from ``WAIT_SELLER_STOCK_OUT`` with a known carrier id.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from channelsync.clock import CHINA_STANDARD_TIME, parse_local_time
from channelsync.testing.fakes import PageKind
from channelsync_jd.fake.wire import (
    CODE_PARAMETER,
    error_response,
    order_info,
    sku_row,
    success,
    ware_row,
)

if TYPE_CHECKING:
    from channelsync_jd.fake.server import FakeJos

__all__ = ["ORDER_STATES", "ROUTES", "add_month"]

ORDER_STATES = frozenset(
    {
        "WAIT_SELLER_STOCK_OUT",
        "WAIT_GOODS_RECEIVE_CONFIRM",
        "WAIT_SELLER_DELIVERY",
        "PAUSE",
        "FINISHED_L",
        "TRADE_CANCELED",
        "LOCKED",
        "POP_ORDER_PAUSE",
    }
)
_WARE_PAGE_MAX = 50
_WARE_IDS_MAX = 20
_WARE_PAGES_SERVED = 100
_SKU_PAGE_MAX = 100
_SKU_PAGE_DEFAULT = 10
_ORDER_PAGE_MAX = 100
_SELF_DELIVERY = "1274"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _ids(value: Any) -> set[str]:
    if value in (None, ""):
        return set()
    parts = value if isinstance(value, list) else str(value).split(",")
    return {str(part).strip() for part in parts if str(part).strip()}


def _page(rows: list[dict[str, Any]], page_no: int, size: int) -> dict[str, Any]:
    start = (page_no - 1) * size
    return {
        "page": {
            "data": rows[start : start + size],
            "pageNo": page_no,
            "pageSize": size,
            "totalItem": len(rows),
        }
    }


def search_wares(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``jingdong.ware.read.searchWare4Valid``: wares by status, paged by pageNo/pageSize."""
    page_no, size = _int(params.get("pageNo", 1)), _int(params.get("pageSize", 20))
    most = fake.page_size_limit(_WARE_PAGE_MAX)
    if page_no is None or page_no < 1 or size is None or not 1 <= size <= most:
        return error_response(CODE_PARAMETER, f"pageNo >= 1, pageSize 1..{most}")
    statuses = {int(s) for s in _ids(params.get("wareStatusValue")) if s.isdigit()}
    wanted = _ids(params.get("wareId"))
    if len(wanted) > _WARE_IDS_MAX:
        return error_response(CODE_PARAMETER, f"wareId: at most {_WARE_IDS_MAX} ids")
    rows = [
        ware_row(item)
        for item in sorted(fake.store.items.values(), key=lambda i: int(i.item_id))
        if (not statuses or int(item.extra.get("wareStatus", 8)) in statuses)
        and (not wanted or item.item_id in wanted)
    ]
    if page_no > _WARE_PAGES_SERVED:
        return success("jingdong.ware.read.searchWare4Valid", _page([], 1, size))
    page = _page(rows, page_no, size)
    keys = [str(row["wareId"]) for row in page["page"]["data"]]
    fake.page_served(PageKind.LISTINGS, "jingdong.ware.read.searchWare4Valid", keys)
    return success("jingdong.ware.read.searchWare4Valid", page)


def search_skus(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``jingdong.sku.read.searchSkuList``: SKUs by ware, SKU id or merchant code (``outId``).

    Paged by pageNo/page_size. ``outId`` matches a SKU's whole merchant code; the
    reference bounds none of the id lists of this method, so neither does the fake.
    """
    page_no = _int(params.get("pageNo", 1))
    size = _int(params.get("page_size", _SKU_PAGE_DEFAULT))
    most = fake.page_size_limit(_SKU_PAGE_MAX)
    if page_no is None or page_no < 1 or size is None or not 1 <= size <= most:
        return error_response(CODE_PARAMETER, f"pageNo >= 1, page_size 1..{most}")
    wares, skus = _ids(params.get("wareId")), _ids(params.get("skuId"))
    codes = _ids(params.get("outId"))
    statuses = _ids(params.get("skuStatuValue")) or {"1", "2"}
    rows = [
        sku_row(item, sku)
        for item, sku in fake.store.iter_skus()
        if (not wares or item.item_id in wares)
        and (not skus or sku.sku_id in skus)
        and (not codes or (sku.merchant_code or "") in codes)
        and ("1" if item.on_sale else "2") in statuses
    ]
    rows.sort(key=lambda row: int(row["skuId"]))
    return success("jingdong.sku.read.searchSkuList", _page(rows, page_no, size))


def _flag(method: str, ok: bool, message: str = "") -> httpx.Response:
    body: dict[str, Any] = {"success": ok}
    if message:
        body["errorMessage"] = message
    return success(method, body)


def up_or_down(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``jingdong.ware.write.upOrDown``: list (1) or delist (2) a whole ware."""
    method = "jingdong.ware.write.upOrDown"
    ware_id, op = _int(params.get("wareId")), _int(params.get("opType"))
    if ware_id is None or op not in (1, 2):
        return error_response(CODE_PARAMETER, "wareId and opType (1 or 2) are required")
    item = fake.store.items.get(str(ware_id))
    if item is None:
        return _flag(method, False, f"商品不存在 ware {ware_id} does not exist")
    item.on_sale = op == 1
    item.extra["wareStatus"] = 8 if op == 1 else 2
    item.modified = fake.clock.now()
    return _flag(method, True)


def update_price(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``jingdong.price.write.updateSkuJdPrice``: one SKU's JD price, a number in yuan."""
    method = "jingdong.price.write.updateSkuJdPrice"
    sku_id, price = _int(params.get("skuId")), params.get("jdPrice")
    if sku_id is None or isinstance(price, bool) or not isinstance(price, int | Decimal):
        return error_response(CODE_PARAMETER, "skuId and a numeric jdPrice are required")
    amount = Decimal(price)
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        return _flag(method, False, f"jdPrice {amount} must be positive with at most 2 decimals")
    found = fake.store.find_sku(str(sku_id))
    if found is None:
        return _flag(method, False, f"SKU不存在 sku {sku_id} does not exist")
    item, sku = found
    sku.price = amount
    item.modified = fake.clock.now()
    return _flag(method, True)


def update_stock(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``jingdong.stock.write.updateSkuStock``: one SKU's stock, an absolute number."""
    method = "jingdong.stock.write.updateSkuStock"
    sku_id, stock = _int(params.get("skuId")), _int(params.get("stockNum"))
    if sku_id is None or stock is None or stock < 0:
        return error_response(CODE_PARAMETER, "skuId and stockNum >= 0 are required")
    found = fake.store.find_sku(str(sku_id))
    if found is None:
        return _flag(method, False, f"SKU不存在 sku {sku_id} does not exist")
    item, sku = found
    sku.quantity = stock
    item.modified = fake.clock.now()
    return _flag(method, True)


def _api_result(ok: bool, english: str = "", chinese: str = "") -> dict[str, Any]:
    return {
        "success": ok,
        "englishErrCode": english,
        "chineseErrCode": chinese,
        "numberCode": 0 if ok else 10100,
    }


def add_month(moment: datetime) -> datetime:
    """Return ``moment`` one calendar month later (day clipped to the month's end)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _search_failure(english: str, chinese: str) -> httpx.Response:
    result = {"apiResult": _api_result(False, english, chinese), "orderInfoList": []}
    return success("jingdong.pop.order.search", {"searchorderinfo_result": result})


def _window(params: dict[str, Any], states: set[str], now: datetime) -> tuple[datetime, datetime]:
    start, end = params.get("start_date") or "", params.get("end_date") or ""
    if not start and not end and states == {"WAIT_SELLER_STOCK_OUT"}:
        return now - timedelta(days=30), now
    return parse_local_time(str(start)), parse_local_time(str(end))


def _fields(order: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    return {key: value for key, value in order.items() if key in fields}


def search_orders(  # noqa: PLR0911 - one refusal per documented rule
    fake: FakeJos, params: dict[str, Any]
) -> httpx.Response:
    """``jingdong.pop.order.search``: orders by state within at most one month, paged."""
    states = _ids(params.get("order_state"))
    if not states:
        return _search_failure("order_state is required", "order_state不能为空")
    if any(state not in ORDER_STATES for state in states):
        return _search_failure("order_state must be English state names", "订单状态参数错误")
    fields = _ids(params.get("optional_fields"))
    if not fields:
        return _search_failure("optional_fields is required", "optional_fields不能为空")
    page, size = _int(params.get("page", "1")), _int(params.get("page_size", "20"))
    most = fake.page_size_limit(_ORDER_PAGE_MAX)
    if page is None or page < 1 or size is None or not 1 <= size <= most:
        return _search_failure(f"page >= 1, page_size 1..{most}", "分页参数错误")
    try:
        start, end = _window(params, states, fake.clock.now())
    except ValueError:
        return _search_failure("start_date/end_date must be yyyy-MM-dd HH:mm:ss", "时间格式错误")
    local_start = start.astimezone(CHINA_STANDARD_TIME)
    if end < start or end.astimezone(CHINA_STANDARD_TIME) > add_month(local_start):
        return _search_failure("start_date and end_date at most one month apart", "时间跨度超限")
    by_created = str(params.get("dateType", "0")) == "1"
    matched = [
        order
        for order in fake.store.orders.values()
        if order.status in states
        and start <= (order.created if by_created else order.modified) <= end
    ]
    matched.sort(
        key=lambda o: (o.created if by_created else o.modified, o.order_id),
        reverse=str(params.get("sortType", "0")) == "1",
    )
    chunk = matched[(page - 1) * size : page * size]
    result = {
        "apiResult": _api_result(True),
        "orderInfoList": [_fields(order_info(order), fields) for order in chunk],
        "orderTotal": len(matched),
    }
    answer = success("jingdong.pop.order.search", {"searchorderinfo_result": result})
    fake.page_served(PageKind.ORDERS, "jingdong.pop.order.search", [o.order_id for o in chunk])
    return answer


def get_order(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``jingdong.pop.order.get``: one order by its numeric id."""
    method = "jingdong.pop.order.get"
    order_id = _int(params.get("order_id"))
    fields = _ids(params.get("optional_fields"))
    order = None if order_id is None else fake.store.orders.get(str(order_id))
    if order is None or not fields:
        english, chinese = (
            ("optional_fields is required", "optional_fields不能为空")
            if order is not None
            else ("order not exist", "订单不存在")
        )
        detail = {"apiResult": _api_result(False, english, chinese), "orderInfo": None}
    else:
        detail = {"apiResult": _api_result(True), "orderInfo": _fields(order_info(order), fields)}
    return success(method, {"orderDetailInfo": detail})


def _shipment(ok: bool, english: str = "", chinese: str = "") -> httpx.Response:
    result = {
        # JD sends this flag as a string.
        "success": "true" if ok else "false",
        "chineseErrCode": chinese,
        "englishErrCode": english,
        "errorCode": "" if ok else "1",
    }
    return success("jingdong.pop.order.shipment", {"sopjosshipment_result": result})


def ship_order(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``jingdong.pop.order.shipment``: outbound shipment with carrier ids and waybills."""
    order_id = _int(params.get("orderId"))
    carriers = [c.strip() for c in str(params.get("logiCoprId") or "").split("|") if c.strip()]
    tracking = str(params.get("logiNo") or "")
    order = None if order_id is None else fake.store.orders.get(str(order_id))
    if order is None:
        return _shipment(False, "order not exist", "订单不存在")
    if not carriers or any(c not in fake.carriers for c in carriers):
        return _shipment(False, "invalid logiCoprId", "物流公司不存在")
    if not tracking and carriers != [_SELF_DELIVERY]:
        return _shipment(False, "logiNo is required", "运单号不能为空")
    if order.status != "WAIT_SELLER_STOCK_OUT":
        return _shipment(
            False,
            f"order state does not allow outbound ({order.status})",
            "订单当前状态不允许出库",
        )
    # Self-delivery keeps no tracking number.
    fake.record_shipment(
        order, "|".join(carriers), "" if carriers == [_SELF_DELIVERY] else tracking
    )
    return _shipment(True)


def list_carriers(fake: FakeJos, params: dict[str, Any]) -> httpx.Response:
    """``360buy.get.vender.all.delivery.company``: every carrier of the shop."""
    rows = [
        {"id": int(code), "name": name, "description": name}
        for code, name in sorted(fake.carriers.items(), key=lambda pair: int(pair[0]))
    ]
    return success(
        "360buy.get.vender.all.delivery.company",
        {"delivery_companies": rows},
        root="vender_delivery_all_company_response",
    )


ROUTES: dict[str, Callable[[FakeJos, dict[str, Any]], httpx.Response]] = {
    "jingdong.ware.read.searchWare4Valid": search_wares,
    "jingdong.sku.read.searchSkuList": search_skus,
    "jingdong.ware.write.upOrDown": up_or_down,
    "jingdong.price.write.updateSkuJdPrice": update_price,
    "jingdong.stock.write.updateSkuStock": update_stock,
    "jingdong.pop.order.search": search_orders,
    "jingdong.pop.order.get": get_order,
    "jingdong.pop.order.shipment": ship_order,
    "360buy.get.vender.all.delivery.company": list_carriers,
}
