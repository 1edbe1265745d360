"""A fake Douyin Shop gateway: signatures, tokens, envelopes, paging and limits as documented.

It answers ``order.searchList``, ``order.orderDetail``, ``order.logisticsAdd``,
``order.logisticsCompanyList``, ``sku.syncStock``, ``sku.list``, ``product.listV2`` and
``token.refresh`` from a :class:`~channelsync.testing.fakes.FakeStore`, and refuses
what the gateway refuses: a wrong app key, signature or token, a stale timestamp,
pages that are too large or too deep, unknown SKUs, shipping an order twice.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from channelsync.clock import CHINA_STANDARD_TIME, Clock, parse_local_time
from channelsync.testing.fakes import (
    FakeItem,
    FakeMarketplace,
    FakeOrder,
    FakeShipment,
    FakeSku,
    Fault,
    FaultInjector,
    OrderChange,
    OrderGenerator,
    PageKind,
    SeedItem,
    ThrottleRule,
)

from channelsync_douyin.fake.wire import (
    COMPANIES,
    error,
    expected_sign,
    ok,
    render_order,
    render_product,
    render_sku,
    unix,
)

__all__ = ["FakeDouyin"]

Handler = Callable[[dict[str, Any]], httpx.Response]

_TOKEN_METHODS = frozenset({"token.create", "token.refresh"})
#: How far the request timestamp may be from the gateway clock (not documented; 10 min).
_TIMESTAMP_SKEW = timedelta(minutes=10)
_TOKEN_LIFETIME = 7 * 24 * 3600


class _Refused(Exception):
    """An error envelope to answer with."""

    def __init__(self, code: int, msg: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(sub_msg)
        self.response = error(code, msg, sub_code, sub_msg)


def _invalid(sub_code: str, sub_msg: str) -> _Refused:
    return _Refused(40004, "非法的参数", sub_code, sub_msg)


def _business(sub_code: str, sub_msg: str) -> _Refused:
    return _Refused(50002, "业务处理失败", sub_code, sub_msg)


class FakeDouyin(FakeMarketplace):
    """A stateful Douyin Shop gateway for tests and the demo (one shop, one app)."""

    #: QPS per method for one app; the real grants are per app and not published.
    throttle_rules: ClassVar[dict[str, ThrottleRule]] = {}
    order_changes: ClassVar[frozenset[OrderChange]] = frozenset(OrderChange)
    default_throttle = ThrottleRule(rate=20.0, burst=20)

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        access_token: str,
        refresh_token: str | None = None,
        clock: Clock | None = None,
        faults: FaultInjector | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.app_key = app_key
        self.app_secret = app_secret
        self.access_tokens = {access_token}
        self.expired_tokens: set[str] = set()
        self.refresh_tokens = {refresh_token} if refresh_token else set()
        self.shop_id = 4_463_798
        self._ids = itertools.count(1)
        self._orders = OrderGenerator(
            self.store,
            self.clock,
            order_id=self._order_id,
            status="2",
            seed=seed,
            decorate=self._decorate,
        )
        self._handlers: dict[str, Handler] = {
            "order.searchList": self._search_list,
            "order.orderDetail": self._order_detail,
            "order.logisticsAdd": self._logistics_add,
            "order.logisticsCompanyList": lambda _params: ok(
                [
                    {"id": index, "code": code, "name": name}
                    for index, (code, name) in enumerate(COMPANIES.items(), 1)
                ]
            ),
            "sku.syncStock": self._sync_stock,
            "sku.list": self._sku_list,
            "product.listV2": self._product_list,
            "token.refresh": self._refresh,
        }

    # -- the shop's life ---------------------------------------------------------------

    def seed_catalogue(self, items: Iterable[SeedItem]) -> list[FakeItem]:
        """Add ``items`` as products on sale, with 19-digit product ids."""
        added = []
        now = self.clock.now()
        for item in items:
            number = next(self._ids)
            product = FakeItem(
                item_id=str(3_600_000_000_000_000_000 + number),
                title=item.title,
                merchant_code=item.merchant_code,
                price=item.price,
                on_sale=True,
                created=now,
                modified=now,
                extra={"status": 0},
            )
            for sku in item.skus:
                product.skus.append(
                    FakeSku(
                        sku_id=str(1_760_000_000_000 + next(self._ids)),
                        merchant_code=sku.merchant_code,
                        price=sku.price,
                        quantity=sku.quantity,
                        properties=sku.properties,
                    )
                )
            added.append(self.store.add_item(product))
        return added

    def generate_orders(self, count: int) -> list[FakeOrder]:
        """Create up to ``count`` paid orders awaiting shipment (备货中), lowering stock."""
        return self._orders.generate(count)

    def _order_id(self, number: int, now: datetime) -> str:
        # 19 digits; steps of 10 leave room for the SKU order ids of its lines.
        return f"69{now.astimezone(CHINA_STANDARD_TIME):%y%m%d%H}{number * 10:09d}"

    @staticmethod
    def _decorate(order: FakeOrder) -> None:
        for position, line in enumerate(order.lines):
            # The first SKU order shares the shop order's id, as on the platform.
            line.line_id = str(int(order.order_id) + position)

    def cancel_order(self, order_id: str) -> FakeOrder:
        """Cancel an order as a buyer does before it ships (已取消)."""
        return self.change_order(order_id, OrderChange.CANCELLED)

    def request_refund(self, order_id: str) -> FakeOrder:
        """Open an after-sale refund request on every line (售后申请, 待退款)."""
        return self.change_order(order_id, OrderChange.REFUND_REQUESTED)

    def apply_order_change(self, order: FakeOrder, change: OrderChange) -> None:
        """Write ``change`` as the gateway reports it.

        That is ``order_status``, ``main_status``, the SKU orders' after-sale state and
        the shipment.
        """
        if change is OrderChange.REFUND_REQUESTED:
            # after_sale_status 6 (售后申请), refund_status 1 (待退款) on every SKU order.
            order.extra["after_sale"] = {line.line_id: (6, 1) for line in order.lines}
            return
        if change in (OrderChange.SHIPPED, OrderChange.COMPLETED) and not order.shipments:
            # Shipped from the shop's back office, not through order.logisticsAdd.
            number = f"SF{int(order.order_id) % 10**13:013d}"
            order.shipments.append(
                FakeShipment(order.order_id, "shunfeng", number, self.clock.now())
            )
        order.status = {
            OrderChange.SHIPPED: "3",
            OrderChange.COMPLETED: "5",
            OrderChange.CANCELLED: "4",
            OrderChange.REFUNDED: "4",
        }[change]
        if change is OrderChange.REFUNDED:
            # A fully refunded order closes (4) with a refund-closed main_status.
            order.extra["main_status"] = 39
            order.extra["after_sale"] = {line.line_id: (12, 3) for line in order.lines}

    def expire_token(self, token: str) -> None:
        """Make ``token`` expired, as the gateway does after its lifetime."""
        self.access_tokens.discard(token)
        self.expired_tokens.add(token)

    # -- the gateway -------------------------------------------------------------------

    def operation_of(self, request: httpx.Request) -> str:
        """Return the method name: the URL path with dots."""
        return request.url.path.strip("/").replace("/", ".") or "unknown"

    def handle(
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        """Check the call as the gateway does, then answer it from the store."""
        try:
            params = self._authenticate(request, operation)
            self._check_throttle(operation)
            return self._handlers[operation](params)
        except _Refused as refused:
            return refused.response

    def _check_throttle(self, operation: str) -> None:
        if self.throttled(operation, self.default_throttle) is not None:
            raise _Refused(60000, "触发限流，请稍后重试", "isv.api-flow-limit", "请求过于频繁")

    def _authenticate(self, request: httpx.Request, operation: str) -> dict[str, Any]:
        query = dict(request.url.params.items())
        if operation not in self._handlers:
            raise _Refused(70000, "接口服务已下线", "isp.api-service-off", "API不存在或API已下线")
        if query.get("method") != operation:
            raise _Refused(40003, "非法的参数", "isv.method-invalid", "method与请求路径不一致")
        if not query.get("app_key"):
            raise _Refused(40001, "缺少必选参数", "isv.app-id-missing", "认证失败，app_key不存在")
        if query["app_key"] != self.app_key:
            raise _Refused(40003, "非法的参数", "isv.app-id-invalid", "认证失败，app_key不正确")
        if not query.get("sign"):
            raise _Refused(40001, "缺少必选参数", "isv.signature-missing", "获取签名失败")
        self._check_timestamp(query.get("timestamp", ""))
        body = request.content.decode("utf-8")
        sign = expected_sign(
            app_key=self.app_key,
            method=operation,
            param_json=body,
            timestamp=query["timestamp"],
            secret=self.app_secret,
            sign_method=query.get("sign_method", "md5"),
        )
        if query.get("v") != "2" or not secrets.compare_digest(sign, query["sign"]):
            raise _Refused(40003, "非法的参数", "isv.signature-invalid", "签名校验失败")
        if operation not in _TOKEN_METHODS:
            token = query.get("access_token")
            if not token:
                raise _Refused(
                    40001, "缺少必选参数", "isv.access-token-missing", "access_token不能为空"
                )
            if token in self.expired_tokens:
                raise _Refused(
                    40003, "非法的参数", "isv.access-token-expired", "access_token已过期"
                )
            if token not in self.access_tokens:
                raise _Refused(
                    40003, "非法的参数", "isv.access-token-no-existed", "access_token不存在"
                )
        try:
            params = json.loads(body)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise _Refused(
                40003, "非法的参数", "isv.parameter-format-invalid", "业务参数json解析失败"
            )
        return params

    def _check_timestamp(self, value: str) -> None:
        try:
            moment = (
                datetime.fromtimestamp(int(value), tz=CHINA_STANDARD_TIME)
                if value.isdigit()
                else parse_local_time(value, CHINA_STANDARD_TIME)
            )
        except ValueError:
            raise _Refused(
                40003, "非法的参数", "isv.timestamp-format-error", "时间戳格式错误"
            ) from None
        if abs(moment - self.clock.now()) > _TIMESTAMP_SKEW:
            raise _Refused(40003, "非法的参数", "isv.timestamp-invalid", "时间戳不合法")

    def fault_response(
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        """Answer with the gateway's throttle, 5xx or expired-token answer."""
        if fault is Fault.THROTTLE:
            return error(60000, "触发限流，请稍后重试", "isv.api-flow-limit", "请求过于频繁")
        if fault is Fault.EXPIRED_TOKEN:
            return error(40003, "非法的参数", "isv.access-token-expired", "access_token已过期")
        return httpx.Response(
            502,
            headers={"Content-Type": "text/html"},
            content=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        )

    # -- methods -----------------------------------------------------------------------

    def _order(self, order_id: object) -> FakeOrder | None:
        return self.store.orders.get(str(order_id)) if order_id is not None else None

    def _search_list(self, params: dict[str, Any]) -> httpx.Response:
        size, page = params.get("size"), params.get("page")
        if not isinstance(size, int) or not isinstance(page, int):
            raise _Refused(40002, "缺少必选参数", "isv.missing-parameter", "page和size必填")
        if not 0 < size <= self.page_size_limit(100):
            raise _invalid("isv.parameter-invalid:20008", "单次查询订单数超过限制")
        if page < 0:
            raise _invalid("isv.parameter-invalid:10035", "查询订单列表页数不能小于0")
        if (page + 1) * size > 50_000:
            raise _invalid("isv.parameter-invalid:20013", "订单查询最多支持查询5万")
        by_update = "update_time_start" in params
        start = params.get("update_time_start", params.get("create_time_start"))
        end = params.get("update_time_end", params.get("create_time_end"))
        if not isinstance(start, int):
            raise _invalid("isv.parameter-invalid:20011", "订单查询开始时间不能为空")
        if start < unix(self.clock.now() - timedelta(days=90)):
            raise _invalid("isv.parameter-invalid:20022", "订单查询只支持查询最近90天内的数据")
        end = end if isinstance(end, int) else unix(self.clock.now())

        def moment(order: FakeOrder) -> int:
            return unix(order.modified if by_update else order.created)

        matched = [o for o in self.store.orders.values() if start <= moment(o) <= end]
        sort_key = (
            (lambda o: (unix(o.modified), o.order_id))
            if params.get("order_by") == "update_time"
            else (lambda o: (unix(o.created), o.order_id))
        )
        matched.sort(key=sort_key, reverse=not params.get("order_asc", False))
        chunk = matched[page * size : (page + 1) * size]
        answer = ok(
            {
                "page": page,
                "size": size,
                "total": len(matched),
                "shop_order_list": [render_order(o, self.shop_id) for o in chunk],
            }
        )
        self.page_served(PageKind.ORDERS, "order.searchList", [o.order_id for o in chunk])
        return answer

    def _order_detail(self, params: dict[str, Any]) -> httpx.Response:
        if not params.get("shop_order_id"):
            raise _Refused(40002, "缺少必选参数", "isv.missing-parameter:20000", "请输入查询订单号")
        order = self._order(params["shop_order_id"])
        if order is None:
            raise _invalid("isv.parameter-invalid:20014", "查询订单不存在")
        return ok({"shop_order_detail": render_order(order, self.shop_id)})

    def _logistics_add(self, params: dict[str, Any]) -> httpx.Response:
        order = self._order(params.get("order_id"))
        if order is None:
            raise _business("isv.business-failed:60033", "订单不存在，请仔细检查后重试。")
        company, tracking = params.get("company_code"), params.get("logistics_code")
        if not company:
            raise _Refused(
                40002, "缺少必选参数", "isv.missing-parameter:60011", "物流公司编码不允许为空。"
            )
        if company not in COMPANIES:
            raise _business(
                "isv.business-failed:60018", "暂不支持该物流公司或物流商已失效，请检查。"
            )
        if not isinstance(tracking, str) or not tracking.isalnum():
            raise _business("isv.business-failed:60017", "物流单号不符合规则。")
        refusals = {
            "1": ("isv.business-failed:60137", "订单未支付，禁止发货。"),
            "4": ("isv.business-failed:60021", "订单已取消，禁止发货。"),
            "3": ("isv.business-failed:60110", "订单已发货，不允许再次执行发货。"),
            "5": ("isv.business-failed:60113", "订单已完结，禁止发货。"),
        }
        if order.status in refusals:
            raise _business(*refusals[order.status])
        if order.extra.get("after_sale"):
            raise _business("isv.business-failed:60040", "发货订单中有退款申请需要处理，请先处理。")
        now = self.clock.now()
        order.shipments.append(FakeShipment(order.order_id, company, tracking, now))
        order.status = "3"
        order.modified = now
        return ok({})

    def _find(self, params: dict[str, Any]) -> tuple[FakeItem, FakeSku]:
        found = self.store.find_sku(str(params.get("sku_id")))
        if found is None or (
            params.get("product_id") is not None and str(params["product_id"]) != found[0].item_id
        ):
            raise _invalid(
                "isv.parameter-invalid:5", f"sku_id: {params.get('sku_id')}, 找不到对应的sku"
            )
        return found

    def _sync_stock(self, params: dict[str, Any]) -> httpx.Response:
        stock = params.get("stock_num")
        if not isinstance(stock, int) or isinstance(stock, bool):
            raise _Refused(40002, "缺少必选参数", "isv.missing-parameter", "stock_num必填")
        item, sku = self._find(params)
        if params.get("incremental"):
            if not params.get("idempotent_id"):
                raise _Refused(40002, "缺少必选参数", "isv.missing-parameter", "idempotent_id必填")
            stock += sku.quantity
        if stock < 0:
            raise _business("isv.business-failed:2010012", "更新库存数失败: 库存不足")
        sku.quantity = stock
        item.modified = self.clock.now()
        return ok({})

    def _sku_list(self, params: dict[str, Any]) -> httpx.Response:
        item = self.store.items.get(str(params.get("product_id")))
        if item is None:
            raise _business("isv.business-failed:2010058", "商品不存在或已彻底删除")
        return ok([render_sku(item, sku) for sku in item.skus])

    def _product_list(self, params: dict[str, Any]) -> httpx.Response:
        page, size = params.get("page"), params.get("size")
        if not isinstance(page, int) or page < 1:
            raise _invalid("isv.parameter-invalid:2010004", "页数从1开始")
        limit = self.page_size_limit(100)
        if not isinstance(size, int) or not 1 <= size <= limit or page * size > 10_000:
            raise _invalid("isv.parameter-invalid:2010004", "size填写范围1~100，page*size不超过1万")
        products = [i for i in self.store.items.values() if i.extra.get("status", 0) != 2]
        chunk = products[(page - 1) * size : page * size]
        answer = ok(
            {
                "data": [render_product(item) for item in chunk],
                "total": len(products),
                "page": page,
                "size": size,
            }
        )
        self.page_served(PageKind.LISTINGS, "product.listV2", [i.item_id for i in chunk])
        return answer

    def _refresh(self, params: dict[str, Any]) -> httpx.Response:
        if params.get("grant_type") != "refresh_token":
            raise _Refused(
                50001,
                "平台处理失败",
                "dop.token-generate-failed:grant-type-invalid",
                "生成token失败，grant_type参数取值不正确",
            )
        old = params.get("refresh_token")
        if old not in self.refresh_tokens:
            raise _Refused(
                50001,
                "平台处理失败",
                "dop.token-generate-failed:token-invalid",
                "生成token失败，token不存在",
            )
        token, refresh = f"dy-at-{secrets.token_hex(12)}", f"dy-rt-{secrets.token_hex(12)}"
        self.refresh_tokens = {refresh}
        self.access_tokens.add(token)
        return ok(
            {
                "access_token": token,
                "expires_in": _TOKEN_LIFETIME,
                "refresh_token": refresh,
                "scope": "SCOPE",
                "shop_id": str(self.shop_id),
                "shop_name": "channelsync 演示店",
            }
        )
