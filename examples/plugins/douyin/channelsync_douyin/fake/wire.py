"""How the fake Douyin gateway writes its answers: envelopes, orders, products, SKUs.

Written from the gateway's documentation (field names, fen amounts, UNIX-second
times, masked receiver data), independently of the plugin's parsers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from channelsync.testing.fakes import FakeItem, FakeOrder, FakeOrderLine, FakeSku

__all__ = [
    "COMPANIES",
    "ORDER_STATUS_TEXT",
    "error",
    "expected_sign",
    "fen",
    "ok",
    "render_order",
    "render_product",
    "render_sku",
    "unix",
]

#: ``/order/logisticsCompanyList``: company code -> name.
COMPANIES: dict[str, str] = {
    "shunfeng": "顺丰速运",
    "yuantong": "圆通快递",
    "zhongtong": "中通快递",
    "shentong": "申通快递",
    "yunda": "韵达快递",
    "jd": "京东物流",
    "ems": "EMS",
    "debangwuliu": "德邦物流",
    "jtexpress": "极兔速递",
    "huitongkuaidi": "百世快递",
    "zhaijisong": "宅急送",
    "youzhengguonei": "邮政快递包裹",
}

#: ``order_status`` -> ``order_status_desc``.
ORDER_STATUS_TEXT: dict[int, str] = {
    1: "待支付",
    105: "已支付",
    2: "备货中",
    101: "部分发货",
    3: "已发货",
    4: "已取消",
    5: "已完成",
}


def unix(moment: datetime) -> int:
    """Return whole UNIX seconds."""
    return int(moment.timestamp())


def fen(amount: Decimal) -> int:
    """Return yuan as integer fen (exact: the fake only holds whole fen)."""
    return int((amount * 100).to_integral_exact())


def expected_sign(
    *, app_key: str, method: str, param_json: str, timestamp: str, secret: str, sign_method: str
) -> str:
    """Return the signature the gateway expects (the official SDKs' algorithm)."""
    pattern = (
        f"{secret}app_key{app_key}method{method}param_json{param_json}"
        f"timestamp{timestamp}v2{secret}"
    )
    if sign_method == "md5":
        return hashlib.md5(pattern.encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), pattern.encode(), hashlib.sha256).hexdigest()


def _answer(body: dict[str, Any]) -> httpx.Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return httpx.Response(
        200, headers={"Content-Type": "application/json;charset=UTF-8"}, content=text.encode()
    )


def _log_id() -> str:
    return uuid.uuid4().hex[:24].upper()


def ok(data: object) -> httpx.Response:
    """Return a success envelope carrying ``data``."""
    return _answer(
        {
            "code": 10000,
            "msg": "success",
            "sub_code": "",
            "sub_msg": "",
            "data": data,
            "log_id": _log_id(),
        }
    )


def error(code: int, msg: str, sub_code: str, sub_msg: str) -> httpx.Response:
    """Return a failure envelope (HTTP 200, as the gateway answers)."""
    return _answer(
        {
            "code": code,
            "msg": msg,
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            "data": {},
            "log_id": _log_id(),
        }
    )


def render_sku(item: FakeItem, sku: FakeSku) -> dict[str, Any]:
    """Return one ``sku.list`` entry."""
    return {
        "id": int(sku.sku_id),
        "product_id": int(item.item_id),
        "product_id_str": item.item_id,
        "code": sku.merchant_code or "",
        "out_sku_id": 0,
        "price": fen(sku.price),
        "sku_type": 0,
        "stock_num": sku.quantity,
        "prehold_stock_num": 0,
        "spec_detail_name1": sku.properties.split(":", 1)[-1],
        "create_time": unix(item.created),
    }


def render_product(item: FakeItem) -> dict[str, Any]:
    """Return one ``product.listV2`` entry."""
    return {
        "product_id": int(item.item_id),
        "name": item.title,
        "status": int(item.extra.get("status", 0 if item.on_sale else 1)),
        "check_status": 3,
        "product_type": 0,
        "outer_product_id": item.merchant_code or "",
        "create_time": unix(item.created),
        "update_time": unix(item.modified),
    }


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


def _mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def _region(name: str, code: int) -> dict[str, str]:
    return {"name": name, "id": str(code)}


def _sku_order(order: FakeOrder, line: FakeOrderLine, status: int) -> dict[str, Any]:
    after_sale = order.extra.get("after_sale", {}).get(line.line_id, (0, 0))
    return {
        "order_id": line.line_id,
        "parent_order_id": order.order_id,
        "order_level": 3,
        "order_status": status,
        "order_status_desc": ORDER_STATUS_TEXT[status],
        "product_id": int(line.item_id),
        "product_id_str": line.item_id,
        "sku_id": int(line.sku_id or 0),
        "code": line.merchant_code or "",
        "out_sku_id": "",
        "product_name": line.title,
        "item_num": line.quantity,
        "origin_amount": fen(line.price),
        "sum_amount": fen(line.price) * line.quantity,
        "create_time": unix(order.created),
        "update_time": unix(order.modified),
        "after_sale_info": {
            "after_sale_status": after_sale[0],
            "after_sale_type": 0,
            "refund_status": after_sale[1],
        },
    }


def render_order(order: FakeOrder, shop_id: int) -> dict[str, Any]:
    """Return a shop order as ``order.searchList`` and ``order.orderDetail`` give it."""
    status = int(order.status)
    paid = order.total + order.shipping_fee - order.discount
    shipments = [
        {
            "tracking_no": shipment.tracking_number,
            "company": shipment.carrier_code,
            "company_name": COMPANIES.get(shipment.carrier_code, shipment.carrier_code),
            "ship_time": unix(shipment.shipped_at),
            "delivery_id": f"D{order.order_id}",
        }
        for shipment in order.shipments
    ]
    return {
        "shop_id": shop_id,
        "shop_name": "channelsync 演示店",
        "order_id": order.order_id,
        "order_level": 2,
        "order_type": 0,
        "order_status": status,
        "order_status_desc": ORDER_STATUS_TEXT[status],
        "main_status": int(order.extra.get("main_status", status)),
        "main_status_desc": ORDER_STATUS_TEXT.get(status, ""),
        "create_time": unix(order.created),
        "update_time": unix(order.modified),
        "pay_time": unix(order.paid_at) if order.paid_at else 0,
        "finish_time": 0,
        "ship_time": unix(order.shipments[0].shipped_at) if order.shipments else 0,
        "pay_type": 1,
        "order_amount": fen(order.total + order.shipping_fee),
        "pay_amount": fen(paid),
        "post_amount": fen(order.shipping_fee),
        "promotion_amount": fen(order.discount),
        "buyer_words": order.buyer_note,
        "seller_words": "",
        "encrypt_post_receiver": f"#{uuid.uuid5(uuid.NAMESPACE_OID, order.receiver_name).hex}#",
        "encrypt_post_tel": f"${uuid.uuid5(uuid.NAMESPACE_OID, order.receiver_phone).hex}$",
        "mask_post_receiver": _mask_name(order.receiver_name),
        "mask_post_tel": _mask_phone(order.receiver_phone),
        "mask_post_addr": {
            "province": _region(order.province, 330000),
            "city": _region(order.city, 330100),
            "town": _region(order.district, 330106),
            "street": _region("", 0),
            "detail": "****",
        },
        "logistics_info": shipments,
        "sku_order_list": [_sku_order(order, line, status) for line in order.lines],
    }
