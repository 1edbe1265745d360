"""Douyin Shop records to and from the core models: statuses, money, times, carriers.

Money is integer fen everywhere on this gateway; times are UNIX seconds (the same
instant anywhere) and are given back in China Standard Time, the shop's own zone.
A shop order (店铺单, ``order_id``) holds SKU orders (商品单, ``sku_order_list``),
one per order line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from channelsync.clock import CHINA_STANDARD_TIME
from channelsync.errors import DataError
from channelsync.models import (
    Address,
    Carrier,
    Listing,
    ListingStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
)

from channelsync_douyin.envelope import Record, get_int, get_list, get_str

__all__ = [
    "CARRIER_CODES",
    "CURRENCY",
    "ORDER_STATUSES",
    "from_unix",
    "money_from_fen",
    "parse_listings",
    "parse_order",
    "to_unix",
]

CURRENCY = "CNY"

#: ``order_status`` -> canonical status (订单状态).
ORDER_STATUSES: Mapping[int, OrderStatus] = {
    1: OrderStatus.PENDING_PAYMENT,  # 待确认/待支付
    105: OrderStatus.PAID,  # 已支付
    2: OrderStatus.PAID,  # 备货中 (paid, awaiting shipment)
    101: OrderStatus.PARTIALLY_SHIPPED,  # 部分发货
    3: OrderStatus.SHIPPED,  # 已发货 (全部发货)
    4: OrderStatus.CANCELLED,  # 已取消
    5: OrderStatus.COMPLETED,  # 已完成 (已收货)
}
#: ``main_status`` values that say the order ended in a refund (退款完结).
REFUNDED_MAIN_STATUSES = frozenset({21, 22, 39})
#: ``after_sale_info.after_sale_status`` values of an after-sale case still open.
OPEN_AFTER_SALE = frozenset({6, 7, 11, 13, 14})

#: Canonical carrier -> ``company_code`` of ``/order/logisticsCompanyList``.
CARRIER_CODES: Mapping[Carrier, str] = {
    Carrier.SF: "shunfeng",
    Carrier.YTO: "yuantong",
    Carrier.ZTO: "zhongtong",
    Carrier.STO: "shentong",
    Carrier.YUNDA: "yunda",
    Carrier.JD: "jd",
    Carrier.EMS: "ems",
    Carrier.DEPPON: "debangwuliu",
    Carrier.JT: "jtexpress",
    Carrier.BEST: "huitongkuaidi",
    Carrier.ZJS: "zhaijisong",
}


def money_from_fen(fen: int) -> Money:
    """Return integer fen as yuan ``Money`` (1990 -> 19.90 CNY), never via float."""
    return Money.from_minor_units(fen, CURRENCY)


def from_unix(seconds: int) -> datetime:
    """Return UNIX seconds as an aware time in China Standard Time."""
    return datetime.fromtimestamp(seconds, tz=CHINA_STANDARD_TIME)


def to_unix(moment: datetime) -> int:
    """Return an aware time as whole UNIX seconds (rounded down)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: channelsync only handles aware times")
    return int(moment.timestamp() // 1)


def order_status(record: Record, what: str) -> tuple[OrderStatus, str, str | None]:
    """Return the canonical status, the raw status text and the raw after-sale status."""
    raw = get_int(record, "order_status", what)
    status = ORDER_STATUSES.get(raw)
    if status is None:
        raise DataError(f"{what}: unknown order_status {raw}")
    desc = get_str(record, "order_status_desc", what, default="")
    raw_text = f"{raw} {desc}".strip()
    if get_int(record, "main_status", what, default=0) in REFUNDED_MAIN_STATUSES:
        return OrderStatus.REFUNDED, raw_text, None
    after_sale = [
        item.get("after_sale_info") or {}
        for item in get_list(record, "sku_order_list", what, default_empty=True)
        if isinstance(item, dict)
    ]
    open_cases = [
        get_int(info, "after_sale_status", what, default=0)
        for info in after_sale
        if get_int(info, "after_sale_status", what, default=0) in OPEN_AFTER_SALE
    ]
    if open_cases and not status.is_final:
        return OrderStatus.REFUND_REQUESTED, raw_text, str(open_cases[0])
    return status, raw_text, None


def _line(item: object, order_id: str) -> OrderLine:
    what = f"order {order_id} sku order"
    code = get_str(item, "code", what, default="")
    return OrderLine(
        line_id=get_str(item, "order_id", what),
        item_id=get_str(item, "product_id", what),
        sku_id=get_str(item, "sku_id", what),
        merchant_code=code or None,
        title=get_str(item, "product_name", what, default="") or None,
        quantity=get_int(item, "item_num", what),
        unit_price=money_from_fen(get_int(item, "origin_amount", what)),
    )


def _address(record: Record, what: str) -> Address | None:
    addr = record.get("mask_post_addr")
    if not isinstance(addr, dict):
        return None

    def name(part: str) -> str | None:
        value = addr.get(part)
        return str(value.get("name")) if isinstance(value, dict) and value.get("name") else None

    return Address(
        name=get_str(record, "mask_post_receiver", what, default="") or None,
        phone=get_str(record, "mask_post_tel", what, default="") or None,
        country="CN",
        state=name("province"),
        city=name("city"),
        district=name("town"),
        street=" ".join(p for p in (name("street"), str(addr.get("detail") or "")) if p) or None,
        masked=True,
    )


def parse_order(record: object, channel: str) -> Order:
    """Build an :class:`Order` from a shop order of ``order.searchList`` or ``orderDetail``."""
    if not isinstance(record, dict):
        raise DataError(f"order record is {type(record).__name__}, not an object")
    order_id = get_str(record, "order_id", "order")
    what = f"order {order_id}"
    status, raw_status, raw_refund = order_status(record, what)
    lines = [_line(item, order_id) for item in get_list(record, "sku_order_list", what)]
    if not lines:
        raise DataError(f"{what}: no sku_order_list entries")
    pay_time = get_int(record, "pay_time", what, default=0)
    try:
        return Order(
            channel=channel,
            order_id=order_id,
            status=status,
            raw_status=raw_status,
            created_at=from_unix(get_int(record, "create_time", what)),
            updated_at=from_unix(get_int(record, "update_time", what)),
            paid_at=from_unix(pay_time) if pay_time else None,
            lines=tuple(lines),
            total=money_from_fen(get_int(record, "pay_amount", what)),
            shipping_fee=money_from_fen(get_int(record, "post_amount", what, default=0)),
            discount=money_from_fen(get_int(record, "promotion_amount", what, default=0)),
            shipping_address=_address(record, what),
            buyer_note=get_str(record, "buyer_words", what, default="") or None,
            raw_refund_status=raw_refund,
        )
    except ValueError as error:
        # pydantic's ValidationError is a ValueError; the record broke a model rule.
        raise DataError(f"{what}: {error}") from None


_PRODUCT_STATUSES: Mapping[int, ListingStatus] = {
    0: ListingStatus.ON_SALE,  # 在线
    1: ListingStatus.DELISTED,  # 下线
}


def parse_listings(product: object, skus: list[object], channel: str) -> list[Listing]:
    """Build one :class:`Listing` per SKU of a ``product.listV2`` product (deleted: none)."""
    product_id = get_str(product, "product_id", "product")
    what = f"product {product_id}"
    raw = get_int(product, "status", what)
    status = _PRODUCT_STATUSES.get(raw)
    if status is None:
        return []  # 2: deleted
    title = get_str(product, "name", what, default="") or product_id
    listings = []
    for sku in skus:
        sku_what = f"{what} sku"
        code = get_str(sku, "code", sku_what, default="")
        stock = get_int(sku, "stock_num", sku_what, default=0)
        listings.append(
            Listing(
                channel=channel,
                item_id=product_id,
                sku_id=get_str(sku, "id", sku_what),
                merchant_code=code or None,
                title=title,
                price=money_from_fen(get_int(sku, "price", sku_what)),
                quantity=max(stock, 0),
                status=status,
                raw_status=str(raw),
                updated_at=from_unix(get_int(product, "update_time", what, default=0)),
            )
        )
    return listings
