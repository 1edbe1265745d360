"""TOP records to and from the core models: ids, yuan strings, GMT+8 times, statuses.

Every function here is pure. A record that cannot be mapped (a missing id, a price
that is not a number, a time in another format) raises :class:`DataError` naming the
field, never ``KeyError`` or ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import ValidationError

from channelsync.clock import format_local_time, parse_local_time
from channelsync.errors import DataError, InvalidRequestError, ModelError
from channelsync.models import (
    Address,
    Carrier,
    Listing,
    ListingStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundLine,
    RefundStatus,
)

__all__ = [
    "ACTIVE_REFUND_STATUSES",
    "CARRIER_CODES",
    "CURRENCY",
    "NEVER_SHIP_STATUSES",
    "ORDER_STATUSES",
    "REFUND_STATUSES",
    "SHIPPED_STATUSES",
    "format_time",
    "format_yuan",
    "listing_from",
    "order_from_trade",
    "parse_time",
    "parse_yuan",
    "refund_from_record",
    "refund_lines_from_detail",
    "text_field",
]

CURRENCY = "CNY"

ModelT = TypeVar("ModelT")

#: TOP trade status -> canonical status.
ORDER_STATUSES: Mapping[str, OrderStatus] = {
    "TRADE_NO_CREATE_PAY": OrderStatus.PENDING_PAYMENT,
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "PAY_PENDING": OrderStatus.PENDING_PAYMENT,
    "WAIT_PRE_AUTH_CONFIRM": OrderStatus.PENDING_PAYMENT,
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "PAID_FORBID_CONSIGN": OrderStatus.PAID,
    "SELLER_CONSIGNED_PART": OrderStatus.PARTIALLY_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_BUYER_SIGNED": OrderStatus.SHIPPED,
    "TRADE_FINISHED": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.REFUNDED,
    "TRADE_CLOSED_BY_TAOBAO": OrderStatus.CANCELLED,
}

#: Trade statuses that mean the goods have left (an offline send was accepted before).
SHIPPED_STATUSES = frozenset({"WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED", "TRADE_FINISHED"})

#: Paid trades TOP forbids shipping; mapped as held orders.
NEVER_SHIP_STATUSES = frozenset({"PAID_FORBID_CONSIGN"})

#: Sub-order refund states in which the buyer is still asking for money back.
ACTIVE_REFUND_STATUSES = frozenset(
    {"WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"}
)

#: TOP refund status -> canonical status.
REFUND_STATUSES: Mapping[str, RefundStatus] = {
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "EXCHANGE_TRANSFORM_TO_REFUND": RefundStatus.REQUESTED,
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.APPROVED,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.APPROVED,
    "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": RefundStatus.APPROVED,
    "WAIT_SELLER_CONSIGN_GOODS": RefundStatus.APPROVED,
    "SELLER_REFUSE_BUYER": RefundStatus.REJECTED,
    "CLOSED": RefundStatus.CANCELLED,
    "SUCCESS": RefundStatus.REFUNDED,
}

#: Canonical carriers -> ``company_code`` of ``taobao.logistics.companies.get``.
CARRIER_CODES: Mapping[Carrier, str] = {
    Carrier.SF: "SF",
    Carrier.YTO: "YTO",
    Carrier.ZTO: "ZTO",
    Carrier.STO: "STO",
    Carrier.YUNDA: "YUNDA",
    Carrier.JD: "JD",
    Carrier.EMS: "EMS",
    Carrier.DEPPON: "DBL",
    Carrier.JT: "JTSD",
    Carrier.BEST: "HTKY",
    Carrier.ZJS: "ZJS",
    Carrier.OTHER: "OTHER",
}


def text_field(record: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """Return a field as text (ids may come as numbers); ``None`` when absent or empty."""
    value = record.get(name)
    if value is None or value == "" or isinstance(value, bool):
        if required:
            raise DataError(f"field {name!r} is missing")
        return None
    if isinstance(value, int | str):
        return str(value).strip() or None
    raise DataError(f"field {name!r} is not text or a number")


def _id(record: Mapping[str, Any], name: str) -> str:
    """Prefer ``<name>_str``: 64-bit ids overflow anything that reads JSON as floats."""
    found = text_field(record, f"{name}_str") or text_field(record, name)
    if found is None:
        raise DataError(f"field {name!r} is missing")
    return found


def parse_yuan(value: object, field: str) -> Money:
    """Read a yuan amount (``"200.07"``) as CNY money; floats are refused."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"field {field!r}: {value!r} is not a yuan string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise DataError(f"field {field!r}: {value!r} is not a yuan amount") from None
    if not amount.is_finite():
        raise DataError(f"field {field!r}: {value!r} is not a yuan amount")
    return Money.of(amount, CURRENCY)


def format_yuan(money: Money) -> str:
    """Write CNY money as TOP wants it: yuan with exactly two decimals."""
    if money.currency != CURRENCY:
        raise InvalidRequestError(f"TOP prices are in CNY, not {money.currency}")
    quantized = money.quantize(2)
    if quantized.amount != money.amount:
        raise InvalidRequestError(f"price {money} has more than two decimals")
    return format(quantized.amount, "f")


def parse_time(value: object, field: str) -> datetime:
    """Read a GMT+8 ``yyyy-MM-dd HH:mm:ss`` time as an aware UTC datetime."""
    if not isinstance(value, str):
        raise DataError(f"field {field!r}: {value!r} is not a time")
    try:
        return parse_local_time(value)
    except ValueError:
        raise DataError(f"field {field!r}: {value!r} is not a GMT+8 time") from None


def format_time(moment: datetime) -> str:
    """Write an aware datetime as TOP's GMT+8 wall-clock time."""
    return format_local_time(moment)


def _optional_time(record: Mapping[str, Any], field: str) -> datetime | None:
    value = record.get(field)
    return None if value in (None, "") else parse_time(value, field)


def _built(kind: str, build: type[ModelT], **fields: Any) -> ModelT:
    try:
        return build(**fields)
    except (ValidationError, ModelError) as exc:
        raise DataError(f"{kind} cannot be mapped: {exc}") from None


def listing_from(
    channel: str,
    item: Mapping[str, Any],
    sku: Mapping[str, Any] | None,
    *,
    on_sale: bool,
) -> Listing:
    """Map an item (from the on-sale or in-warehouse list) and one of its SKUs."""
    item_modified = _optional_time(item, "modified")
    source = sku if sku is not None else item
    modified = _optional_time(source, "modified") if sku is not None else None
    updated = max((t for t in (item_modified, modified) if t is not None), default=None)
    quantity_field = "quantity" if sku is not None else "num"
    quantity = source.get(quantity_field)
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
        raise DataError(f"field {quantity_field!r}: {quantity!r} is not a whole number")
    price = source.get("price")
    return _built(
        "listing",
        Listing,
        channel=channel,
        item_id=_id(item, "num_iid"),
        sku_id=_id(sku, "sku_id") if sku is not None else None,
        merchant_code=text_field(source, "outer_id"),
        title=text_field(item, "title") or "",
        price=None if price in (None, "") else parse_yuan(price, "price"),
        quantity=None if quantity is None else max(0, quantity),
        status=ListingStatus.ON_SALE if on_sale else ListingStatus.DELISTED,
        raw_status=text_field(item, "approve_status") or ("onsale" if on_sale else "instock"),
        updated_at=updated,
    )


def _line(record: Mapping[str, Any]) -> OrderLine:
    quantity = record.get("num")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise DataError(f"sub-order field 'num': {quantity!r} is not a whole number")
    return _built(
        "order line",
        OrderLine,
        line_id=_id(record, "oid"),
        item_id=_id(record, "num_iid"),
        sku_id=text_field(record, "sku_id"),
        merchant_code=text_field(record, "outer_sku_id") or text_field(record, "outer_iid"),
        title=text_field(record, "title"),
        quantity=quantity,
        unit_price=parse_yuan(record.get("price"), "price"),
    )


def order_from_trade(channel: str, trade: Mapping[str, Any], lines: list[dict[str, Any]]) -> Order:
    """Map a ``trade_fullinfo_get`` trade and its sub-orders to an :class:`Order`.

    Receiver fields are kept as TOP gives them (masked or encrypted) and flagged so.
    A paid trade with a sub-order under refund is ``REFUND_REQUESTED``; a trade TOP
    forbids shipping is held.
    """
    raw_status = text_field(trade, "status", required=True) or ""
    status = ORDER_STATUSES.get(raw_status)
    if status is None:
        raise DataError(f"unknown trade status {raw_status!r}")
    refund_states = [
        state
        for state in (text_field(line, "refund_status") for line in lines)
        if state and state != "NO_REFUND"
    ]
    if status.awaits_shipment and any(s in ACTIVE_REFUND_STATUSES for s in refund_states):
        status = OrderStatus.REFUND_REQUESTED
    held = raw_status in NEVER_SHIP_STATUSES
    post_fee = trade.get("post_fee")
    address = _built(
        "address",
        Address,
        name=text_field(trade, "receiver_name"),
        phone=text_field(trade, "receiver_mobile") or text_field(trade, "receiver_phone"),
        country="CN",
        state=text_field(trade, "receiver_state"),
        city=text_field(trade, "receiver_city"),
        district=text_field(trade, "receiver_district"),
        street=text_field(trade, "receiver_address"),
        postal_code=text_field(trade, "receiver_zip"),
        masked=True,
    )
    return _built(
        "order",
        Order,
        channel=channel,
        order_id=_id(trade, "tid"),
        status=status,
        raw_status=raw_status,
        created_at=parse_time(trade.get("created"), "created"),
        updated_at=parse_time(trade.get("modified"), "modified"),
        paid_at=_optional_time(trade, "pay_time"),
        lines=tuple(_line(line) for line in lines),
        total=parse_yuan(trade.get("payment"), "payment"),
        shipping_fee=None if post_fee in (None, "") else parse_yuan(post_fee, "post_fee"),
        shipping_address=address,
        buyer_note=text_field(trade, "buyer_message"),
        on_hold=held,
        hold_reason=f"TOP forbids shipping ({raw_status})" if held else None,
        raw_refund_status=refund_states[0] if refund_states else None,
        # The app's pseudonym of the buyer: stable across orders, names no one.
        buyer_id=text_field(trade, "buyer_open_uid"),
    )


def refund_from_record(channel: str, record: Mapping[str, Any]) -> Refund:
    """Map a ``taobao.refunds.receive.get`` refund to a :class:`Refund`."""
    raw_status = text_field(record, "status", required=True) or ""
    status = REFUND_STATUSES.get(raw_status)
    if status is None:
        raise DataError(f"unknown refund status {raw_status!r}")
    has_good_return = record.get("has_good_return")
    return _built(
        "refund",
        Refund,
        channel=channel,
        refund_id=_id(record, "refund_id"),
        order_id=_id(record, "tid"),
        status=status,
        raw_status=raw_status,
        amount=parse_yuan(record.get("refund_fee"), "refund_fee"),
        reason=text_field(record, "reason"),
        created_at=parse_time(record.get("created"), "created"),
        updated_at=parse_time(record.get("modified"), "modified"),
        returns_goods=has_good_return is True or has_good_return == "true",
    )


def refund_lines_from_detail(root: Mapping[str, Any]) -> tuple[RefundLine, ...]:
    """Map a ``taobao.refund.get`` answer to the line it refunds: the sub-order and its units.

    TOP refunds one sub-order per refund (``oid``); ``num`` is how many of its units.
    The sub-order's own SKU is what the units are; ``outer_id`` is kept as a fallback.
    """
    record = root.get("refund")
    if not isinstance(record, Mapping):
        raise DataError("the answer has no refund")
    quantity = record.get("num")
    if isinstance(quantity, str) and quantity.strip().isdigit():
        quantity = int(quantity)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise DataError(f"refund field 'num': {quantity!r} is not a positive whole number")
    return (
        _built(
            "refund line",
            RefundLine,
            line_id=_id(record, "oid"),
            item_id=text_field(record, "num_iid_str") or text_field(record, "num_iid"),
            merchant_code=text_field(record, "outer_id"),
            quantity=quantity,
        ),
    )
