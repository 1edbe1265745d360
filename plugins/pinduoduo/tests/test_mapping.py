"""PDD records to core models: money units, Beijing times, statuses, malformed records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from channelsync_pinduoduo.fake import FakePdd
from channelsync_pinduoduo.fake.handlers import Params
from channelsync_pinduoduo.fake.wire import ok
from channelsync_pinduoduo.mapping import (
    fen_to_money,
    money_to_fen,
    order_from_record,
    parse_time,
    refund_from_record,
    to_unix,
    yuan,
)

from channelsync.clock import FakeClock
from channelsync.errors import DataError, ModelError
from channelsync.models import Money, OrderStatus, RefundStatus
from channelsync.testing.fakes import demo_catalogue

from .conftest import MakeChannel


def _order(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "order_sn": "240301-000000000000001",
        "order_status": 1,
        "confirm_status": 1,
        "group_status": 1,
        "refund_status": 1,
        "after_sales_status": 0,
        "risk_control_status": 0,
        "created_time": "2024-03-01 00:30:00",
        "updated_at": "2024-03-01 00:31:00",
        "pay_time": "2024-03-01 00:30:05",
        "pay_amount": Decimal("39.80"),
        "postage": Decimal("0"),
        "discount_amount": "0.00",
        "item_list": [
            {
                "goods_id": 300000000001,
                "sku_id": 800000000001,
                "goods_name": "连衣裙",
                "goods_count": 2,
                "goods_price": Decimal("19.90"),
                "outer_id": "CS-0001-1",
            }
        ],
        "receiver_name": "~AgAAAAEncrypted~",
        "receiver_name_mask": "张*",
        "receiver_phone_mask": "138****0000",
        "address_mask": "文三路****",
        "province": "浙江省",
        "city": "杭州市",
        "town": "西湖区",
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("19.9"), Decimal("19.9")),
        ("19.90", Decimal("19.90")),
        (20, Decimal("20")),
        ("", Decimal("0")),
    ],
)
def test_order_amounts_are_yuan(value: object, expected: Decimal) -> None:
    assert yuan(value, "test") == Money.of(expected, "CNY")


@pytest.mark.parametrize("value", [19.9, True, None, "abc", [1]])
def test_bad_yuan_values_are_data_errors(value: object) -> None:
    with pytest.raises(DataError):
        yuan(value, "test")


def test_goods_prices_are_fen() -> None:
    assert fen_to_money(1990, "x") == Money.of("19.90", "CNY")
    assert fen_to_money("1", "x") == Money.of("0.01", "CNY")
    with pytest.raises(DataError):
        fen_to_money("19.5", "x")


@pytest.mark.parametrize(
    ("price", "expected"),
    [("19.90", 1990), ("0.01", 1), ("100", 10000), ("12.300", 1230)],
)
def test_yuan_to_fen_is_exact(price: str, expected: int) -> None:
    assert money_to_fen(Money.of(price, "CNY")) == expected


@pytest.mark.parametrize("price", ["12.345", "0.001"])
def test_fractions_of_a_fen_are_refused(price: str) -> None:
    with pytest.raises(ModelError, match="whole number"):
        money_to_fen(Money.of(price, "CNY"))


def test_beijing_times_become_utc_and_requests_use_unix_seconds() -> None:
    moment = parse_time("2024-03-01 00:30:00", "x")
    assert moment == datetime(2024, 2, 29, 16, 30, tzinfo=UTC)
    assert parse_time("", "x") is None
    assert parse_time(1709265600, "x") == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
    assert to_unix(datetime(2024, 3, 1, 4, 0, 0, 900_000, tzinfo=UTC)) == 1709265600
    with pytest.raises(DataError):
        parse_time("2024/03/01", "x")
    with pytest.raises(ValueError, match="naive"):
        to_unix(datetime(2024, 3, 1))  # noqa: DTZ001


def test_an_order_keeps_only_masked_receiver_data() -> None:
    order = order_from_record(_order(), "shop")
    assert order.total == Money.of("39.80", "CNY")
    assert order.created_at == datetime(2024, 2, 29, 16, 30, tzinfo=UTC)
    assert order.shipping_address is not None
    assert order.shipping_address.name == "张*"
    assert "Encrypted" not in order.model_dump_json()


@pytest.mark.parametrize(
    ("changes", "status", "held"),
    [
        ({}, OrderStatus.PAID, False),
        ({"risk_control_status": 1}, OrderStatus.PAID, True),
        ({"confirm_status": 0}, OrderStatus.PAID, True),
        ({"group_status": 0}, OrderStatus.PAID, True),
        ({"group_status": 2}, OrderStatus.CANCELLED, False),
        ({"confirm_status": 2}, OrderStatus.CANCELLED, False),
        ({"order_status": 2}, OrderStatus.SHIPPED, False),
        ({"order_status": 2, "risk_control_status": 1}, OrderStatus.SHIPPED, False),
        ({"order_status": 3}, OrderStatus.COMPLETED, False),
        ({"refund_status": 2}, OrderStatus.REFUND_REQUESTED, False),
        ({"refund_status": 3, "order_status": 2}, OrderStatus.REFUND_REQUESTED, False),
        ({"refund_status": 4}, OrderStatus.REFUNDED, False),
    ],
)
def test_order_status_mapping(changes: dict[str, Any], status: OrderStatus, held: bool) -> None:
    order = order_from_record(_order(**changes), "shop")
    assert order.status is status
    assert order.on_hold is held
    assert order.raw_status.startswith(f"order_status={changes.get('order_status', 1)}")


@pytest.mark.parametrize(
    "changes",
    [
        {"item_list": None},
        {"item_list": []},
        {"item_list": "x"},
        {"order_status": 9},
        {"order_status": "x"},
        {"pay_amount": None},
        {"created_time": ""},
        {"created_time": "yesterday"},
        {"item_list": [{"goods_id": 1}]},
        {"item_list": [{"goods_id": 1, "goods_count": 0, "goods_price": "1"}]},
    ],
)
def test_malformed_orders_are_data_errors(changes: dict[str, Any]) -> None:
    with pytest.raises(DataError):
        order_from_record(_order(**changes), "shop")


def test_refund_records() -> None:
    record = {
        "id": 500000001,
        "order_sn": "240301-000000000000001",
        "after_sales_status": 10,
        "after_sales_type": 3,
        "refund_amount": Decimal("19.90"),
        "created_time": "2024-03-01 10:00:00",
        "updated_time": "2024-03-01 11:00:00",
        "goods_id": 300000000001,
        "sku_id": 800000000001,
        "outer_id": "CS-0001-1",
        "goods_number": 1,
    }
    refund = refund_from_record(record, "shop")
    assert refund.status is RefundStatus.REFUNDED
    assert refund.returns_goods
    assert refund.amount == Money.of("19.90", "CNY")
    with pytest.raises(DataError, match="not a refund state"):
        refund_from_record({**record, "after_sales_status": 16}, "shop")
    with pytest.raises(DataError, match="refund_amount"):
        refund_from_record({k: v for k, v in record.items() if k != "refund_amount"}, "shop")


class _BrokenDetail(FakePdd):
    def _order_information(self, params: Params, partial: bool) -> httpx.Response:
        return ok("pdd.order.information.get", {"order_info": {"order_sn": "1", "order_status": 1}})


async def test_a_malformed_order_from_the_gateway_is_a_data_error(
    make_channel: MakeChannel, clock: FakeClock
) -> None:
    shop = _BrokenDetail(clock=clock)
    shop.seed_catalogue(demo_catalogue(1))
    async with make_channel(target=shop) as channel:
        with pytest.raises(DataError, match="created_time"):
            await channel.get_order("1")
