"""Report figures on the known order set (see conftest.py), each worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from channelsync.models import Money, Order
from channelsync.report import (
    CatalogueIndex,
    Report,
    ReportBuilder,
    ReportOptionError,
    ReportPeriod,
)
from channelsync.store import StockPosition


def build(
    period: ReportPeriod,
    catalogue: CatalogueIndex,
    orders: list[Order],
    positions: dict[int, StockPosition],
    **options: object,
) -> Report:
    builder = ReportBuilder(period, catalogue, **options)  # type: ignore[arg-type]
    for o in orders:
        builder.add(o)
    return builder.finish(positions)


@pytest.fixture
def report(
    period: ReportPeriod,
    catalogue: CatalogueIndex,
    known_orders: list[Order],
    positions: dict[int, StockPosition],
) -> Report:
    return build(period, catalogue, known_orders, positions)


def test_sales_per_channel_group_by_currency_and_count_excluded_orders(report: Report) -> None:
    rows = {(c.channel, c.currency): c for c in report.channels}
    assert list(rows) == [("shop-a", "CNY"), ("shop-b", "CNY"), ("shop-c", "USD")]
    a = rows[("shop-a", "CNY")]
    # A1 45.00 + A2 55.50 + A3 100.00; units 2 + 2 + 3.
    assert (a.orders, a.units, a.sales) == (3, 7, Money.of("200.50", "CNY"))
    assert a.average_order_value == Money.of("66.83", "CNY")  # 200.50 / 3 = 66.833...
    assert (a.cancelled_orders, a.cancelled_value) == (1, Money.of("20.00", "CNY"))
    assert (a.refunded_orders, a.refunded_value) == (1, Money.of("15.00", "CNY"))
    assert a.unpaid_orders == 1
    b = rows[("shop-b", "CNY")]
    # A requested refund (B2) is still a sale.
    assert (b.orders, b.units, b.sales, b.average_order_value) == (
        2,
        4,
        Money.of("80.00", "CNY"),
        Money.of("40.00", "CNY"),
    )
    c = rows[("shop-c", "USD")]
    assert (c.orders, c.units, c.sales, c.average_order_value) == (
        2,
        3,
        Money.of("10.50", "USD"),
        Money.of("5.25", "USD"),
    )


def test_sales_per_day_are_shanghai_days_with_quiet_days_as_zero(report: Report) -> None:
    got = {(d.day, d.channel): (d.orders, d.sales.amount) for d in report.daily}
    nov = date(2026, 11, 1)
    assert len(report.daily) == 9  # 3 days x 3 channels
    assert got[(nov, "shop-a")] == (2, Decimal("100.50"))  # A1 (31 Oct UTC) + A2
    assert got[(nov, "shop-b")] == (1, Decimal("60.00"))
    assert got[(nov, "shop-c")] == (0, Decimal(0))
    assert got[(date(2026, 11, 2), "shop-a")] == (1, Decimal("100.00"))
    assert got[(date(2026, 11, 2), "shop-c")] == (2, Decimal("10.50"))
    assert got[(date(2026, 11, 3), "shop-a")] == (0, Decimal(0))  # A5 refunded, A6 after
    assert got[(date(2026, 11, 3), "shop-b")] == (1, Decimal("20.00"))
    assert [d.day for d in report.daily][::3] == [nov, date(2026, 11, 2), date(2026, 11, 3)]


def test_best_sellers_rank_by_units_with_revenue_per_currency(report: Report) -> None:
    ranked = [(b.rank, b.merchant_code, b.units, b.revenue) for b in report.best_sellers]
    assert ranked == [
        # MUG: A1 2 + A2 1 + C1 1 + C2 2; ties with TEE, broken by code.
        (1, "MUG", 6, (Money.of("60.00", "CNY"), Money.of("10.50", "USD"))),
        # TEE: A2 1 + A3 3 + B1 2 (bound listing, no merchant code on the line).
        (2, "TEE", 6, (Money.of("202.00", "CNY"),)),
        (3, "CAP", 1, (Money.of("15.00", "CNY"),)),
    ]
    assert report.unmatched_units == 1  # GHOST on B2


def test_top_limits_best_sellers(
    period: ReportPeriod,
    catalogue: CatalogueIndex,
    known_orders: list[Order],
    positions: dict[int, StockPosition],
) -> None:
    report = build(period, catalogue, known_orders, positions, top=1)
    assert [b.merchant_code for b in report.best_sellers] == ["MUG"]


def test_no_sales_lists_skus_without_a_sale_in_the_period(report: Report) -> None:
    # CAP's only paid sale is B2; A5 was refunded but B2 keeps CAP off this list.
    assert [(n.merchant_code, n.on_hand, n.available) for n in report.no_sales] == [("BAG", 12, 12)]


def test_stock_cover_uses_every_channel_over_the_window(report: Report) -> None:
    got = {
        s.merchant_code: (s.available, s.units_in_window, s.daily_rate, s.cover_days, s.low_stock)
        for s in report.stock_cover
    }
    # MUG: A7 4 + A1 2 + A2 1 + C1 1 + C2 2 = 10 in 14 days; 28 available -> 28 * 14 / 10.
    assert got["MUG"] == (28, 10, Decimal("0.714"), Decimal("39.2"), False)
    # TEE: 6 sold, 5 on hand - 1 safety = 4 available -> 4 * 14 / 6 = 9.33.
    assert got["TEE"] == (4, 6, Decimal("0.429"), Decimal("9.3"), False)
    assert got["CAP"] == (0, 1, Decimal("0.071"), Decimal("0.0"), True)
    assert got["BAG"] == (12, 0, Decimal("0.000"), None, False)
    assert [s.merchant_code for s in report.stock_cover] == ["CAP", "TEE", "MUG", "BAG"]
    assert [s.merchant_code for s in report.low_stock] == ["CAP"]


def test_low_days_and_window_change_the_low_stock_list(
    period: ReportPeriod,
    catalogue: CatalogueIndex,
    known_orders: list[Order],
    positions: dict[int, StockPosition],
) -> None:
    report = build(period, catalogue, known_orders, positions, low_days=Decimal(10), window_days=7)
    got = {s.merchant_code: (s.units_in_window, s.cover_days) for s in report.stock_cover}
    # A 7-day window starts 28 Oct Shanghai: A7 (25 Oct) drops out of MUG's rate.
    assert got["MUG"] == (6, Decimal("32.7"))  # 28 * 7 / 6
    assert got["TEE"] == (6, Decimal("4.7"))  # 4 * 7 / 6
    assert [s.merchant_code for s in report.low_stock] == ["CAP", "TEE"]


def test_repeat_buyers_per_channel_and_na_without_buyer_ids(report: Report) -> None:
    got = {
        r.channel: (r.orders, r.orders_with_buyer_id, r.buyers, r.repeat_buyers, r.rate)
        for r in report.repeat_buyers
    }
    # u1 bought twice (A1, A3), u2 once; u3's only order was cancelled.
    assert got["shop-a"] == (3, 3, 2, 1, Decimal("0.5000"))
    assert got["shop-b"] == (2, 0, 0, 0, None)
    assert got["shop-c"] == (2, 2, 2, 0, Decimal("0.0000"))


def test_one_channel_limits_sales_but_not_stock_cover(
    period: ReportPeriod,
    catalogue: CatalogueIndex,
    known_orders: list[Order],
    positions: dict[int, StockPosition],
) -> None:
    report = build(period, catalogue, known_orders, positions, channel="shop-b")
    assert [c.channel for c in report.channels] == ["shop-b"]
    assert {d.channel for d in report.daily} == {"shop-b"}
    assert [(b.merchant_code, b.units) for b in report.best_sellers] == [("TEE", 2), ("CAP", 1)]
    assert [n.merchant_code for n in report.no_sales] == ["BAG", "MUG"]
    mug = next(s for s in report.stock_cover if s.merchant_code == "MUG")
    assert mug.units_in_window == 10


def test_order_of_feeding_does_not_change_the_figures(
    period: ReportPeriod,
    catalogue: CatalogueIndex,
    known_orders: list[Order],
    positions: dict[int, StockPosition],
    report: Report,
) -> None:
    assert build(period, catalogue, known_orders[::-1], positions) == report


def test_an_empty_store_reports_zeros_and_every_sku_unsold(
    period: ReportPeriod, catalogue: CatalogueIndex, positions: dict[int, StockPosition]
) -> None:
    report = build(period, catalogue, [], positions)
    assert (report.channels, report.daily, report.best_sellers, report.repeat_buyers) == (
        (),
        (),
        (),
        (),
    )
    assert [n.merchant_code for n in report.no_sales] == ["BAG", "CAP", "MUG", "TEE"]
    assert all(s.cover_days is None for s in report.stock_cover)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"window_days": 0}, "--window"),
        ({"low_days": Decimal(-1)}, "--low-days"),
        ({"top": 0}, "--top"),
    ],
)
def test_bad_options_name_the_option(
    period: ReportPeriod, catalogue: CatalogueIndex, options: dict[str, object], named: str
) -> None:
    with pytest.raises(ReportOptionError, match=f"^{named}: "):
        ReportBuilder(period, catalogue, **options)  # type: ignore[arg-type]
