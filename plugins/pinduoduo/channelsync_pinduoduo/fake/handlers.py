"""The fake PDD's business methods: goods, stock, prices, orders, shipments, refunds.

Each handler reads the already-verified parameters and answers from the store with
PDD's envelopes, enforcing the reference's limits: 100 per page, 30-minute
increments ending at least 3 minutes behind the clock, one listed after-sales status
per refund query (no "all" value), one SKU per stock call,
single-buy price above the group price, no stock reduction on promoted goods, no
shipment of risk-controlled orders.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from channelsync.testing.fakes import FakeItem, FakeShipment, FakeSku, PageKind, PushQueue
from channelsync_pinduoduo.fake.control import PddControl
from channelsync_pinduoduo.fake.pmc import APP_TOPICS
from channelsync_pinduoduo.fake.wire import (
    LOGISTICS_COMPANIES,
    ok,
    render_goods,
    render_goods_info,
    render_order,
    render_refund,
    render_sku,
)

__all__ = [
    "AFTER_SALES_STATUSES",
    "AFTER_SALES_TYPES",
    "MAX_PAGE_SIZE",
    "MAX_WINDOW_SECONDS",
    "MIN_LAG_SECONDS",
    "PddHandlers",
    "Reject",
]

MAX_PAGE_SIZE = 100
MAX_WINDOW_SECONDS = 30 * 60
MIN_LAG_SECONDS = 3 * 60

#: ``after_sales_status`` values the refund increment takes: one status, no "all" value.
AFTER_SALES_STATUSES = frozenset({0, *range(2, 19), *range(21, 26), 27, 31, 32})
#: ``after_sales_type``: 1 all, 2 refund only, 3 return and refund, 4 exchange, 5 resend.
AFTER_SALES_TYPES = frozenset({1, 2, 3, 4, 5})


class Reject(Exception):
    """A call the fake refuses with PDD's ``error_response``."""

    def __init__(self, code: int, message: str, sub_msg: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.sub_msg = sub_msg


class Params:
    """A call's parameters with PDD's business-parameter checks (21002 missing, 21001 bad)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def text(self, name: str) -> str:
        """Return a required parameter."""
        value = self.values.get(name, "")
        if value == "":
            raise Reject(21002, "业务参数缺失", f"missing parameter {name}")
        return value

    def get(self, name: str) -> str | None:
        """Return an optional parameter (``None`` when absent or empty)."""
        return self.values.get(name) or None

    def integer(self, name: str, default: int | None = None) -> int:
        """Return a parameter as an integer; required when ``default`` is ``None``."""
        raw = self.values.get(name, "")
        if raw == "" and default is not None:
            return default
        try:
            return int(self.text(name))
        except ValueError:
            raise Reject(21001, "业务参数错误", f"{name} is not an integer") from None

    def page(self, most: int = MAX_PAGE_SIZE) -> tuple[int, int]:
        """Return ``(page, page_size)``: pages from 1, at most ``most`` (100) per page."""
        page, size = self.integer("page", 1), self.integer("page_size", most)
        if page < 1 or not 1 <= size <= most:
            raise Reject(21001, "业务参数错误", f"page >= 1 and page_size <= {most}")
        return page, size


def _paged(entries: Sequence[Any], page: int, size: int) -> list[Any]:
    return list(entries[(page - 1) * size : page * size])


class PddHandlers(PddControl):
    """The business methods of the fake PDD gateway (authentication lives in the subclass)."""

    #: Price commits accepted so far (PDD numbers each as a goods commit).
    price_commits: int = 0
    #: The shop's PMC messages (set by the subclass).
    push: PushQueue

    handlers: ClassVar[Mapping[str, str]] = {
        "pdd.goods.list.get": "_goods_list",
        "pdd.goods.information.get": "_goods_information",
        "pdd.goods.skus.get": "_skus_get",
        "pdd.goods.quantity.update": "_quantity_update",
        "pdd.goods.sku.price.update": "_price_update",
        "pdd.goods.sale.status.set": "_sale_status",
        "pdd.order.number.list.increment.get": "_order_increment",
        "pdd.order.information.get": "_order_information",
        "pdd.logistics.online.send": "_online_send",
        "pdd.logistics.companies.get": "_companies",
        "pdd.refund.list.increment.get": "_refund_increment",
        "pdd.pmc.user.permit": "_pmc_permit",
    }

    def dispatch(self, method: str, params: Params, *, partial_failure: bool) -> httpx.Response:
        """Run the handler of ``method``."""
        handler: Callable[[Params, bool], httpx.Response] = getattr(self, self.handlers[method])
        return handler(params, partial_failure)

    # -- goods ------------------------------------------------------------------------

    def _goods(self, params: Params) -> FakeItem:
        item = self.store.items.get(params.text("goods_id"))
        if item is None:
            raise Reject(21001, "业务参数错误", "goods not found")
        return item

    def _sku(self, item: FakeItem, params: Params) -> FakeSku:
        sku_id, outer_id = params.get("sku_id"), params.get("outer_id")
        for sku in item.skus:
            if (sku_id is not None and sku.sku_id == sku_id) or (
                sku_id is None and outer_id is not None and sku.merchant_code == outer_id
            ):
                return sku
        raise Reject(21001, "业务参数错误", "sku not found in goods")

    def _goods_list(self, params: Params, _partial: bool) -> httpx.Response:
        page, size = params.page(self.page_size_limit(MAX_PAGE_SIZE))
        goods = list(self.store.items.values())
        on_sale, outer_id = params.get("is_onsale"), params.get("outer_id")
        if on_sale is not None:
            goods = [g for g in goods if int(g.on_sale) == int(on_sale)]
        elif outer_id is not None:
            goods = [g for g in goods if any(s.merchant_code == outer_id for s in g.skus)]
        chunk = _paged(goods, page, size)
        answer = ok(
            "pdd.goods.list.get",
            {"total_count": len(goods), "goods_list": [render_goods(g) for g in chunk]},
        )
        self.page_served(PageKind.LISTINGS, "pdd.goods.list.get", [g.item_id for g in chunk])
        return answer

    def _goods_information(self, params: Params, _partial: bool) -> httpx.Response:
        item = self._goods(params)
        return ok("pdd.goods.information.get", {"goods_info": render_goods_info(item)})

    def _skus_get(self, params: Params, _partial: bool) -> httpx.Response:
        item = self._goods(params)
        params.text("sku_id")
        return ok("pdd.goods.skus.get", render_sku(item, self._sku(item, params)))

    def _quantity_update(self, params: Params, _partial: bool) -> httpx.Response:
        item = self._goods(params)
        sku = self._sku(item, params)
        quantity, mode = params.integer("quantity"), params.integer("update_type", 1)
        if mode not in (1, 2):
            raise Reject(21001, "业务参数错误", "update_type must be 1 or 2")
        target = quantity if mode == 1 else sku.quantity + quantity
        if target < 0:
            raise Reject(21001, "业务参数错误", "stock cannot go below 0")
        if target < sku.quantity and item.extra.get("promotion"):
            raise Reject(21001, "业务参数错误", "goods in a promotion slot cannot reduce stock")
        sku.quantity = target
        item.modified = self.clock.now()
        return ok("pdd.goods.quantity.update", {"is_success": True})

    def _price_update(self, params: Params, partial: bool) -> httpx.Response:
        item = self._goods(params)
        try:
            entries = json.loads(params.text("sku_price_list"))
        except json.JSONDecodeError:
            raise Reject(21001, "业务参数错误", "sku_price_list is not JSON") from None
        if not isinstance(entries, list) or not entries:
            raise Reject(21001, "业务参数错误", "sku_price_list must be a non-empty list")
        updates: list[tuple[FakeSku, int, int]] = []
        for entry in entries:
            sku = item.sku(str(entry.get("sku_id")))
            group, single = entry.get("group_price"), entry.get("single_price")
            if sku is None:
                raise Reject(21001, "业务参数错误", f"sku {entry.get('sku_id')} not in goods")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (group, single)):
                raise Reject(21001, "业务参数错误", "prices must be integer fen")
            if group <= 0 or single <= group:
                raise Reject(21001, "业务参数错误", "single price must exceed the group price")
            updates.append((sku, group, single))
        if partial:
            # PDD commits a goods' prices as one: one bad SKU refuses the whole commit.
            raise Reject(21001, "业务参数错误", f"sku {updates[0][0].sku_id} price rejected")
        for sku, group, single in updates:
            sku.price = Decimal(group) / 100
            sku.extra["single_price"] = Decimal(single) / 100
        if params.get("sync_goods_operate") == "0":
            item.on_sale = True
        item.modified = self.clock.now()
        self.price_commits += 1
        return ok(
            "pdd.goods.sku.price.update",
            {"is_success": True, "goods_commit_id": 900_000 + self.price_commits},
        )

    def _sale_status(self, params: Params, _partial: bool) -> httpx.Response:
        item = self._goods(params)
        flag = params.integer("is_onsale")
        if flag not in (0, 1):
            raise Reject(21001, "业务参数错误", "is_onsale must be 0 or 1")
        item.on_sale = flag == 1
        item.modified = self.clock.now()
        return ok("pdd.goods.sale.status.set", {"is_success": True})

    # -- orders -----------------------------------------------------------------------

    def _window(self, params: Params) -> tuple[int, int]:
        start, end = params.integer("start_updated_at"), params.integer("end_updated_at")
        if end < start or end - start > MAX_WINDOW_SECONDS:
            raise Reject(21001, "业务参数错误", "the update-time window is longer than 30 minutes")
        if end > int(self.clock.now().timestamp()) - MIN_LAG_SECONDS:
            raise Reject(21001, "业务参数错误", "end_updated_at must be 3 minutes behind now")
        return start, end

    def _order_increment(self, params: Params, _partial: bool) -> httpx.Response:
        start, end = self._window(params)
        page, size = params.page(self.page_size_limit(MAX_PAGE_SIZE))
        status, refund = params.integer("order_status"), params.integer("refund_status")
        if status not in (1, 2, 3, 5) or refund not in (1, 2, 3, 4, 5):
            raise Reject(21001, "业务参数错误", "order_status or refund_status out of range")
        matching = sorted(
            (
                order
                for order in self.store.orders.values()
                if start <= int(order.modified.timestamp()) <= end
                and (status == 5 or int(order.status) == status)
                and (refund == 5 or self._refund_group(order.extra) == refund)
            ),
            key=lambda order: (order.modified, order.order_id),
        )
        chunk = _paged(matching, page, size)
        body: dict[str, Any] = {"order_sn_list": [render_order(o, self.store) for o in chunk]}
        if params.get("use_has_next") == "true":
            body["has_next"] = page * size < len(matching)
        else:
            body["total_count"] = len(matching)
        answer = ok("pdd.order.number.list.increment.get", body)
        keys = [o.order_id for o in chunk]
        self.page_served(PageKind.ORDERS, "pdd.order.number.list.increment.get", keys)
        return answer

    @staticmethod
    def _refund_group(extra: Mapping[str, Any]) -> int:
        value = int(extra.get("refund_status", 1))
        return value if value in (1, 2, 3, 4) else 1

    def _order_information(self, params: Params, _partial: bool) -> httpx.Response:
        order = self.store.orders.get(params.text("order_sn"))
        info = None if order is None else render_order(order, self.store)
        return ok("pdd.order.information.get", {"order_info": info})

    # -- logistics --------------------------------------------------------------------

    def _companies(self, _params: Params, _partial: bool) -> httpx.Response:
        companies = [
            {"id": id_, "logistics_company": name, "code": code, "available": available}
            for id_, name, code, available in LOGISTICS_COMPANIES
        ]
        return ok("pdd.logistics.companies.get", {"logistics_companies": companies})

    def _online_send(self, params: Params, _partial: bool) -> httpx.Response:
        order = self.store.orders.get(params.text("order_sn"))
        if order is None:
            raise Reject(21001, "业务参数错误", "order not found")
        logistics_id = params.integer("logistics_id")
        tracking = params.text("tracking_number")
        redelivery = params.integer("redelivery_type", 1)
        company = next((c for c in LOGISTICS_COMPANIES if c[0] == logistics_id and c[3]), None)
        if company is None:
            raise Reject(21001, "业务参数错误", "logistics company not available")
        extra = order.extra
        if int(extra.get("risk_control_status", 0)) == 1:
            raise Reject(21001, "业务参数错误", "order under risk control cannot ship")
        if int(extra.get("confirm_status", 1)) != 1 or int(extra.get("group_status", 1)) != 1:
            raise Reject(21001, "业务参数错误", "order not confirmed or group not formed")
        if int(extra.get("refund_status", 1)) in (2, 3, 4):
            raise Reject(21001, "业务参数错误", "order has an after-sales case")
        if redelivery == 1 and order.status != "1":
            return ok("pdd.logistics.online.send", {"is_success": False})
        if redelivery == 2 and order.status != "2":
            raise Reject(21001, "业务参数错误", "only shipped orders can change shipment")
        now = self.clock.now()
        # Recorded under the company's code, the carrier code channels declare.
        order.shipments.append(FakeShipment(order.order_id, company[2], tracking, now))
        order.status = "2"
        order.modified = now
        self.store.changed(order, "shipped")
        return ok("pdd.logistics.online.send", {"is_success": True})

    # -- refunds ----------------------------------------------------------------------

    def _refund_increment(self, params: Params, _partial: bool) -> httpx.Response:
        wanted, kind = params.integer("after_sales_status"), params.integer("after_sales_type")
        start, end = self._window(params)
        page, size = params.page(self.page_size_limit(MAX_PAGE_SIZE))
        if wanted not in AFTER_SALES_STATUSES:
            raise Reject(21001, "业务参数错误", "after_sales_status is not an after-sales status")
        if kind not in AFTER_SALES_TYPES:
            raise Reject(21001, "业务参数错误", "after_sales_type out of range")
        order_sn = params.get("order_sn")
        refunds = sorted(
            (
                r
                for r in self.store.refunds.values()
                if (
                    r.order_id == order_sn
                    if order_sn is not None
                    else int(r.status) == wanted
                    and (kind == 1 or int(r.extra.get("after_sales_type", 2)) == kind)
                    and start <= int(r.modified.timestamp()) <= end
                )
            ),
            key=lambda r: (r.modified, r.refund_id),
        )
        chunk = _paged(refunds, page, size)
        answer = ok(
            "pdd.refund.list.increment.get",
            {"total_count": len(refunds), "refund_list": [render_refund(r) for r in chunk]},
        )
        keys = [r.refund_id for r in chunk]
        self.page_served(PageKind.REFUNDS, "pdd.refund.list.increment.get", keys)
        return answer

    # -- message service --------------------------------------------------------------

    def permit_events(self, topics: Sequence[str] | None = None) -> None:
        """Opt the shop in to PMC: ``topics`` replace the last list; ``None`` inherits the app's."""
        self.push.permit(APP_TOPICS if topics is None else topics)

    def _pmc_permit(self, params: Params, _partial: bool) -> httpx.Response:
        raw = params.get("topics")
        topics = None if raw is None else [t.strip() for t in raw.split(",") if t.strip()]
        for topic in topics or ():
            if topic not in APP_TOPICS:
                raise Reject(21001, "业务参数错误", f"topic {topic} is not subscribed by the app")
        self.permit_events(topics)
        return ok("pdd.pmc.user.permit", {"is_success": True})
