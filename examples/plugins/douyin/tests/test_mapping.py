"""Records to core models: money in fen, UNIX times in GMT+8, statuses, addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from channelsync.clock import CHINA_STANDARD_TIME
from channelsync.errors import DataError
from channelsync.models import ListingStatus, Money, OrderStatus

from channelsync_douyin.mapping import (
    ORDER_STATUSES,
    from_unix,
    money_from_fen,
    parse_listings,
    parse_order,
    to_unix,
)


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "order_id": "6924030112000000010",
        "order_status": 2,
        "order_status_desc": "备货中",
        "main_status": 2,
        "create_time": 1709265600,
        "update_time": 1709265660,
        "pay_time": 1709265610,
        "pay_amount": 10970,
        "post_amount": 1000,
        "promotion_amount": 10,
        "buyer_words": "",
        "mask_post_receiver": "张*",
        "mask_post_tel": "138****5678",
        "mask_post_addr": {
            "province": {"name": "浙江省", "id": "33"},
            "city": {"name": "杭州市", "id": "3301"},
            "town": {"name": "西湖区", "id": "330106"},
            "street": {"name": "", "id": "0"},
            "detail": "****",
        },
        "sku_order_list": [
            {
                "order_id": "6924030112000000010",
                "product_id": 3600000000000000001,
                "sku_id": 1760000000002,
                "code": "CS-0001-1",
                "product_name": "连衣裙",
                "item_num": 2,
                "origin_amount": 4990,
                "after_sale_info": {"after_sale_status": 0, "refund_status": 0},
            }
        ],
    }
    record.update(changes)
    return record


def test_money_is_fen_to_yuan_in_decimal() -> None:
    assert money_from_fen(1990) == Money.of("19.90", "CNY")
    assert money_from_fen(1).amount == Decimal("0.01")
    assert money_from_fen(0).is_zero()


def test_times_are_the_same_instant_in_china_standard_time() -> None:
    moment = from_unix(1709265600)
    assert moment.tzinfo is not None
    assert moment.utcoffset() == timedelta(hours=8)
    assert moment == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
    assert moment.astimezone(CHINA_STANDARD_TIME).hour == 12
    assert to_unix(datetime(2024, 3, 1, 4, 0, 0, 900_000, tzinfo=UTC)) == 1709265600
    with pytest.raises(ValueError, match="naive"):
        to_unix(datetime(2024, 3, 1))  # noqa: DTZ001


def test_an_order_record_becomes_an_order() -> None:
    order = parse_order(_record(), "shop")
    assert order.status is OrderStatus.PAID
    assert order.raw_status == "2 备货中"
    assert order.total == Money.of("109.70", "CNY")
    assert order.shipping_fee == Money.of("10.00", "CNY")
    assert order.discount == Money.of("0.10", "CNY")
    assert order.created_at == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
    assert order.paid_at == datetime(2024, 3, 1, 4, 0, 10, tzinfo=UTC)
    (line,) = order.lines
    assert (line.item_id, line.sku_id, line.merchant_code) == (
        "3600000000000000001",
        "1760000000002",
        "CS-0001-1",
    )
    assert line.unit_price == Money.of("49.90", "CNY")
    assert line.quantity == 2
    address = order.shipping_address
    assert address is not None
    assert address.masked
    assert (address.state, address.city, address.district) == ("浙江省", "杭州市", "西湖区")
    assert address.phone == "138****5678"


@pytest.mark.parametrize(("raw", "status"), sorted(ORDER_STATUSES.items()))
def test_every_order_status_is_mapped(raw: int, status: OrderStatus) -> None:
    assert parse_order(_record(order_status=raw), "shop").status is status


def test_refund_states() -> None:
    refunded = parse_order(_record(order_status=4, main_status=21), "shop")
    assert refunded.status is OrderStatus.REFUNDED
    lines = [{**_record()["sku_order_list"][0], "after_sale_info": {"after_sale_status": 6}}]  # type: ignore[index]
    requested = parse_order(_record(sku_order_list=lines), "shop")
    assert requested.status is OrderStatus.REFUND_REQUESTED
    assert requested.raw_refund_status == "6"
    closed = parse_order(_record(order_status=5, sku_order_list=lines), "shop")
    assert closed.status is OrderStatus.COMPLETED


@pytest.mark.parametrize(
    "changes",
    [
        {"order_status": 77},
        {"sku_order_list": []},
        {"sku_order_list": None},
        {"pay_amount": "12.5"},
        {"create_time": None},
        {"update_time": 1},
        {"sku_order_list": [{"order_id": "1"}]},
    ],
)
def test_broken_order_records_are_data_errors(changes: dict[str, object]) -> None:
    with pytest.raises(DataError):
        parse_order(_record(**changes), "shop")


def test_listings_one_per_sku_and_deleted_products_none() -> None:
    product = {"product_id": 3600000000000000001, "name": "连衣裙", "status": 1, "update_time": 0}
    skus: list[object] = [
        {"id": 1760000000002, "code": "CS-0001-1", "price": 4990, "stock_num": 7},
        {"id": 1760000000003, "code": "", "price": 5490, "stock_num": -1},
    ]
    first, second = parse_listings(product, skus, "shop")
    assert first.status is ListingStatus.DELISTED
    assert (first.item_id, first.sku_id, first.quantity) == (
        "3600000000000000001",
        "1760000000002",
        7,
    )
    assert first.price == Money.of("49.90", "CNY")
    assert second.merchant_code is None
    assert second.quantity == 0
    assert parse_listings({**product, "status": 2}, skus, "shop") == []
