"""``channelsync report``: sales, best sellers, sales by component, stock cover, repeat buyers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table

from channelsync.bootstrap import open_state
from channelsync.cli._common import config_option, reports_errors
from channelsync.cli.engine_cmd import clock, runtime_config
from channelsync.report import (
    COLUMNS,
    SECTIONS,
    Report,
    ReportOptionError,
    ReportPeriod,
    ReportPlotUnavailableError,
    build_report,
    parse_moment,
    parse_zone,
    report_json,
    section_csv,
    section_rows,
)
from channelsync.report.plot import plot_sales, require_matplotlib

P = ParamSpec("P")
R = TypeVar("R")

#: The period a report covers when ``--since`` is not given: the days before ``--until``.
DEFAULT_DAYS = 30

#: Rows of a long section (SKUs without sales, stock cover) shown in a terminal table.
TABLE_ROWS = 20

_TITLES = {
    "channels": "Sales per channel",
    "daily": "Sales per day",
    "best_sellers": "Best sellers",
    "component_sales": "Sales by component (kits as their components' units)",
    "no_sales": "SKUs with no sales",
    "stock_cover": "Stock cover",
    "repeat_buyers": "Repeat buyers",
}


def _reports_option_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a bad report option or a missing plot extra into a usage error (exit 2)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (ReportOptionError, ReportPlotUnavailableError) as error:
            raise click.UsageError(str(error)) from None

    return wrapper


def _low_days(value: str) -> Decimal:
    try:
        result = Decimal(value.strip())
    except InvalidOperation:
        raise ReportOptionError("--low-days", f"{value!r} is not a number of days") from None
    if not result.is_finite():
        raise ReportOptionError("--low-days", f"{value!r} is not a number of days")
    return result


@click.command("report")
@config_option
@click.option(
    "--since",
    default=None,
    help=f"Start (ISO date or time; default {DEFAULT_DAYS} days before --until).",
)
@click.option(
    "--until", default=None, help="End, exclusive (a bare date includes that day; default now)."
)
@click.option(
    "--tz",
    "zone",
    default="UTC",
    show_default=True,
    help="IANA zone days are counted in; also read into --since/--until without an offset.",
)
@click.option(
    "--channel",
    default=None,
    help="Only this channel's sales (stock cover still uses every channel).",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--section",
    type=click.Choice(SECTIONS),
    default=None,
    help="Only this section (required with --format csv).",
)
@click.option(
    "--window",
    "window_days",
    type=int,
    default=14,
    show_default=True,
    help="Days of recent sales the stock cover rate is taken over.",
)
@click.option(
    "--low-days",
    default="7",
    show_default=True,
    help="Stock cover under this many days is low stock.",
)
@click.option(
    "--top", type=int, default=10, show_default=True, help="How many best sellers to list."
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw sales per channel per day into this PNG (needs the 'plot' extra).",
)
@reports_errors
@_reports_option_errors
def report_command(
    *,
    config_path: Path | None,
    since: str | None,
    until: str | None,
    zone: str,
    channel: str | None,
    output: str,
    section: str | None,
    window_days: int,
    low_days: str,
    top: int,
    plot_path: Path | None,
) -> None:
    """Report sales, best sellers, sales by component, stock cover and repeat buyers.

    Best sellers count a kit under its own code, as it was sold; sales by component
    count its lines as its components' units.
    """
    if output == "csv" and section is None:
        raise click.UsageError(
            f"--format csv prints one section: add --section ({', '.join(SECTIONS)})"
        )
    if plot_path is not None:
        require_matplotlib()
        if plot_path.suffix.lower() != ".png":
            raise ReportOptionError("--plot", f"{str(plot_path)!r} must be a .png file")
    tz = parse_zone(zone)
    end = (
        parse_moment(until, tz, option="--until", end_of_day=True)
        if until is not None
        else clock().now()
    )
    start = (
        parse_moment(since, tz, option="--since")
        if since is not None
        else end - timedelta(days=DEFAULT_DAYS)
    )
    period = ReportPeriod(since=start, until=end, zone=tz)
    threshold = _low_days(low_days)
    config = runtime_config(config_path)
    if channel is not None:
        config.channel(channel)
    with open_state(config) as store, store.transaction() as session:
        report = build_report(
            session, period, channel=channel, window_days=window_days, low_days=threshold, top=top
        )
    sections = SECTIONS if section is None else (section,)
    if output == "json":
        click.echo(report_json(report, sections))
    elif output == "csv":
        assert section is not None  # checked above
        click.echo(section_csv(report, section), nl=False)
    else:
        _print_tables(report, sections)
    if plot_path is not None:
        written = plot_sales(report, plot_path)
        click.echo(f"plot written to {written}", err=output != "table")


# -- terminal tables ---------------------------------------------------------------------


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "n/a" if column == "repeat_rate" else "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def _table(title: str, columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> Table:
    names = list(columns)
    table = Table(title=title, title_justify="left")
    for name in names:
        numeric = name not in {"channel", "currency", "merchant_code", "title", "day"}
        table.add_column(name.replace("_", " "), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(name, row[name]) for name in names))
    return table


def _daily_table(report: Report) -> Table:
    # One row per day, one column per channel and currency: a month reads at a glance.
    series = sorted({(d.channel, d.currency) for d in report.daily})
    table = Table(title=f"{_TITLES['daily']} (orders / sales)", title_justify="left")
    table.add_column("day")
    for channel, currency in series:
        table.add_column(f"{channel} {currency}", justify="right")
    cells: dict[str, dict[tuple[str, str], str]] = {}
    for row in section_rows(report, "daily"):
        cells.setdefault(row["day"], {})[(row["channel"], row["currency"])] = (
            f"{row['orders']} / {row['sales']}"
        )
    for day, values in cells.items():
        table.add_row(day, *(values.get(key, "") for key in series))
    return table


def _print_tables(report: Report, sections: Iterable[str]) -> None:
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped or captured: wide enough that the widest section does not wrap.
        console = Console(highlight=False, width=180)
    period = report.period
    console.print(
        f"Orders placed {period.since.isoformat()} to {period.until.isoformat()} "
        f"(days in {period.zone_name}); channel: {report.channel or 'all'}; "
        f"stock cover over the {report.window.days} days before the end, "
        f"low under {report.window.low_days} days"
    )
    if report.unmatched_units:
        console.print(f"units on lines bound to no catalogue SKU: {report.unmatched_units}")
    for section in sections:
        if section == "daily":
            console.print(_daily_table(report))
            continue
        rows = section_rows(report, section)
        note = ""
        if section == "stock_cover":
            low = [row for row in rows if row["low_stock"]]
            note = f"{len(low)} of {len(rows)} SKUs low on stock"
            rows = low
        if len(rows) > TABLE_ROWS:
            note = (note + "; " if note else "") + (
                f"{len(rows) - TABLE_ROWS} more rows: --format csv --section {section}"
            )
            rows = rows[:TABLE_ROWS]
        title = _TITLES[section] + (" (low stock)" if section == "stock_cover" else "")
        console.print(_table(title, COLUMNS[section], rows))
        if note:
            console.print(note)
