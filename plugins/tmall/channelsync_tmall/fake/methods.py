"""The TOP methods the fake gateway answers, with TOP's limits and error answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from channelsync.clock import Clock, parse_local_time
from channelsync.testing.fakes import (
    FakeItem,
    FakeOrder,
    FakeShipment,
    FakeSku,
    FakeStore,
    PageKind,
)
from channelsync_tmall.fake.wire import (
    TopFault,
    item_record,
    refund_record,
    sku_record,
    top_time,
    trade_record,
)

__all__ = ["CARRIERS", "ITEM_LIST_FIELDS", "TopMethods"]

Params = Mapping[str, str]
Body = dict[str, Any]

#: The only fields ``items.onsale.get`` / ``items.inventory.get`` return.
_ITEM_LIST_TEXT = (
    "approve_status,num_iid,title,nick,type,cid,pic_url,num,props,valid_thru,list_time,price,"
    "has_discount,has_invoice,has_warranty,has_showcase,modified,delist_time,postage_id,"
    "seller_cids,outer_id,sold_quantity"
)
ITEM_LIST_FIELDS = frozenset(_ITEM_LIST_TEXT.split(","))

#: ``logistics.companies.get``: (id, code, name, reg_mail_no).
CARRIERS: tuple[tuple[int, str, str, str], ...] = (
    (505, "SF", "顺丰速运", r"^[A-Za-z0-9]{12,15}$"),
    (101, "YTO", "圆通速递", r"^(YT|yt)\d{13}$|^\d{10,12}$"),
    (500, "ZTO", "中通快递", r"^\d{12,14}$"),
    (100, "STO", "申通快递", r"^\d{12,13}$"),
    (102, "YUNDA", "韵达快递", r"^\d{13,15}$"),
    (5000000110730, "JD", "京东物流", r"^JD[0-9A-Z]{11,13}$"),
    (2, "EMS", "EMS", r"^[A-Z]{2}\d{9}[A-Z]{2}$|^\d{13}$"),
    (1, "POST", "中国邮政", r"^\d{13}$"),
    (5000000000021, "DBL", "德邦物流", r"^\d{8,10}$"),
    (5000000007756, "JTSD", "极兔速递", r"^JT\d{13}$"),
    (502, "HTKY", "百世快递", r"^\d{12,15}$"),
    (103, "ZJS", "宅急送", r"^[A-Za-z0-9]{10,12}$"),
    (-1, "OTHER", "其他", r"^.+$"),
)

_LINE_SHIPPED = "WAIT_BUYER_CONFIRM_GOODS"
_SHIPPED = frozenset({"WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED", "TRADE_FINISHED"})
_SHIPPABLE = frozenset({"WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART"})
_DEFAULT_BANNERS = frozenset({"regular_shelved", "never_on_shelf", "off_shelf"})


def _missing(name: str) -> TopFault:
    return TopFault(40, "Missing Required Arguments", f"isv.missing-parameter:{name}")


def _invalid(name: str, why: str) -> TopFault:
    return TopFault(41, "Invalid Arguments", f"isv.invalid-parameter:{name}", why)


def _business(sub_code: str, sub_msg: str) -> TopFault:
    return TopFault(15, "Remote service error", sub_code, sub_msg)


def _required(params: Params, name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise _missing(name)
    return value


def _int(params: Params, name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if not raw:
        if default is None:
            raise _missing(name)
        return default
    if not re.fullmatch(r"-?\d+", raw):
        raise _invalid(name, f"{name} must be a whole number")
    return int(raw)


def _time(params: Params, name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_local_time(raw)
    except ValueError:
        raise _invalid(name, "use yyyy-MM-dd HH:mm:ss") from None


def _fields(params: Params) -> list[str]:
    return [f.strip() for f in _required(params, "fields").split(",") if f.strip()]


def _page(params: Params, max_size: int) -> tuple[int, int]:
    page_no = _int(params, "page_no", 1)
    page_size = _int(params, "page_size", 40)
    if page_no < 1:
        raise _invalid("page_no", "page_no starts at 1")
    if not 1 <= page_size <= max_size:
        raise _invalid("page_size", f"page_size must be 1-{max_size}")
    return page_no, page_size


def _item_not_found() -> TopFault:
    return _business("isv.item-not-exist:invalid-numIid-or-iid", "商品不存在")


class TopMethods:
    """The method handlers; :class:`~channelsync_tmall.fake.FakeTop` mixes them in."""

    store: FakeStore
    clock: Clock
    #: ``page_no * page_size`` beyond which the item lists refuse to page.
    deep_paging_limit: int = 20_000

    if TYPE_CHECKING:  # the fake-marketplace toolkit's control surface

        def page_size_limit(self, documented: int) -> int:
            """Return the largest page to serve."""
            ...

        def page_served(self, kind: PageKind, operation: str, keys: Sequence[str]) -> None:
            """Record a page just answered."""
            ...

    # -- helpers ----------------------------------------------------------------------

    def _item(self, params: Params) -> FakeItem:
        item = self.store.items.get(_required(params, "num_iid"))
        if item is None or item.extra.get("deleted"):
            raise _item_not_found()
        return item

    def _touch(self, item: FakeItem, *skus: FakeSku) -> None:
        now = self.clock.now()
        item.modified = now
        for sku in skus:
            sku.extra["modified"] = now

    # -- items ------------------------------------------------------------------------

    def _items_list(self, params: Params, *, on_sale: bool) -> Body:
        fields = _fields(params)
        unknown = [f for f in fields if f not in ITEM_LIST_FIELDS]
        if unknown:
            raise _invalid("fields", f"not allowed here: {','.join(unknown)}")
        page_no, page_size = _page(params, self.page_size_limit(200))
        if page_no * page_size > self.deep_paging_limit or (not on_sale and page_no > 101):
            raise _invalid("page_no", "page too deep; narrow start_modified/end_modified")
        start, end = _time(params, "start_modified"), _time(params, "end_modified")
        banners = set(filter(None, params.get("banner", "").split(","))) or _DEFAULT_BANNERS
        if "for_shelved" in banners:
            banners |= _DEFAULT_BANNERS
        chosen = []
        for item in self.store.items.values():
            if item.extra.get("deleted") or item.on_sale is not on_sale:
                continue
            if not on_sale and item.extra.get("banner", "off_shelf") not in banners:
                continue
            if (start and item.modified < start) or (end and item.modified > end):
                continue
            chosen.append(item)
        order_by = params.get("order_by", "list_time:desc")
        key_name, _, direction = order_by.partition(":")
        keys: dict[str, Callable[[FakeItem], Any]] = {
            "modified": lambda i: i.modified,
            "list_time": lambda i: i.extra.get("list_time", i.created),
            "num": lambda i: i.quantity,
        }
        chosen.sort(key=keys.get(key_name, keys["list_time"]), reverse=direction != "asc")
        page = chosen[(page_no - 1) * page_size : page_no * page_size]
        body: Body = {"total_results": len(chosen)}
        if page:
            body["items"] = {"item": [item_record(item, fields) for item in page]}
        method = "taobao.items.onsale.get" if on_sale else "taobao.items.inventory.get"
        self.page_served(PageKind.LISTINGS, method, [item.item_id for item in page])
        return body

    def items_onsale_get(self, params: Params) -> Body:
        """``taobao.items.onsale.get``."""
        return self._items_list(params, on_sale=True)

    def items_inventory_get(self, params: Params) -> Body:
        """``taobao.items.inventory.get``."""
        return self._items_list(params, on_sale=False)

    def item_skus_get(self, params: Params) -> Body:
        """``taobao.item.skus.get``: SKUs of up to 40 items."""
        fields = _fields(params)
        ids = [i for i in _required(params, "num_iids").split(",") if i]
        if len(ids) > 40:
            raise _invalid("num_iids", "at most 40 num_iids")
        skus = [
            sku_record(item, sku, fields)
            for item_id in ids
            if (item := self.store.items.get(item_id)) is not None
            for sku in item.skus
        ]
        return {"skus": {"sku": skus}} if skus else {}

    def item_seller_get(self, params: Params) -> Body:
        """``taobao.item.seller.get``: one item in detail."""
        fields = _fields(params)
        item = self._item(params)
        record = item_record(item, fields)
        if "sku" in fields or "skus" in fields:
            record["skus"] = {"sku": [sku_record(item, s, SKU_ALL) for s in item.skus]}
        return {"item": record}

    def item_update_listing(self, params: Params) -> Body:
        """``taobao.item.update.listing`` (上架)."""
        item = self._item(params)
        num = _int(params, "num")
        if num < 0:
            raise _invalid("num", "num must not be negative")
        if not item.skus:
            item.extra["quantity"] = num
        item.on_sale = True
        item.extra["list_time"] = self.clock.now()
        self._touch(item)
        return {"item": {"num_iid": int(item.item_id), "modified": top_time(item.modified)}}

    def item_update_delisting(self, params: Params) -> Body:
        """``taobao.item.update.delisting`` (下架)."""
        item = self._item(params)
        item.on_sale = False
        item.extra["banner"] = "off_shelf"
        item.extra["delist_time"] = self.clock.now()
        self._touch(item)
        return {"item": {"num_iid": int(item.item_id), "modified": top_time(item.modified)}}

    # -- stock and price --------------------------------------------------------------

    def _quantity_answer(self, item: FakeItem, skus: list[FakeSku]) -> Body:
        answer: Body = {
            "iid": item.item_id,
            "num_iid": int(item.item_id),
            "num": item.quantity,
            "modified": top_time(item.modified),
        }
        if skus:
            answer["skus"] = {
                "sku": [
                    {
                        "sku_id": int(s.sku_id),
                        "quantity": s.quantity,
                        "modified": answer["modified"],
                    }
                    for s in skus
                ]
            }
        return {"item": answer}

    def skus_quantity_update(self, params: Params, partial_failure: bool = False) -> Body:
        """``taobao.skus.quantity.update``: up to 20 SKUs of one item; incremental clamps at 0."""
        item = self._item(params)
        mode = _int(params, "type", 1)
        pairs_text = params.get("skuid_quantities") or params.get("outerid_quantities")
        if not pairs_text:
            raise _missing("skuid_quantities")
        by_outer = not params.get("skuid_quantities")
        pairs = []
        for pair in filter(None, pairs_text.split(";")):
            key, _, text = pair.partition(":")
            if not re.fullmatch(r"-?\d+", text):
                raise _invalid("skuid_quantities", f"bad entry {pair!r}")
            pairs.append((key, int(text)))
        if len(pairs) > 20:
            raise _invalid("skuid_quantities", "at most 20 SKUs per call")
        targets: list[tuple[FakeSku, int]] = []
        for key, qty in pairs:
            matched = [s for s in item.skus if (s.merchant_code if by_outer else s.sku_id) == key]
            if not matched:
                raise _business("isv.invalid-parameter:sku-properties", f"SKU {key} not found")
            if mode == 1 and qty < 0:
                raise _business("isv.invalid-parameter:quantity", "quantity must be >= 0")
            targets.extend((sku, qty) for sku in matched)
        # A partial failure needs another SKU that applies: TOP refuses a call whose
        # every SKU is refused with an error, never with an answer that echoes none.
        if partial_failure and len(targets) > 1:
            targets = targets[1:]  # the first SKU is refused, silently left out of the answer
        for sku, value in targets:
            sku.quantity = value if mode == 1 else max(0, sku.quantity + value)
        self._touch(item, *(sku for sku, _ in targets))
        return self._quantity_answer(item, [sku for sku, _ in targets])

    def item_quantity_update(self, params: Params) -> Body:
        """``taobao.item.quantity.update``: one SKU or an item without SKUs."""
        item = self._item(params)
        mode = _int(params, "type", 1)
        quantity = _int(params, "quantity")
        sku_id, outer_id = params.get("sku_id"), params.get("outer_id")
        sku: FakeSku | None = None
        if sku_id or outer_id:
            sku = next(
                (
                    s
                    for s in item.skus
                    if (s.sku_id == sku_id if sku_id else s.merchant_code == outer_id)
                ),
                None,
            )
            if sku is None:
                raise _business("isv.invalid-parameter:sku-properties", "SKU not found")
        elif item.skus:
            raise _invalid("sku_id", "the item has SKUs: name one")
        current = sku.quantity if sku is not None else item.quantity
        new = quantity if mode == 1 else current + quantity
        if new < 0:
            raise _business("isv.invalid-parameter:quantity", "stock cannot go below zero")
        if sku is not None:
            sku.quantity = new
            self._touch(item, sku)
        else:
            item.extra["quantity"] = new
            self._touch(item)
        return self._quantity_answer(item, [sku] if sku is not None else [])

    def item_sku_price_update(self, params: Params) -> Body:
        """``taobao.item.sku.price.update``: the item price must stay in the SKU range."""
        item = self._item(params)
        properties, outer_id = params.get("properties"), params.get("outer_id")
        if not properties and not outer_id:
            raise _missing("properties")
        sku = next(
            (
                s
                for s in item.skus
                if (
                    s.extra.get("properties") == properties
                    if properties
                    else s.merchant_code == outer_id
                )
            ),
            None,
        )
        if sku is None:
            raise _business("isv.invalid-parameter:sku-properties", "SKU not found")
        price = _money(params, "price")
        item_price = _money(params, "item_price") if params.get("item_price") else item.price
        prices = [price if s is sku else s.price for s in item.skus]
        if not min(prices) <= item_price <= max(prices):
            raise _business(
                "isv.invalid-parameter:item_price", "the item price must be within its SKU prices"
            )
        sku.price = price
        item.price = item_price
        self._touch(item, sku)
        return {"sku": {"num_iid": int(item.item_id), "modified": top_time(item.modified)}}

    # -- trades -----------------------------------------------------------------------

    def trades_sold_increment_get(self, params: Params) -> Body:
        """``taobao.trades.sold.increment.get``: window <= 1 day, newest first, partial trades."""
        fields = _fields(params)
        start, end = _time(params, "start_modified"), _time(params, "end_modified")
        if start is None:
            raise _missing("start_modified")
        if end is None:
            raise _missing("end_modified")
        if end < start or end - start > timedelta(days=1):
            raise _invalid("end_modified", "start_modified to end_modified must be within one day")
        status = params.get("status")
        chosen = [
            o
            for o in self.store.orders.values()
            if start <= o.modified <= end and (not status or o.status == status)
        ]
        chosen.sort(key=lambda o: o.modified, reverse=True)
        body, page = self._trade_page(params, chosen, fields)
        keys = [o.order_id for o in page]
        self.page_served(PageKind.ORDERS, "taobao.trades.sold.increment.get", keys)
        return body

    def trades_sold_get(self, params: Params) -> Body:
        """``taobao.trades.sold.get``: trades by creation time (3 months back), newest first."""
        fields = _fields(params)
        start, end = _time(params, "start_created"), _time(params, "end_created")
        if start is not None and start < self.clock.now() - timedelta(days=92):
            raise _invalid("start_created", "only trades of the last three months are returned")
        status = params.get("status")
        chosen = [
            o
            for o in self.store.orders.values()
            if (start is None or start <= o.created)
            and (end is None or o.created <= end)
            and (not status or o.status == status)
        ]
        chosen.sort(key=lambda o: o.created, reverse=True)
        return self._trade_page(params, chosen, fields)[0]

    def _trade_page(
        self, params: Params, chosen: list[FakeOrder], fields: list[str]
    ) -> tuple[Body, list[FakeOrder]]:
        """Render the requested page of ``chosen`` trades (partial) with its total or has_next."""
        page_no, page_size = _page(params, self.page_size_limit(100))
        page = chosen[(page_no - 1) * page_size : page_no * page_size]
        body: Body = {}
        if params.get("use_has_next") == "true":
            body["has_next"] = page_no * page_size < len(chosen)
        else:
            body["total_results"] = len(chosen)
        if page:
            body["trades"] = {"trade": [trade_record(o, fields, full=False) for o in page]}
        return body, page

    def _order(self, tid: str) -> FakeOrder | None:
        return self.store.orders.get(tid)

    def trade_fullinfo_get(self, params: Params) -> Body:
        """``taobao.trade.fullinfo.get``."""
        fields = _fields(params)
        order = self._order(_required(params, "tid"))
        if order is None:
            raise _business("isv.trade-not-exist", "交易不存在")
        return {"trade": trade_record(order, fields, full=True)}

    # -- logistics --------------------------------------------------------------------

    def logistics_companies_get(self, params: Params) -> Body:
        """``taobao.logistics.companies.get``."""
        fields = _fields(params)
        companies = [
            {
                k: v
                for k, v in {"id": cid, "code": code, "name": name, "reg_mail_no": reg}.items()
                if k in fields
            }
            for cid, code, name, reg in CARRIERS
        ]
        return {"logistics_companies": {"logistics_company": companies}}

    def logistics_offline_send(self, params: Params) -> Body:
        """``taobao.logistics.offline.send``: whole trade, or sub-orders with ``is_split=1``."""
        tid = _required(params, "tid")
        out_sid = _required(params, "out_sid")
        company = _required(params, "company_code")
        order = self._order(tid)
        if order is None:
            raise _business(
                "isv.logistics-offline-service-error:ORDER_NOT_FOUND_ERROR", "订单不存在"
            )
        carrier = next((c for c in CARRIERS if c[1] == company), None)
        if carrier is None:
            raise _invalid("company_code", f"unknown company {company}")
        if not re.fullmatch(carrier[3], out_sid):
            raise _invalid("out_sid", "运单号不符合规则")
        oids = [o for o in params.get("sub_tid", "").split(",") if o]
        split = params.get("is_split") == "1"
        statuses: dict[str, str] = order.extra.setdefault("line_status", {})
        targets = oids if split else [line.line_id for line in order.lines]
        unknown = [o for o in targets if o not in {line.line_id for line in order.lines}]
        if unknown:
            raise _invalid("sub_tid", f"not sub-orders of {tid}: {','.join(unknown)}")
        pending = [o for o in targets if statuses.get(o, order.status) not in _SHIPPED]
        if not pending:
            raise _business("isv.logistics-offline-service-error:ORDER_ALREADY_SHIPPED", "已发货")
        if order.status not in _SHIPPABLE:
            raise _business(
                "isv.logistics-offline-service-error:ORDER_STATUS_NOT_ALLOWED",
                f"订单状态不允许发货 ({order.status})",
            )
        now = self.clock.now()
        for oid in pending:
            statuses[oid] = _LINE_SHIPPED
        all_shipped = all(
            statuses.get(line.line_id, order.status) in _SHIPPED for line in order.lines
        )
        order.status = _LINE_SHIPPED if all_shipped else "SELLER_CONSIGNED_PART"
        order.modified = now
        order.shipments.append(
            FakeShipment(tid, company, out_sid, now, tuple(pending) if split else ())
        )
        return {"shipping": {"is_success": True}}

    # -- refunds ----------------------------------------------------------------------

    def refunds_receive_get(self, params: Params) -> Body:
        """``taobao.refunds.receive.get``."""
        _fields(params)
        page_no, page_size = _page(params, self.page_size_limit(100))
        start, end = _time(params, "start_modified"), _time(params, "end_modified")
        status = params.get("status")
        chosen = [
            r
            for r in self.store.refunds.values()
            if (not start or r.modified >= start)
            and (not end or r.modified <= end)
            and (not status or r.status == status)
        ]
        chosen.sort(key=lambda r: r.modified, reverse=True)
        page = chosen[(page_no - 1) * page_size : page_no * page_size]
        body: Body = {"total_results": len(chosen)}
        if params.get("use_has_next") == "true":
            body = {"has_next": page_no * page_size < len(chosen)}
        if page:
            body["refunds"] = {"refund": [refund_record(r, self._order(r.order_id)) for r in page]}
        keys = [r.refund_id for r in page]
        self.page_served(PageKind.REFUNDS, "taobao.refunds.receive.get", keys)
        return body

    def refund_get(self, params: Params) -> Body:
        """``taobao.refund.get``: one refund in detail, with the units it covers."""
        fields = _fields(params)
        refund_id = _required(params, "refund_id")
        refund = self.store.refunds.get(refund_id)
        if refund is None:
            raise _business("isv.refund-not-exist", f"退款单{refund_id}不存在")
        order = self._order(refund.order_id)
        record = refund_record(refund, order)
        line = None
        if order is not None and refund.line_id is not None:
            line = next((x for x in order.lines if x.line_id == refund.line_id), None)
        if line is not None:
            record |= {
                "num_iid": int(line.item_id),
                "outer_id": line.merchant_code,
                "sku": f"{line.sku_id}" if line.sku_id else None,
                "num": int(refund.extra.get("num", line.quantity)),
                "price": f"{line.price:.2f}",
            }
        return {"refund": {k: v for k, v in record.items() if k in fields and v is not None}}


SKU_ALL = ("sku_id", "num_iid", "properties", "quantity", "price", "outer_id", "modified")


def _money(params: Params, name: str) -> Decimal:
    raw = _required(params, name)
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise _invalid(name, "not a yuan amount") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise _invalid(name, "a positive yuan amount with at most two decimals")
    return amount


def token_result(access_token: str, refresh_token: str, expires_in: int) -> str:
    """Return the ``token_result`` string of the token methods (a JSON document in a string)."""
    return json.dumps(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh_token,
            "re_expires_in": expires_in * 2,
            "r1_expires_in": expires_in,
            "r2_expires_in": 259200,
            "w1_expires_in": expires_in,
            "w2_expires_in": 1800,
            "taobao_user_nick": "channelsync旗舰店",
            "taobao_user_id": "2200000000001",
        }
    )
