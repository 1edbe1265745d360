"""Periods and zones from command-line text; a report's rows, CSV, JSON and plot."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from channelsync.models import Order
from channelsync.report import (
    COLUMNS,
    SECTIONS,
    CatalogueIndex,
    Report,
    ReportBuilder,
    ReportDataError,
    ReportOptionError,
    ReportPeriod,
    build_report,
    parse_moment,
    parse_zone,
    report_json,
    section_csv,
    section_rows,
)
from channelsync.report.plot import plot_sales
from channelsync.store import StockPosition, Store, StoredOrder

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def report(
    period: ReportPeriod,
    catalogue: CatalogueIndex,
    known_orders: list[Order],
    positions: dict[int, StockPosition],
) -> Report:
    builder = ReportBuilder(period, catalogue)
    for o in known_orders:
        builder.add(o)
    return builder.finish(positions)


# -- periods -------------------------------------------------------------------------------


def test_a_bare_date_is_midnight_in_the_zone_and_until_includes_its_day() -> None:
    assert parse_moment("2026-11-01", SHANGHAI, option="--since") == datetime(
        2026, 11, 1, tzinfo=SHANGHAI
    )
    assert parse_moment("2026-11-03", SHANGHAI, option="--until", end_of_day=True) == datetime(
        2026, 11, 4, tzinfo=SHANGHAI
    )
    assert parse_moment("2026-11-01T08:00:00+00:00", SHANGHAI, option="--since") == datetime(
        2026, 11, 1, 8, tzinfo=UTC
    )
    assert parse_moment("2026-11-01T08:00", SHANGHAI, option="--since") == datetime(
        2026, 11, 1, 8, tzinfo=SHANGHAI
    )


def test_bad_dates_zones_and_periods_name_the_option() -> None:
    with pytest.raises(ReportOptionError, match=r"^--since: 'yesterday' is not an ISO date"):
        parse_moment("yesterday", UTC, option="--since")
    with pytest.raises(ReportOptionError, match=r"^--tz: 'Mars/Olympus' is not a known"):
        parse_zone("Mars/Olympus")
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ReportOptionError, match=r"^--since: .* is not before --until"):
        ReportPeriod(since=moment, until=moment, zone=UTC)


def test_period_days_are_counted_in_its_zone() -> None:
    period = ReportPeriod(
        since=datetime(2026, 10, 31, 16, tzinfo=UTC),
        until=datetime(2026, 11, 2, 16, tzinfo=UTC),
        zone=SHANGHAI,
    )
    assert list(period.days()) == [date(2026, 11, 1), date(2026, 11, 2)]
    assert period.day_of(datetime(2026, 10, 31, 16, 30, tzinfo=UTC)) == date(2026, 11, 1)
    assert not period.contains(period.until)
    assert period.contains(period.until - timedelta(microseconds=1))


# -- rows, CSV, JSON ----------------------------------------------------------------------


def test_every_section_has_exactly_its_columns(report: Report) -> None:
    for section in SECTIONS:
        rows = section_rows(report, section)
        assert rows, section
        assert all(tuple(row) == COLUMNS[section] for row in rows), section


@pytest.mark.parametrize("section", SECTIONS)
def test_csv_parses_back_to_the_rows(report: Report, section: str) -> None:
    parsed = list(csv.DictReader(io.StringIO(section_csv(report, section))))
    rows = section_rows(report, section)
    assert len(parsed) == len(rows)
    assert tuple(parsed[0]) == COLUMNS[section]
    for back, row in zip(parsed, rows, strict=True):
        for column in COLUMNS[section]:
            value = row[column]
            if value is None:
                expected = "n/a" if column == "repeat_rate" else ""
            elif isinstance(value, bool):
                expected = "true" if value else "false"
            else:
                expected = str(value)
            assert back[column] == expected, (section, column)


def test_csv_values_are_exact_decimal_text(report: Report) -> None:
    channels = list(csv.DictReader(io.StringIO(section_csv(report, "channels"))))
    assert channels[0]["sales"] == "200.50"
    assert channels[0]["average_order_value"] == "66.83"
    best = list(csv.DictReader(io.StringIO(section_csv(report, "best_sellers"))))
    # MUG sold in two currencies: two rows, same rank and units.
    assert [(r["rank"], r["merchant_code"], r["currency"], r["revenue"]) for r in best[:2]] == [
        ("1", "MUG", "CNY", "60.00"),
        ("1", "MUG", "USD", "10.50"),
    ]
    repeat = list(csv.DictReader(io.StringIO(section_csv(report, "repeat_buyers"))))
    assert [r["repeat_rate"] for r in repeat] == ["0.5000", "n/a", "0.0000"]


def test_json_has_the_period_window_and_every_section(report: Report) -> None:
    document = json.loads(report_json(report))
    assert set(document) == {"period", "channel", "stock_window", "unmatched_units", *SECTIONS}
    assert document["period"] == {
        "since": "2026-11-01T00:00:00+08:00",
        "until": "2026-11-04T00:00:00+08:00",
        "tz": "Asia/Shanghai",
    }
    assert document["stock_window"]["days"] == 14
    assert document["channels"][0]["sales"] == "200.50"
    assert document["repeat_buyers"][1]["repeat_rate"] is None
    assert document["stock_cover"][0] == {
        "merchant_code": "CAP",
        "title": "Cap",
        "on_hand": 0,
        "available": 0,
        "units_in_window": 1,
        "daily_rate": "0.071",
        "cover_days": "0.0",
        "low_stock": True,
    }
    only = json.loads(report_json(report, ["no_sales"]))
    assert only["no_sales"] == [
        {"merchant_code": "BAG", "title": "Bag", "on_hand": 12, "available": 12}
    ]
    assert "channels" not in only


def test_an_unknown_section_is_refused(report: Report) -> None:
    with pytest.raises(ValueError, match="unknown report section 'totals'"):
        section_rows(report, "totals")


# -- from the store ------------------------------------------------------------------------


def test_build_report_from_the_store_matches_the_pure_figures(
    seeded_store: Store, period: ReportPeriod, report: Report
) -> None:
    with seeded_store.transaction() as session:
        stored = build_report(session, period)
    # Store ids differ from the fixture's; compare everything through the stable rows.
    for section in SECTIONS:
        assert section_rows(stored, section) == section_rows(report, section), section
    assert stored.unmatched_units == report.unmatched_units


def test_a_stored_order_that_no_longer_reads_names_channel_and_order(
    seeded_store: Store, period: ReportPeriod
) -> None:
    placed = datetime(2026, 11, 2, tzinfo=UTC)
    with seeded_store.transaction() as session:
        session.save_order(
            StoredOrder(
                channel="shop-a",
                order_id="BROKEN",
                status="paid",
                version="v",
                updated_at=placed,
                created_at=placed,
                on_hold=False,
                raw={"channel": "shop-a", "order_id": "BROKEN", "total": 1.5},
                imported_at=placed,
            )
        )
    with (
        seeded_store.transaction() as session,
        pytest.raises(ReportDataError, match=r"^stored order shop-a/BROKEN cannot be read: "),
    ):
        build_report(session, period)


# -- plot ----------------------------------------------------------------------------------


def test_plot_writes_a_png_with_a_panel_per_currency(report: Report, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = plot_sales(report, tmp_path / "out" / "sales.png")
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # Two currencies, two panels of 3.5 inches at 100 dpi: 350 px each.
    height = int.from_bytes(data[20:24], "big")
    assert height == 700
