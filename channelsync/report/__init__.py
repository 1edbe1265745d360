"""Reports on the imported orders and the catalogue: sales, best sellers, stock cover.

A kit's sales show two ways: as sold (best sellers, under the kit's own code) and by
component (sales by component: each kit line as its components' units).

:func:`build_report` reads a store session; :class:`ReportBuilder` is the pure
computation under it, fed one order at a time. :mod:`channelsync.report.export` turns
a :class:`Report` into rows, CSV and JSON; :mod:`channelsync.report.plot` draws it
(with the optional ``plot`` extra). ``docs/report.md`` says how each figure is made.
"""

from __future__ import annotations

from channelsync.report.compute import SALE_STATUSES, CatalogueIndex, ReportBuilder
from channelsync.report.errors import (
    ReportDataError,
    ReportOptionError,
    ReportPlotUnavailableError,
)
from channelsync.report.export import COLUMNS, SECTIONS, report_json, section_csv, section_rows
from channelsync.report.figures import (
    BestSeller,
    ChannelSales,
    ComponentSales,
    DaySales,
    NoSale,
    RepeatBuyers,
    Report,
    StockCover,
    StockWindow,
)
from channelsync.report.period import ReportPeriod, parse_moment, parse_zone
from channelsync.report.source import build_report

__all__ = [
    "COLUMNS",
    "SALE_STATUSES",
    "SECTIONS",
    "BestSeller",
    "CatalogueIndex",
    "ChannelSales",
    "ComponentSales",
    "DaySales",
    "NoSale",
    "RepeatBuyers",
    "Report",
    "ReportBuilder",
    "ReportDataError",
    "ReportOptionError",
    "ReportPeriod",
    "ReportPlotUnavailableError",
    "StockCover",
    "StockWindow",
    "build_report",
    "parse_moment",
    "parse_zone",
    "report_json",
    "section_csv",
    "section_rows",
]
