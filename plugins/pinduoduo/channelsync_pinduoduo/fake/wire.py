"""The PDD wire format as the fake renders it, written from the reference.

This module knows PDD's field names, units and envelopes: fen integers for goods
prices, yuan JSON numbers for order and refund amounts, Beijing wall-clock
strings for times, ciphertext and masked receiver fields. It deliberately does not
import the plugin's parsing code, so a plugin that reads PDD wrongly fails here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from channelsync.clock import format_local_time
from channelsync.testing.fakes import FakeItem, FakeOrder, FakeRefund, FakeSku, FakeStore

__all__ = [
    "LOGISTICS_COMPANIES",
    "ROOT_KEYS",
    "error_response",
    "fen",
    "ok",
    "render_goods",
    "render_goods_info",
    "render_order",
    "render_refund",
    "render_sku",
    "yuan_number",
]

#: ``type`` to success root key, from the reference's table (not derivable from the name).
ROOT_KEYS: Mapping[str, str] = {
    "pdd.goods.list.get": "goods_list_get_response",
    "pdd.goods.information.get": "goods_info_get_response",
    "pdd.goods.skus.get": "goods_sku_get_response",
    "pdd.goods.quantity.update": "goods_quantity_update_response",
    "pdd.goods.sku.price.update": "goods_update_sku_price_response",
    "pdd.goods.sale.status.set": "goods_sale_status_set_response",
    "pdd.order.number.list.increment.get": "order_sn_increment_get_response",
    "pdd.order.information.get": "order_info_get_response",
    "pdd.logistics.online.send": "logistics_online_send_response",
    "pdd.logistics.companies.get": "logistics_companies_get_response",
    "pdd.refund.list.increment.get": "refund_increment_get_response",
    "pdd.pop.auth.token.refresh": "pop_auth_token_refresh_response",
    "pdd.pmc.user.permit": "pmc_user_permit_response",
}

#: The fake's logistics companies: ``(id, name, code, available)``; ids are the fake's own.
LOGISTICS_COMPANIES: tuple[tuple[int, str, str, int], ...] = (
    (44, "顺丰快递", "SF", 1),
    (85, "圆通快递", "YTO", 1),
    (115, "中通快递", "ZTO", 1),
    (1, "申通快递", "STO", 1),
    (121, "韵达快递", "YUNDA", 1),
    (120, "京东配送", "JD", 1),
    (118, "邮政EMS", "EMS", 1),
    (384, "极兔速递", "JTSD", 1),
    (3, "百世快递", "HT", 0),
)


def _json(body: Any) -> httpx.Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return httpx.Response(
        200, headers={"Content-Type": "application/json;charset=UTF-8"}, content=content
    )


def ok(method: str, payload: Mapping[str, Any]) -> httpx.Response:
    """Return the success envelope of ``method``."""
    return _json({ROOT_KEYS[method]: dict(payload)})


def error_response(
    code: int, message: str, *, sub_code: str | int | None = None, sub_msg: str = ""
) -> httpx.Response:
    """Return PDD's ``error_response`` envelope (HTTP 200, integer ``error_code``)."""
    request_id = hashlib.sha256(f"{code}{message}{sub_msg}".encode()).hexdigest()[:17]
    return _json(
        {
            "error_response": {
                "error_code": code,
                "error_msg": message,
                "sub_code": sub_code,
                "sub_msg": sub_msg,
                "request_id": str(int(request_id, 16))[:17],
            }
        }
    )


def fen(amount: Decimal) -> int:
    """Return a yuan amount as integer fen (the fake's prices are always whole fen)."""
    return int(amount * 100)


def yuan_number(amount: Decimal) -> float:
    """Return a yuan amount as PDD sends it: a JSON number (rendered from a float)."""
    # The real gateway writes numbers; the plugin must read them without float rounding.
    return float(amount)


def _time(moment: Any) -> str:
    return "" if moment is None else format_local_time(moment)


def _cipher(order_sn: str, value: str) -> str:
    digest = hashlib.sha256(f"{order_sn}:{value}".encode()).digest()
    return "~" + base64.b64encode(digest).decode("ascii") + "~"


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def _mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "*" * len(phone)


def _mask_address(address: str) -> str:
    return address[:3] + "****" if address else ""


def _logistics_id(code: str) -> int:
    return next((c[0] for c in LOGISTICS_COMPANIES if c[2] == code), 0)


def render_sku(item: FakeItem, sku: FakeSku) -> dict[str, Any]:
    """Render one SKU as ``pdd.goods.skus.get`` answers it (prices in fen)."""
    return {
        "goods_id": int(item.item_id),
        "sku_id": int(sku.sku_id),
        "is_onsale": int(item.on_sale and sku.extra.get("on_sale", True)),
        "multi_price": fen(sku.price),
        "single_price": fen(sku.extra["single_price"]),
        "out_sku_sn": sku.merchant_code or "",
        "quantity": sku.quantity,
        "reserve_quantity": 0,
        "spec": [
            {
                "parent_spec_id": 1,
                "parent_spec_name": sku.properties.split(":", 1)[0],
                "spec_id": int(sku.sku_id) % 100_000,
                "spec_name": sku.properties.split(":", 1)[-1],
            }
        ],
    }


def render_goods(item: FakeItem) -> dict[str, Any]:
    """Render one goods as a ``pdd.goods.list.get`` entry (no prices, as on PDD)."""
    return {
        "goods_id": int(item.item_id),
        "goods_name": item.title,
        "image_url": f"https://img.example.invalid/{item.item_id}.jpg",
        "thumb_url": f"https://img.example.invalid/{item.item_id}_thumb.jpg",
        "is_more_sku": int(len(item.skus) > 1),
        "is_onsale": int(item.on_sale),
        "goods_quantity": item.quantity,
        "goods_reserve_quantity": 0,
        "sku_list": [
            {
                "sku_id": int(sku.sku_id),
                "spec": sku.properties.split(":", 1)[-1],
                "sku_quantity": sku.quantity,
                "reserve_quantity": 0,
                "outer_id": sku.merchant_code or "",
                "outer_goods_id": item.merchant_code or "",
                "is_sku_onsale": int(sku.extra.get("on_sale", True)),
            }
            for sku in item.skus
        ],
    }


def _yuan_text(amount: Decimal) -> str:
    return f"{amount:.2f}"


def render_goods_info(item: FakeItem) -> dict[str, Any]:
    """Render one goods as ``pdd.goods.information.get``'s ``goods_info`` (yuan strings)."""
    return {
        "goods_id": int(item.item_id),
        "goods_name": item.title,
        "image_url": f"https://img.example.invalid/{item.item_id}.jpg",
        "goods_quantity": item.quantity,
        "is_onsale": int(item.on_sale),
        "goods_type": 1,
        "sku_list": [
            {
                "sku_id": int(sku.sku_id),
                "spec": sku.properties.split(":", 1)[-1],
                "sku_quantity": sku.quantity,
                "outer_id": sku.merchant_code or "",
                "outer_goods_id": item.merchant_code or "",
                # The reference: SKU prices of this method are yuan strings, not fen.
                "group_price": _yuan_text(sku.price),
                "single_price": _yuan_text(sku.extra["single_price"]),
                "is_sku_onsale": int(sku.extra.get("on_sale", True)),
            }
            for sku in item.skus
        ],
    }


def render_order(order: FakeOrder, store: FakeStore) -> dict[str, Any]:
    """Render one order as the increment list and the order detail carry it."""
    extra = order.extra
    status = int(order.status)
    risky = int(extra.get("risk_control_status", 0))
    # Receiver ciphertext is only handed out while the order awaits shipment.
    plain = status == 1 and risky == 0
    goods_amount = sum((line.price * line.quantity for line in order.lines), Decimal(0))
    postage = order.shipping_fee
    pay = goods_amount - order.discount + postage
    items = []
    for line in order.lines:
        item = store.items.get(line.item_id)
        items.append(
            {
                "goods_id": int(line.item_id),
                "sku_id": int(line.sku_id) if line.sku_id else 0,
                "goods_name": line.title,
                "goods_spec": "",
                "goods_count": line.quantity,
                "goods_price": yuan_number(line.price),
                "outer_id": line.merchant_code or "",
                "outer_goods_id": (item.merchant_code if item else "") or "",
                "goods_img": f"https://img.example.invalid/{line.item_id}.jpg",
            }
        )
    shipment = order.shipments[-1] if order.shipments else None
    return {
        "order_sn": order.order_id,
        "order_status": status,
        "confirm_status": int(extra.get("confirm_status", 1)),
        "group_status": int(extra.get("group_status", 1)),
        "refund_status": int(extra.get("refund_status", 1)),
        "after_sales_status": int(extra.get("after_sales_status", 0)),
        "risk_control_status": risky,
        "trade_type": 0,
        "goods_amount": yuan_number(goods_amount),
        "discount_amount": yuan_number(order.discount),
        "pay_amount": yuan_number(pay),
        "postage": yuan_number(postage),
        "platform_discount": 0,
        "seller_discount": yuan_number(order.discount),
        "capital_free_discount": 0,
        "order_change_amount": 0,
        "created_time": _time(order.created),
        "confirm_time": _time(order.paid_at),
        "pay_time": _time(order.paid_at),
        "shipping_time": _time(shipment.shipped_at if shipment else None),
        "receive_time": _time(extra.get("received_at")),
        "updated_at": _time(order.modified),
        "last_ship_time": _time(order.created + timedelta(hours=48)),
        "receiver_name": _cipher(order.order_id, order.receiver_name) if plain else "",
        "receiver_phone": _cipher(order.order_id, order.receiver_phone) if plain else "",
        "receiver_address": _cipher(order.order_id, order.address) if plain else "",
        "address": _cipher(order.order_id, order.address) if plain else "",
        "receiver_name_mask": _mask_name(order.receiver_name),
        "receiver_phone_mask": _mask_phone(order.receiver_phone),
        "receiver_address_mask": _mask_address(
            f"{order.province}{order.city}{order.district}{order.address}"
        ),
        "address_mask": _mask_address(order.address),
        "country": "中国",
        "province": order.province,
        "city": order.city,
        "town": order.district,
        "logistics_id": _logistics_id(shipment.carrier_code) if shipment else 0,
        "tracking_number": shipment.tracking_number if shipment else "",
        "item_list": items,
        "pay_type": "WEIXIN",
        "buyer_memo": order.buyer_note,
        "remark": "",
    }


def render_refund(refund: FakeRefund) -> dict[str, Any]:
    """Render one after-sales case as ``pdd.refund.list.increment.get`` lists it."""
    extra = refund.extra
    return {
        "id": int(refund.refund_id),
        "order_sn": refund.order_id,
        "after_sales_type": int(extra.get("after_sales_type", 2)),
        "after_sales_status": int(refund.status),
        "after_sale_reason": refund.reason,
        "refund_amount": yuan_number(refund.amount),
        "order_amount": yuan_number(extra.get("order_amount", refund.amount)),
        "discount_amount": 0,
        "goods_id": int(extra["goods_id"]),
        "sku_id": int(extra["sku_id"]),
        "outer_id": extra.get("outer_id", ""),
        "outer_goods_id": extra.get("outer_goods_id", ""),
        "goods_number": int(extra.get("goods_number", 1)),
        "goods_price": yuan_number(extra.get("goods_price", refund.amount)),
        "created_time": _time(refund.created),
        "updated_time": _time(refund.modified),
        "confirm_time": "",
        "tracking_number": "",
        "shipping_name": "",
        "speed_refund_flag": 0,
        "speed_refund_status": "",
        "dispute_refund_status": 0,
        "user_shipping_status": "0",
    }
