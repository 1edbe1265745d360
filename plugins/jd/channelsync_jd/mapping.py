"""JOS records to and from the core models: statuses, money, times, listings, orders, carriers.

Everything JD sends in GMT+8 wall-clock time or epoch milliseconds becomes an aware
UTC datetime here; every amount (decimal yuan) becomes :class:`~channelsync.models.Money`
in CNY; every order state becomes an :class:`~channelsync.models.OrderStatus`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from channelsync.clock import parse_local_time
from channelsync.errors import DataError, ModelError
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

__all__ = [
    "CURRENCY",
    "ORDER_STATES",
    "ORDER_STATUS",
    "SELF_DELIVERY_CODE",
    "WARE_ON_SALE",
    "WARE_STATUSES",
    "JdCarrier",
    "carrier_from_record",
    "is_self_delivery",
    "listing_from",
    "money",
    "optional_money",
    "order_from_info",
    "parse_time",
    "record_id",
]

CURRENCY = "CNY"

#: ``wareStatus`` of a ware on sale; every other status is some kind of off-sale.
WARE_ON_SALE = 8
#: Every ``wareStatusValue`` of ``searchWare4Valid``: listings are read whatever their state.
WARE_STATUSES = (1, 2, 4, 8, 513, 514, 516, 520, 1028)
_SKU_ON_SALE = 1

#: Every order state ``jingdong.pop.order.search`` knows, in the order JD documents them.
ORDER_STATES = (
    "WAIT_SELLER_STOCK_OUT",
    "WAIT_GOODS_RECEIVE_CONFIRM",
    "WAIT_SELLER_DELIVERY",
    "PAUSE",
    "FINISHED_L",
    "TRADE_CANCELED",
    "LOCKED",
    "POP_ORDER_PAUSE",
)

#: Canonical status of each state (held states are refined by :func:`order_from_info`).
ORDER_STATUS: dict[str, OrderStatus] = {
    "WAIT_SELLER_STOCK_OUT": OrderStatus.PAID,
    "WAIT_GOODS_RECEIVE_CONFIRM": OrderStatus.SHIPPED,
    "WAIT_SELLER_DELIVERY": OrderStatus.PAID,
    "PAUSE": OrderStatus.PAID,
    "FINISHED_L": OrderStatus.COMPLETED,
    "TRADE_CANCELED": OrderStatus.CANCELLED,
    "LOCKED": OrderStatus.PAID,
    "POP_ORDER_PAUSE": OrderStatus.PAID,
}

_HOLD_REASONS = {
    "PAUSE": "paused by JD (PAUSE)",
    "LOCKED": "locked by JD for after-sales or risk control (LOCKED)",
    "POP_ORDER_PAUSE": "POP business pause (POP_ORDER_PAUSE)",
}

#: JD's carrier id for merchant self-delivery (厂家自送): no tracking number is stored.
SELF_DELIVERY_CODE = "1274"
_SELF_DELIVERY_NAMES = frozenset(
    {"厂家自送", "商家自送", "自送", "selfdelivery", "merchantdelivery", "self"}
)


def record_id(value: Any, field: str) -> str:
    """Return a JD id (often a 13-14 digit number) as a string, never as a number."""
    if isinstance(value, bool) or value is None or value == "":
        raise DataError(f"{field} is missing")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise DataError(f"{field} {value} is not a whole number")
        return str(int(value))
    return str(value)


def money(value: Any, field: str) -> Money:
    """Read a JD amount in yuan (a number or a string) as CNY :class:`Money`."""
    if isinstance(value, bool) or value is None or value == "":
        raise DataError(f"{field} is missing or not an amount")
    try:
        return Money.of(value if isinstance(value, int | Decimal) else str(value), CURRENCY)
    except ModelError as exc:
        raise DataError(f"{field}: {exc}") from None


def optional_money(value: Any, field: str) -> Money | None:
    """Like :func:`money`, but ``None`` when JD left the amount out."""
    return None if value in (None, "") else money(value, field)


def parse_time(value: Any, field: str) -> datetime:
    """Read a JD time: ``yyyy-MM-dd HH:mm:ss`` GMT+8 (maybe with a fraction) or epoch ms."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return _from_epoch_ms(value, field)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return _from_epoch_ms(text, field)
        try:
            return parse_local_time(text.split(".", 1)[0])
        except ValueError as exc:
            raise DataError(f"{field}: {exc}") from None
    raise DataError(f"{field} is missing or not a time")


def _from_epoch_ms(value: int | Decimal | str, field: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        # A year past 9999 (or before 1), or beyond what the platform's time_t holds.
        raise DataError(f"{field}: {value} ms is not a plausible time") from None


def _int(value: Any, field: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise DataError(f"{field} {value!r} is not a whole number") from None


def listing_from(ware: Mapping[str, Any], sku: Mapping[str, Any], *, channel: str) -> Listing:
    """Build the listing of one SKU of a ware (``searchWare4Valid`` + ``searchSkuList`` rows)."""
    ware_status = _int(ware.get("wareStatus", 0), "wareStatus")
    sku_status = sku.get("status")
    on_sale = ware_status == WARE_ON_SALE and (
        sku_status is None or _int(sku_status, "status") == _SKU_ON_SALE
    )
    stock = sku.get("stockNum")
    price = sku.get("jdPrice", ware.get("jdPrice"))
    modified = sku.get("modified", ware.get("modified"))
    try:
        return Listing(
            channel=channel,
            item_id=record_id(ware.get("wareId"), "wareId"),
            sku_id=record_id(sku.get("skuId"), "skuId"),
            merchant_code=str(sku.get("outerId") or "") or None,
            title=str(ware.get("title") or sku.get("skuName") or ""),
            price=optional_money(price, "jdPrice"),
            quantity=None if stock in (None, "") else max(0, _int(stock, "stockNum")),
            status=ListingStatus.ON_SALE if on_sale else ListingStatus.DELISTED,
            raw_status=f"wareStatus={ware_status}"
            + ("" if sku_status is None else f";status={sku_status}"),
            updated_at=None if modified in (None, "") else parse_time(modified, "modified"),
        )
    except (ValueError, ModelError) as exc:
        raise DataError(f"unreadable SKU record: {exc}") from None


def _masked(*values: str | None) -> bool:
    return any(value and "*" in value for value in values)


def _address(info: Mapping[str, Any]) -> Address | None:
    consignee = info.get("consigneeInfo")
    if not isinstance(consignee, dict):
        return None
    name = text(consignee, "fullname")
    phone = text(consignee, "mobile") or text(consignee, "telephone")
    street = text(consignee, "fullAddress")
    return Address(
        name=name,
        phone=phone,
        country="CN",
        state=text(consignee, "province"),
        city=text(consignee, "city"),
        district=text(consignee, "county"),
        street=street,
        # JD masks or encrypts consignee data (TDE); it is kept exactly as given.
        masked=_masked(name, phone, street),
    )


def text(record: Mapping[str, Any], key: str) -> str | None:
    """Return ``record[key]`` as text, or ``None`` when absent or empty."""
    value = record.get(key)
    return None if value in (None, "") else str(value)


def _line(item: Mapping[str, Any], order_id: str) -> OrderLine:
    return OrderLine(
        item_id=record_id(item.get("wareId"), f"order {order_id} wareId"),
        sku_id=record_id(item.get("skuId"), f"order {order_id} skuId"),
        merchant_code=text(item, "outerSkuId"),
        title=text(item, "skuName"),
        # itemTotal is the number of units on the line, not an amount.
        quantity=_int(item.get("itemTotal"), f"order {order_id} itemTotal"),
        unit_price=money(item.get("jdPrice"), f"order {order_id} jdPrice"),
    )


def order_from_info(info: Mapping[str, Any], *, channel: str) -> Order:
    """Build a canonical order from a JD ``orderInfo`` record."""
    order_id = record_id(info.get("orderId"), "orderId")
    state = str(info.get("orderState") or "")
    status = ORDER_STATUS.get(state)
    if status is None:
        raise DataError(f"order {order_id}: unknown orderState {state!r}")
    hold = _HOLD_REASONS.get(state)
    if hold is not None and info.get("waybill"):
        # A held order that already carries a waybill has left the warehouse.
        status = OrderStatus.SHIPPED
    items = info.get("itemInfoList")
    if not isinstance(items, list) or not items:
        raise DataError(f"order {order_id}: itemInfoList is missing or empty")
    try:
        created = parse_time(info.get("orderStartTime"), f"order {order_id} orderStartTime")
        modified_value = info.get("modified")
        modified = (
            created
            if modified_value in (None, "")
            else parse_time(modified_value, f"order {order_id} modified")
        )
        paid = info.get("paymentConfirmTime")
        return Order(
            channel=channel,
            order_id=order_id,
            status=status,
            raw_status=state,
            created_at=created,
            updated_at=max(created, modified),
            paid_at=None if paid in (None, "") else parse_time(paid, "paymentConfirmTime"),
            lines=tuple(_line(item, order_id) for item in items if isinstance(item, dict)),
            total=money(info.get("orderPayment"), f"order {order_id} orderPayment"),
            shipping_fee=optional_money(info.get("freightPrice"), "freightPrice"),
            discount=optional_money(info.get("sellerDiscount"), "sellerDiscount"),
            shipping_address=_address(info),
            buyer_note=text(info, "orderRemark"),
            on_hold=hold is not None,
            hold_reason=hold,
        )
    except (ValueError, ModelError) as exc:
        raise DataError(f"order {order_id}: unreadable record: {exc}") from None


class JdCarrier(BaseModel):
    """One carrier the shop may ship with, as JD lists it, with its canonical carrier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    description: str | None = None
    carrier: Carrier | None = None
    self_delivery: bool = False


def is_self_delivery(name: str | None) -> bool:
    """Return whether a carrier name means the merchant delivers the goods itself."""
    if not name:
        return False
    key = "".join(name.split()).replace("-", "").replace("_", "").casefold()
    return key in _SELF_DELIVERY_NAMES


def carrier_from_record(record: Mapping[str, Any]) -> JdCarrier:
    """Read one entry of the carrier list (``id``, ``name``, ``description``)."""
    code = record_id(record.get("id"), "carrier id")
    name = text(record, "name") or code
    try:
        carrier: Carrier | None = Carrier.parse(name)
    except ModelError:
        carrier = None
    self_delivery = code == SELF_DELIVERY_CODE or is_self_delivery(name)
    return JdCarrier(
        code=code,
        name=name,
        description=text(record, "description"),
        carrier=None if self_delivery else carrier,
        self_delivery=self_delivery,
    )
