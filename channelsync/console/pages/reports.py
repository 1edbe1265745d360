"""Reports: the sales report of ``channelsync report`` for the last days, and its plot."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any

from channelsync.console.source import ConsoleSource
from channelsync.report import COLUMNS, Report, ReportPeriod, build_report, report_json

__all__ = ["DEFAULT_DAYS", "report_data", "sales_report"]

#: Days the console's report covers unless asked for another number.
DEFAULT_DAYS = 30
#: The sections shown, in order (``channelsync report`` has the same).
SECTIONS = ("channels", "best_sellers", "component_sales", "stock_cover", "repeat_buyers")


def sales_report(source: ConsoleSource, days: int) -> Report:
    """Compute the report over the ``days`` days before now (days in UTC)."""
    until = source.clock.now()
    period = ReportPeriod(since=until - timedelta(days=days), until=until, zone=UTC)
    with source.store.transaction() as session:
        return build_report(session, period)


def report_data(report: Report, days: int) -> dict[str, Any]:
    """Return the page's data: the report's own JSON, and the columns of each section."""
    return {
        "days": days,
        "sections": list(SECTIONS),
        "columns": {name: list(COLUMNS[name]) for name in SECTIONS},
        "report": json.loads(report_json(report, SECTIONS)),
    }
