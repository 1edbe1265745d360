"""PDD records to and from the core models: money units, times, statuses, addresses.

PDD uses three money conventions: goods writes and ``pdd.goods.skus.get`` are in
fen (integer), order and refund amounts are yuan decimals. Each has its own
function here, and nothing converts between them by guessing. Request times are
UNIX seconds; response times are Beijing wall-clock strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from channelsync.clock import parse_local_time
from channelsync.errors import DataError, ModelError
from channelsync.models import (
    Address,
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
    "CURRENCY",
    "REFUND_STATUSES",
    "fen_to_money",
    "field",
    "from_unix",
    "listings_from_goods",
    "money_to_fen",
    "optional_text",
    "order_from_record",
    "order_status",
    "parse_time",
    "refund_from_record",
    "required_time",
    "to_unix",
    "yuan",
]

CURRENCY = "CNY"

#: ``after_sales_status`` of a refund case to the canonical refund status.
REFUND_STATUSES: Mapping[int, RefundStatus] = {
    2: RefundStatus.REQUESTED,  # buyer asked for a refund, merchant to act
    3: RefundStatus.REQUESTED,  # return and refund asked, merchant to act
    4: RefundStatus.APPROVED,  # merchant agreed, refunding
    5: RefundStatus.APPROVED,  # platform agreed, refunding
    6: RefundStatus.REJECTED,  # merchant rejected, buyer to act
    7: RefundStatus.APPROVED,  # return agreed, buyer to send goods back
    8: RefundStatus.REQUESTED,  # platform handling
    9: RefundStatus.REJECTED,  # platform refused, closed
    10: RefundStatus.REFUNDED,
    11: RefundStatus.CANCELLED,  # buyer withdrew
    12: RefundStatus.CANCELLED,  # buyer overdue, refund failed
    13: RefundStatus.CANCELLED,  # buyer overdue, expired
    27: RefundStatus.APPROVED,  # awaiting the buyer's receipt confirmation
    31: RefundStatus.APPROVED,  # refusal-refund agreed, buyer to refuse delivery
}


def field(record: Mapping[str, Any], name: str, what: str) -> Any:
    """Return ``record[name]``, or raise :class:`DataError` naming the field and record."""
    if not isinstance(record, Mapping):
        raise DataError(f"{what}: expected an object holding {name!r}, got {type(record).__name__}")
    if name not in record or record[name] is None:
        raise DataError(f"{what}: field {name!r} is missing")
    return record[name]


def optional_text(value: Any) -> str | None:
    """Return ``value`` as stripped text, or ``None`` when it is absent or empty."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise DataError(f"{what}: {value!r} is not an integer")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise DataError(f"{what}: {value!r} is not an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise DataError(f"{what}: {value!r} is not an integer")
    return int(number)


def yuan(value: Any, what: str) -> Money:
    """Read an order or refund amount: yuan, as a JSON number or a decimal string."""
    if isinstance(value, float):
        # The decoder gives Decimal; a float here would already have lost digits.
        raise DataError(f"{what}: amount {value!r} arrived as a binary float")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise DataError(f"{what}: amount {value!r} is not a number")
    try:
        return Money.of(value if not isinstance(value, str) else value.strip() or "0", CURRENCY)
    except (ModelError, ValidationError):
        raise DataError(f"{what}: amount {value!r} is not a decimal number") from None


def fen_to_money(value: Any, what: str) -> Money:
    """Read a goods price in fen (integer) as yuan money: ``1990`` is 19.90 CNY."""
    return Money.from_minor_units(_integer(value, what), CURRENCY)


def money_to_fen(price: Money) -> int:
    """Return ``price`` in whole fen, exactly.

    Raises :class:`ModelError` for another currency or an amount that is not a
    whole number of fen (``12.345``): a price is never rounded silently.
    """
    if price.currency != CURRENCY:
        raise ModelError(f"price {price} is not in {CURRENCY}; PDD prices are in yuan")
    return price.to_minor_units()


def parse_time(value: Any, what: str) -> datetime | None:
    """Read a response time: Beijing ``yyyy-MM-dd HH:mm:ss`` (or UNIX seconds); empty is None."""
    if value is None or value == "":
        return None
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return from_unix(int(value))
    try:
        return parse_local_time(str(value))
    except ValueError:
        raise DataError(f"{what}: {value!r} is not a 'yyyy-MM-dd HH:mm:ss' time") from None


def required_time(record: Mapping[str, Any], name: str, what: str) -> datetime:
    """Return the time in ``record[name]``; :class:`DataError` when it is missing or empty."""
    moment = parse_time(field(record, name, what), what)
    if moment is None:
        raise DataError(f"{what}: field {name!r} is empty")
    return moment


def from_unix(seconds: int) -> datetime:
    """Return the aware UTC time of UNIX ``seconds``."""
    return datetime.fromtimestamp(seconds, UTC)


def to_unix(moment: datetime) -> int:
    """Return ``moment`` as whole UNIX seconds (rounded down)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: only aware times are sent")
    return int(moment.timestamp() // 1)


# -- listings ---------------------------------------------------------------------


def listings_from_goods(goods: Mapping[str, Any], channel: str) -> list[Listing]:
    """Return one listing per SKU of a ``pdd.goods.list.get`` entry (no prices: PDD gives none)."""
    goods_id = str(field(goods, "goods_id", "goods"))
    what = f"goods {goods_id}"
    on_sale = _integer(goods.get("is_onsale", 0), what) == 1
    title = str(goods.get("goods_name") or "")
    skus = goods.get("sku_list") or []
    if not isinstance(skus, list):
        raise DataError(f"{what}: sku_list is not a list")
    try:
        if not skus:
            return [
                Listing(
                    channel=channel,
                    item_id=goods_id,
                    merchant_code=optional_text(goods.get("outer_goods_id")),
                    title=title,
                    quantity=max(0, _integer(goods.get("goods_quantity", 0), what)),
                    status=ListingStatus.ON_SALE if on_sale else ListingStatus.DELISTED,
                    raw_status=f"is_onsale={int(on_sale)}",
                )
            ]
        listings = []
        for sku in skus:
            sku_id = str(field(sku, "sku_id", what))
            sku_on_sale = _integer(sku.get("is_sku_onsale", 1), f"{what} sku {sku_id}") == 1
            quantity = _integer(sku.get("sku_quantity", 0), f"{what} sku {sku_id}")
            listings.append(
                Listing(
                    channel=channel,
                    item_id=goods_id,
                    sku_id=sku_id,
                    merchant_code=optional_text(sku.get("outer_id")),
                    title=title,
                    quantity=max(0, quantity),
                    status=(
                        ListingStatus.ON_SALE if on_sale and sku_on_sale else ListingStatus.DELISTED
                    ),
                    raw_status=f"is_onsale={int(on_sale)};is_sku_onsale={int(sku_on_sale)}",
                )
            )
    except (ValidationError, ModelError) as exc:
        raise DataError(f"{what}: cannot be read as listings ({_first_error(exc)})") from None
    return listings


# -- orders -------------------------------------------------------------------------


def order_status(record: Mapping[str, Any], what: str) -> tuple[OrderStatus, str, str]:
    """Map PDD's order, confirm, group and refund statuses to one canonical status.

    Returns the status, the raw order status text and the raw refund status text.
    Cancellation and failed groups win over refunds, refunds over shipping state.
    """
    status = _integer(field(record, "order_status", what), what)
    confirm = _integer(record.get("confirm_status", 1), what)
    group = _integer(record.get("group_status", 1), what)
    refund = _integer(record.get("refund_status", 1), what)
    after_sales = _integer(record.get("after_sales_status", 0), what)
    raw = f"order_status={status};confirm_status={confirm};group_status={group}"
    raw_refund = f"refund_status={refund};after_sales_status={after_sales}"
    if confirm == 2 or group == 2:
        return OrderStatus.CANCELLED, raw, raw_refund
    if refund == 4:
        return OrderStatus.REFUNDED, raw, raw_refund
    if refund in (2, 3):
        return OrderStatus.REFUND_REQUESTED, raw, raw_refund
    by_order_status = {1: OrderStatus.PAID, 2: OrderStatus.SHIPPED, 3: OrderStatus.COMPLETED}
    if status not in by_order_status:
        raise DataError(f"{what}: unknown order_status {status}")
    return by_order_status[status], raw, raw_refund


def _hold_reason(record: Mapping[str, Any], what: str) -> str | None:
    if _integer(record.get("risk_control_status", 0), what) == 1:
        return "PDD risk control review (risk_control_status=1): do not ship"
    if _integer(record.get("confirm_status", 1), what) == 0:
        return "not confirmed by PDD yet (confirm_status=0): do not ship"
    if _integer(record.get("group_status", 1), what) == 0:
        return "group buy not formed yet (group_status=0): do not ship"
    return None


def _address(record: Mapping[str, Any]) -> Address:
    # The plain receiver fields are ciphertext: only the masked copies are kept.
    return Address(
        name=optional_text(record.get("receiver_name_mask")),
        phone=optional_text(record.get("receiver_phone_mask")),
        country="CN",
        state=optional_text(record.get("province")),
        city=optional_text(record.get("city")),
        district=optional_text(record.get("town")),
        street=optional_text(record.get("address_mask") or record.get("receiver_address_mask")),
        masked=True,
    )


def _order_line(record: Mapping[str, Any], what: str, position: int) -> OrderLine:
    where = f"{what} line {position}"
    return OrderLine(
        line_id=f"{position}",
        item_id=str(field(record, "goods_id", where)),
        sku_id=optional_text(record.get("sku_id")),
        merchant_code=optional_text(record.get("outer_id")),
        title=optional_text(record.get("goods_name")),
        quantity=_integer(field(record, "goods_count", where), where),
        unit_price=yuan(field(record, "goods_price", where), where),
    )


def order_from_record(record: Mapping[str, Any], channel: str) -> Order:
    """Return the canonical order for one PDD order object (increment list or detail)."""
    if not isinstance(record, Mapping):
        raise DataError("an order entry is not a JSON object")
    order_sn = str(field(record, "order_sn", "order"))
    what = f"order {order_sn}"
    status, raw, raw_refund = order_status(record, what)
    hold = _hold_reason(record, what)
    created = required_time(record, "created_time", what)
    updated = parse_time(record.get("updated_at"), what) or created
    items = field(record, "item_list", what)
    if not isinstance(items, list) or not items:
        raise DataError(f"{what}: item_list is empty or not a list")
    try:
        return Order(
            channel=channel,
            order_id=order_sn,
            status=status,
            raw_status=raw,
            raw_refund_status=raw_refund,
            created_at=created,
            updated_at=updated,
            paid_at=parse_time(record.get("pay_time"), what),
            lines=tuple(_order_line(item, what, n) for n, item in enumerate(items, start=1)),
            total=yuan(field(record, "pay_amount", what), what),
            shipping_fee=yuan(record.get("postage") or 0, what),
            discount=yuan(record.get("discount_amount") or 0, what),
            shipping_address=_address(record),
            buyer_note=optional_text(record.get("buyer_memo")),
            on_hold=hold is not None and status.awaits_shipment,
            hold_reason=hold if status.awaits_shipment else None,
        )
    except (ValidationError, ModelError) as exc:
        raise DataError(f"{what}: cannot be read ({_first_error(exc)})") from None


# -- refunds ------------------------------------------------------------------------


def refund_from_record(record: Mapping[str, Any], channel: str) -> Refund:
    """Return the canonical refund for one ``pdd.refund.list.increment.get`` entry."""
    if not isinstance(record, Mapping):
        raise DataError("a refund entry is not a JSON object")
    refund_id = str(field(record, "id", "refund"))
    what = f"after-sales case {refund_id}"
    raw = _integer(field(record, "after_sales_status", what), what)
    status = REFUND_STATUSES.get(raw)
    if status is None:
        raise DataError(f"{what}: after_sales_status {raw} is not a refund state")
    created = required_time(record, "created_time", what)
    updated = parse_time(record.get("updated_time"), what) or created
    quantity = _integer(record.get("goods_number") or 0, what)
    goods_id = optional_text(record.get("goods_id"))
    lines: tuple[RefundLine, ...] = ()
    if goods_id is not None and quantity > 0:
        lines = (
            RefundLine(
                item_id=goods_id,
                sku_id=optional_text(record.get("sku_id")),
                merchant_code=optional_text(record.get("outer_id")),
                quantity=quantity,
            ),
        )
    try:
        return Refund(
            channel=channel,
            refund_id=refund_id,
            order_id=str(field(record, "order_sn", what)),
            status=status,
            raw_status=f"after_sales_status={raw}",
            amount=yuan(field(record, "refund_amount", what), what),
            reason=optional_text(record.get("after_sale_reason")),
            created_at=created,
            updated_at=updated,
            lines=lines,
            returns_goods=_integer(record.get("after_sales_type", 2), what) == 3,
        )
    except (ValidationError, ModelError) as exc:
        raise DataError(f"{what}: cannot be read ({_first_error(exc)})") from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            first = errors[0]
            place = ".".join(str(part) for part in first.get("loc", ()))
            return f"{place}: {first.get('msg', 'invalid')}" if place else first.get("msg", "")
    return str(exc)
