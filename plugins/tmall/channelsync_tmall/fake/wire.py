"""How the fake TOP gateway writes its answers: envelopes, errors, records.

Written from the wire reference, independently of the plugin's parsing code.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from channelsync.clock import format_local_time
from channelsync.testing.fakes import FakeItem, FakeOrder, FakeOrderLine, FakeRefund, FakeSku

__all__ = [
    "ORDER_LIST_FIELDS",
    "TopFault",
    "error_body",
    "item_record",
    "json_response",
    "refund_record",
    "root_key",
    "sku_record",
    "top_time",
    "trade_record",
    "yuan",
]

#: Sub-order fields the increment list carries; the rest needs ``trade.fullinfo.get``.
ORDER_LIST_FIELDS = ("oid", "oid_str", "num_iid", "num", "status")


class TopFault(Exception):
    """An ``error_response`` the fake answers with."""

    def __init__(
        self, code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None
    ) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg


def root_key(method: str) -> str:
    """``taobao.`` is dropped from the method, other prefixes kept, dots become ``_``."""
    if method.startswith("taobao."):
        method = method[len("taobao.") :]
    return method.replace(".", "_") + "_response"


def json_response(body: Mapping[str, Any], status: int = 200) -> httpx.Response:
    """Answer ``body`` as TOP's JSON (non-ASCII kept, as TOP sends it)."""
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return httpx.Response(
        status, headers={"Content-Type": "application/json;charset=UTF-8"}, content=content
    )


def error_body(fault: TopFault, request_id: str) -> dict[str, Any]:
    """Return the ``error_response`` document for ``fault``."""
    error: dict[str, Any] = {"code": fault.code, "msg": fault.msg, "request_id": request_id}
    if fault.sub_code:
        error["sub_code"] = fault.sub_code
    if fault.sub_msg:
        error["sub_msg"] = fault.sub_msg
    return {"error_response": error}


def yuan(amount: Decimal) -> str:
    """Write money as TOP does: a yuan string with two decimals."""
    return format(amount.quantize(Decimal("0.01")), "f")


def top_time(moment: datetime) -> str:
    """Write a time as TOP does: GMT+8 wall clock."""
    return format_local_time(moment)


def _pick(record: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    wanted = set(fields)
    return {key: value for key, value in record.items() if key in wanted}


def item_record(item: FakeItem, fields: Iterable[str]) -> dict[str, Any]:
    """Render an ``Item`` with only the requested fields."""
    full = {
        "num_iid": int(item.item_id),
        "title": item.title,
        "approve_status": "onsale" if item.on_sale else "instock",
        "num": item.quantity,
        "price": yuan(item.price),
        "outer_id": item.merchant_code,
        "modified": top_time(item.modified),
        "list_time": top_time(item.extra.get("list_time", item.created)),
        "delist_time": top_time(item.extra.get("delist_time", item.created)),
        "cid": 50010850,
        "type": "fixed",
        "nick": "channelsync旗舰店",
        "sold_quantity": item.extra.get("sold", 0),
    }
    return _pick({k: v for k, v in full.items() if v is not None}, fields)


def sku_record(item: FakeItem, sku: FakeSku, fields: Iterable[str]) -> dict[str, Any]:
    """Render a ``Sku`` with only the requested fields."""
    full = {
        "sku_id": int(sku.sku_id),
        "num_iid": int(item.item_id),
        "properties": sku.extra.get("properties", ""),
        "properties_name": sku.extra.get("properties_name", ""),
        "quantity": sku.quantity,
        "with_hold_quantity": 0,
        "price": yuan(sku.price),
        "outer_id": sku.merchant_code,
        "modified": top_time(sku.extra.get("modified", item.modified)),
    }
    return _pick({k: v for k, v in full.items() if v is not None}, fields)


def _order_record(order: FakeOrder, line: FakeOrderLine) -> dict[str, Any]:
    statuses: dict[str, str] = order.extra.setdefault("line_status", {})
    refunds: dict[str, str] = order.extra.setdefault("line_refund", {})
    shipped = next((s for s in order.shipments if line.line_id in s.line_ids), None)
    if shipped is None and order.shipments and not order.shipments[0].line_ids:
        shipped = order.shipments[0]
    record: dict[str, Any] = {
        "oid": int(line.line_id),
        "oid_str": line.line_id,
        "num_iid": int(line.item_id),
        "sku_id": line.sku_id,
        "outer_iid": line.merchant_code.rsplit("-", 1)[0] if line.merchant_code else None,
        "outer_sku_id": line.merchant_code,
        "title": line.title,
        "num": line.quantity,
        "price": yuan(line.price),
        "payment": yuan(line.price * line.quantity),
        "status": statuses.get(line.line_id, order.status),
        "refund_status": refunds.get(line.line_id, "NO_REFUND"),
        "shipping_type": "express",
    }
    if shipped is not None:
        record["logistics_company"] = shipped.carrier_code
        record["invoice_no"] = shipped.tracking_number
    return {k: v for k, v in record.items() if v is not None}


def trade_record(order: FakeOrder, fields: Iterable[str], *, full: bool) -> dict[str, Any]:
    """Render a ``Trade``; ``full`` is the fullinfo shape, otherwise the increment's partial one."""
    wanted = set(fields)
    tid = int(order.order_id)
    record: dict[str, Any] = {
        "tid": tid,
        "tid_str": order.order_id,
        "status": order.status,
        "type": "fixed",
        "created": top_time(order.created),
        "modified": top_time(order.modified),
        "pay_time": top_time(order.paid_at) if order.paid_at else None,
        "consign_time": top_time(order.shipments[0].shipped_at) if order.shipments else None,
        "payment": yuan(order.total + order.shipping_fee - order.discount),
        "total_fee": yuan(order.total),
        "post_fee": yuan(order.shipping_fee),
        "seller_nick": "channelsync旗舰店",
        # TOP's per-app pseudonym of the buyer: the same buyer, the same id.
        "buyer_open_uid": f"AAH{zlib.crc32(order.buyer_name.encode()):010d}",
        "buyer_message": order.buyer_note or None,
    }
    if full:
        # Receiver data is masked, as TOP gives it to most apps; oaid identifies it.
        record.update(
            receiver_name=order.receiver_name[:1] + "**",
            receiver_mobile=order.receiver_phone[:3] + "****" + order.receiver_phone[-4:],
            receiver_state=order.province,
            receiver_city=order.city,
            receiver_district=order.district,
            receiver_address="****",
            receiver_zip="310000",
            oaid=f"1Ks{tid % 10**12:012d}",
        )
    picked = _pick({k: v for k, v in record.items() if v is not None}, wanted)
    if "orders" in wanted:
        lines = [_order_record(order, line) for line in order.lines]
        if not full:
            lines = [_pick(line, ORDER_LIST_FIELDS) for line in lines]
        picked["orders"] = {"order": lines}
    return picked


def refund_record(refund: FakeRefund, order: FakeOrder | None) -> dict[str, Any]:
    """Render a ``Refund`` as ``refunds.receive.get`` lists it."""
    line = None
    if order is not None and refund.line_id is not None:
        line = next((x for x in order.lines if x.line_id == refund.line_id), None)
    record: dict[str, Any] = {
        "refund_id": int(refund.refund_id),
        "tid": int(refund.order_id),
        "oid": int(refund.line_id) if refund.line_id else None,
        "title": line.title if line else None,
        "total_fee": yuan(order.total) if order else None,
        "payment": yuan(order.total) if order else None,
        "status": refund.status,
        "created": top_time(refund.created),
        "modified": top_time(refund.modified),
        "refund_fee": yuan(refund.amount),
        "reason": refund.reason or None,
        "has_good_return": bool(refund.extra.get("has_good_return", False)),
        "good_status": refund.extra.get("good_status", "BUYER_NOT_RECEIVED"),
        "order_status": order.status if order else None,
        "refund_phase": "onsale",
    }
    return {k: v for k, v in record.items() if v is not None}
