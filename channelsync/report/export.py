"""A report as rows with stable column names, and as CSV and JSON for scripts.

Each section is a list of flat rows whose keys are :data:`COLUMNS` of the section, in
that order; CSV prints one section with those columns as its header, and JSON holds
every section (or one) with the same keys. Counts are integers; money, rates and
cover days are decimal strings (never floats); an absent figure is empty in CSV and
``null`` in JSON, except a repeat rate without buyer ids, which is ``n/a`` in CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from channelsync.models import Money
from channelsync.report.figures import Report

__all__ = ["COLUMNS", "SECTIONS", "Row", "report_json", "section_csv", "section_rows"]

Row = dict[str, Any]

#: Every section's columns, in output order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "channels": (
        "channel",
        "currency",
        "orders",
        "units",
        "sales",
        "average_order_value",
        "cancelled_orders",
        "cancelled_value",
        "refunded_orders",
        "refunded_value",
        "unpaid_orders",
    ),
    "daily": ("day", "channel", "currency", "orders", "sales"),
    "best_sellers": ("rank", "merchant_code", "title", "units", "currency", "revenue"),
    "component_sales": ("merchant_code", "title", "units", "sold_alone", "in_kits"),
    "no_sales": ("merchant_code", "title", "on_hand", "available"),
    "stock_cover": (
        "merchant_code",
        "title",
        "on_hand",
        "available",
        "units_in_window",
        "daily_rate",
        "cover_days",
        "low_stock",
    ),
    "repeat_buyers": (
        "channel",
        "orders",
        "orders_with_buyer_id",
        "buyers",
        "repeat_buyers",
        "repeat_rate",
    ),
}

#: The section names, in the order a full report shows them.
SECTIONS: tuple[str, ...] = tuple(COLUMNS)

#: How a repeat rate reads where the marketplace gives no buyer id.
NOT_AVAILABLE = "n/a"


def _amount(money: Money | None) -> str | None:
    """Return the amount as text with at least the currency's decimal places (``12.30``)."""
    if money is None:
        return None
    return str(money).rsplit(" ", 1)[0]


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _channels(report: Report) -> list[Row]:
    return [
        {
            "channel": c.channel,
            "currency": c.currency,
            "orders": c.orders,
            "units": c.units,
            "sales": _amount(c.sales),
            "average_order_value": _amount(c.average_order_value),
            "cancelled_orders": c.cancelled_orders,
            "cancelled_value": _amount(c.cancelled_value),
            "refunded_orders": c.refunded_orders,
            "refunded_value": _amount(c.refunded_value),
            "unpaid_orders": c.unpaid_orders,
        }
        for c in report.channels
    ]


def _daily(report: Report) -> list[Row]:
    return [
        {
            "day": d.day.isoformat(),
            "channel": d.channel,
            "currency": d.currency,
            "orders": d.orders,
            "sales": _amount(d.sales),
        }
        for d in report.daily
    ]


def _best_sellers(report: Report) -> list[Row]:
    # One row per currency the SKU sold in; rank and units are the SKU's own.
    return [
        {
            "rank": b.rank,
            "merchant_code": b.merchant_code,
            "title": b.title,
            "units": b.units,
            "currency": revenue.currency,
            "revenue": _amount(revenue),
        }
        for b in report.best_sellers
        for revenue in b.revenue
    ]


def _component_sales(report: Report) -> list[Row]:
    return [
        {
            "merchant_code": c.merchant_code,
            "title": c.title,
            "units": c.units,
            "sold_alone": c.sold_alone,
            "in_kits": c.in_kits,
        }
        for c in report.component_sales
    ]


def _no_sales(report: Report) -> list[Row]:
    return [
        {
            "merchant_code": n.merchant_code,
            "title": n.title,
            "on_hand": n.on_hand,
            "available": n.available,
        }
        for n in report.no_sales
    ]


def _stock_cover(report: Report) -> list[Row]:
    return [
        {
            "merchant_code": s.merchant_code,
            "title": s.title,
            "on_hand": s.on_hand,
            "available": s.available,
            "units_in_window": s.units_in_window,
            "daily_rate": _decimal(s.daily_rate),
            "cover_days": _decimal(s.cover_days),
            "low_stock": s.low_stock,
        }
        for s in report.stock_cover
    ]


def _repeat_buyers(report: Report) -> list[Row]:
    return [
        {
            "channel": r.channel,
            "orders": r.orders,
            "orders_with_buyer_id": r.orders_with_buyer_id,
            "buyers": r.buyers,
            "repeat_buyers": r.repeat_buyers,
            "repeat_rate": _decimal(r.rate),
        }
        for r in report.repeat_buyers
    ]


_ROWS: dict[str, Callable[[Report], list[Row]]] = {
    "channels": _channels,
    "daily": _daily,
    "best_sellers": _best_sellers,
    "component_sales": _component_sales,
    "no_sales": _no_sales,
    "stock_cover": _stock_cover,
    "repeat_buyers": _repeat_buyers,
}


def section_rows(report: Report, section: str) -> list[Row]:
    """Return the rows of one section, keyed by :data:`COLUMNS` ``[section]``."""
    rows = _ROWS.get(section)
    if rows is None:
        raise ValueError(f"unknown report section {section!r} (sections: {', '.join(SECTIONS)})")
    return rows(report)


def _csv_value(column: str, value: Any) -> str:
    if value is None:
        return NOT_AVAILABLE if column == "repeat_rate" else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def section_csv(report: Report, section: str) -> str:
    """Return one section as CSV text with a header row of its columns."""
    columns = COLUMNS[section]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in section_rows(report, section):
        writer.writerow([_csv_value(column, row[column]) for column in columns])
    return buffer.getvalue()


def report_json(report: Report, sections: Iterable[str] = SECTIONS) -> str:
    """Return the report as JSON: the period and window, then the rows of each section."""
    window = report.window
    document: dict[str, Any] = {
        "period": {
            "since": report.period.since.isoformat(),
            "until": report.period.until.isoformat(),
            "tz": report.period.zone_name,
        },
        "channel": report.channel,
        "stock_window": {
            "days": window.days,
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "low_days": format(window.low_days, "f"),
        },
        "unmatched_units": report.unmatched_units,
    }
    chosen: Sequence[str] = list(sections)
    for section in chosen:
        document[section] = section_rows(report, section)
    return json.dumps(document, indent=2, ensure_ascii=False)
