"""How the fake JOS gateway writes its answers: envelopes, error codes, records.

Written from the wire reference, independently of the plugin's parsing code.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from channelsync.clock import CHINA_STANDARD_TIME, format_local_time
from channelsync.testing.fakes import FakeItem, FakeOrder, FakeSku

__all__ = [
    "CODE_CALL_LIMITED",
    "CODE_INVALID_METHOD",
    "CODE_INVALID_SIGNATURE",
    "CODE_INVALID_TIMESTAMP",
    "CODE_INVALID_TOKEN",
    "CODE_INVALID_VERSION",
    "CODE_MISSING_METHOD",
    "CODE_MISSING_SIGNATURE",
    "CODE_MISSING_TIMESTAMP",
    "CODE_MISSING_VERSION",
    "CODE_PARAMETER",
    "error_response",
    "jos_json",
    "order_info",
    "sku_row",
    "success",
    "ware_row",
]

CODE_CALL_LIMITED = "2"
CODE_MISSING_VERSION = "4"
CODE_INVALID_VERSION = "5"
CODE_MISSING_TIMESTAMP = "7"
CODE_INVALID_TIMESTAMP = "8"
CODE_MISSING_SIGNATURE = "11"
CODE_INVALID_SIGNATURE = "12"
CODE_MISSING_METHOD = "14"
CODE_INVALID_METHOD = "15"
CODE_INVALID_TOKEN = "19"  # noqa: S105 - an error code
#: The fake's own code for malformed business parameters: JD's is not documented.
CODE_PARAMETER = "1000"

_DESCRIPTIONS = {
    CODE_CALL_LIMITED: ("App Call Limited", "调用次数超限，请明天再调用或申请提升调用量"),  # noqa: RUF001
    CODE_MISSING_VERSION: ("Missing Version", "缺少版本参数"),
    CODE_INVALID_VERSION: ("Unsupported Version", "不支持的版本号"),
    CODE_MISSING_TIMESTAMP: ("Missing Timestamp", "缺少时间戳参数"),
    CODE_INVALID_TIMESTAMP: ("Invalid Timestamp", "非法的时间戳参数"),
    CODE_MISSING_SIGNATURE: ("Missing Signature", "缺少签名参数"),
    CODE_INVALID_SIGNATURE: ("Invalid Signature", "无效签名"),
    CODE_MISSING_METHOD: ("Missing Method", "缺少方法名参数"),
    CODE_INVALID_METHOD: ("Invalid Method", "不存在的方法名"),
    CODE_INVALID_TOKEN: (
        "Invalid access_token",
        "token已过期或者不存在，请重新授权访问",  # noqa: RUF001
    ),
}


def _render(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_render(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def jos_json(body: dict[str, Any], status: int = 200) -> httpx.Response:
    """Answer with a JSON body; ``Decimal`` amounts are written as exact JSON numbers."""
    return httpx.Response(
        status,
        headers={"Content-Type": "application/json;charset=UTF-8"},
        content=_render(body).encode("utf-8"),
    )


def error_response(code: str, detail: str = "") -> httpx.Response:
    """Answer with the gateway's ``error_response`` (string ``code``, zh/en descriptions)."""
    english, chinese = _DESCRIPTIONS.get(code, ("Invalid parameter", "参数错误"))
    if detail:
        english, chinese = f"{english}: {detail}", f"{chinese}: {detail}"
    return jos_json({"error_response": {"code": code, "zh_desc": chinese, "en_desc": english}})


def success(method: str, result: dict[str, Any], *, root: str | None = None) -> httpx.Response:
    """Answer under ``<method>_responce`` (JD's spelling) with string code ``"0"``."""
    key = root or method.replace(".", "_") + "_responce"
    return jos_json({key: {"code": "0", **result}})


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def ware_row(item: FakeItem) -> dict[str, Any]:
    """Render a ware as ``searchWare4Valid`` lists it (times in epoch milliseconds)."""
    return {
        "wareId": int(item.item_id),
        "title": item.title,
        "wareStatus": int(item.extra.get("wareStatus", 8 if item.on_sale else 2)),
        "jdPrice": item.price,
        "stockNum": item.quantity,
        "outerId": item.merchant_code or "",
        "modified": _millis(item.modified),
    }


def sku_row(item: FakeItem, sku: FakeSku) -> dict[str, Any]:
    """Render a SKU as ``searchSkuList`` lists it."""
    return {
        "skuId": int(sku.sku_id),
        "wareId": int(item.item_id),
        "jdPrice": sku.price,
        "stockNum": sku.quantity,
        "outerId": sku.merchant_code or "",
        "status": 1 if item.on_sale else 2,
        "skuName": f"{item.title} {sku.properties}".strip(),
        "modified": _millis(item.modified),
    }


def _mask(text: str, keep: int = 1) -> str:
    return text[:keep] + "*" * max(1, len(text) - keep) if text else text


def _yuan(amount: Decimal) -> str:
    return f"{amount:.2f}"


def order_info(order: FakeOrder) -> dict[str, Any]:
    """Render every ``orderInfo`` field the fake knows (callers keep the requested ones)."""
    goods = sum((line.price * line.quantity for line in order.lines), Decimal("0"))
    phone = order.receiver_phone
    return {
        "orderId": order.order_id,
        "venderId": "10001",
        "orderType": "22",
        "payType": "4-在线支付",
        "orderTotalPrice": _yuan(goods),
        "orderSellerPrice": _yuan(goods - order.discount),
        "orderPayment": _yuan(order.total + order.shipping_fee - order.discount),
        "freightPrice": _yuan(order.shipping_fee),
        "sellerDiscount": _yuan(order.discount),
        "orderState": order.status,
        "orderStateRemark": order.extra.get("remark", ""),
        "orderRemark": order.buyer_note,
        "orderStartTime": format_local_time(order.created, CHINA_STANDARD_TIME),
        "orderEndTime": "",
        "paymentConfirmTime": ""
        if order.paid_at is None
        else format_local_time(order.paid_at, CHINA_STANDARD_TIME),
        "modified": format_local_time(order.modified, CHINA_STANDARD_TIME),
        "consigneeInfo": {
            "fullname": _mask(order.receiver_name),
            "mobile": phone[:3] + "****" + phone[-4:] if len(phone) > 7 else _mask(phone),
            "telephone": "",
            "fullAddress": order.province + order.city + order.district + _mask(order.address, 2),
            "province": order.province,
            "city": order.city,
            "county": order.district,
        },
        "itemInfoList": [
            {
                "skuId": line.sku_id or "",
                "outerSkuId": line.merchant_code or "",
                "skuName": line.title,
                "wareId": line.item_id,
                "jdPrice": _yuan(line.price),
                "itemTotal": str(line.quantity),
                "productNo": "",
            }
            for line in order.lines
        ],
        "waybill": ",".join(s.tracking_number for s in order.shipments if s.tracking_number),
        "logisticsId": ",".join(s.carrier_code for s in order.shipments),
    }
