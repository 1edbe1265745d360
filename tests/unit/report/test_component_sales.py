"""Kits in the report: sold under their own code, and as their components' units.

Catalogue: TEAPOT, CUP, BOX, SAUCER; GIFT = TEAPOT x1 + CUP x4 + BOX x1; CUP-3 = CUP x3.
Period 1 to 3 November 2026 (Asia/Shanghai); the stock window is the 14 days before.

=====  ======  ================  =========  =========================  ======
order  chan.   placed (UTC)      status     lines                      total
=====  ======  ================  =========  =========================  ======
O1     shop-a  11-01 02:00       paid       GIFT 2 x 150, CUP 1 x 15   315.00
O2     shop-b  11-02 02:00       completed  CUP-3 1 x 40, TEAPOT 1 x 80 120.00
O3     shop-a  11-02 03:00       cancelled  GIFT 5 x 150               750.00
O4     shop-a  10-25 00:00       paid       GIFT 1 x 150 (window only) 150.00
=====  ======  ================  =========  =========================  ======

Stock (on hand, reserved, safety): TEAPOT 10, 2, 0; CUP 30, 0, 6; BOX 9, 0, 0; SAUCER 7.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from channelsync.engine.composition import kit_availability
from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync.report import (
    COLUMNS,
    SECTIONS,
    CatalogueIndex,
    Report,
    ReportBuilder,
    ReportPeriod,
    build_report,
    report_json,
    section_csv,
    section_rows,
)
from channelsync.store import (
    KitComponent,
    LedgerEvent,
    SkuRecord,
    StockPosition,
    StoredOrder,
    open_store,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: merchant code -> (on hand, reserved, safety stock); kits hold none.
STOCK = {"TEAPOT": (10, 2, 0), "CUP": (30, 0, 6), "BOX": (9, 0, 0), "SAUCER": (7, 0, 0)}
KITS = {"GIFT": (("TEAPOT", 1), ("CUP", 4), ("BOX", 1)), "CUP-3": (("CUP", 3),)}
CODES = [*STOCK, *KITS]
IDS = {code: number for number, code in enumerate(CODES, start=1)}


def line(code: str, quantity: int, price: str) -> OrderLine:
    return OrderLine(
        item_id=f"item-{code}",
        merchant_code=code,
        quantity=quantity,
        unit_price=Money.of(price, "CNY"),
    )


def order(
    channel: str, order_id: str, placed: str, status: OrderStatus, lines: list[OrderLine]
) -> Order:
    created = datetime.fromisoformat(placed).replace(tzinfo=UTC)
    total = sum((x.unit_price.amount * x.quantity for x in lines), Decimal(0))
    return Order(
        channel=channel,
        order_id=order_id,
        status=status,
        raw_status=status.value,
        created_at=created,
        updated_at=created,
        lines=tuple(lines),
        total=Money.of(total, "CNY"),
    )


ORDERS = [
    order(
        "shop-a",
        "O1",
        "2026-11-01T02:00",
        OrderStatus.PAID,
        [line("GIFT", 2, "150.00"), line("CUP", 1, "15.00")],
    ),
    order(
        "shop-b",
        "O2",
        "2026-11-02T02:00",
        OrderStatus.COMPLETED,
        [line("CUP-3", 1, "40.00"), line("TEAPOT", 1, "80.00")],
    ),
    order("shop-a", "O3", "2026-11-02T03:00", OrderStatus.CANCELLED, [line("GIFT", 5, "150.00")]),
    order("shop-a", "O4", "2026-10-25T00:00", OrderStatus.PAID, [line("GIFT", 1, "150.00")]),
]


@pytest.fixture
def period() -> ReportPeriod:
    return ReportPeriod(
        since=datetime(2026, 11, 1, tzinfo=SHANGHAI),
        until=datetime(2026, 11, 4, tzinfo=SHANGHAI),
        zone=SHANGHAI,
    )


def sku(code: str) -> SkuRecord:
    return SkuRecord(
        id=IDS[code],
        merchant_code=code,
        product_code=None,
        title=code.title(),
        price="20.00",
        currency="CNY",
        cost=None,
        barcode=None,
        attributes={},
        safety_stock=STOCK.get(code, (0, 0, 0))[2],
        low_stock_alerted=False,
    )


def catalogue() -> CatalogueIndex:
    components = {
        IDS[kit]: [KitComponent(IDS[code], code, units) for code, units in parts]
        for kit, parts in KITS.items()
    }
    return CatalogueIndex.build([sku(code) for code in CODES], [], components)


def positions() -> dict[int, StockPosition]:
    # A kit's own position is empty, as the store keeps it: the report must not use it.
    found = {IDS[code]: StockPosition(IDS[code], 0, 0, 0) for code in KITS}
    for code, (on_hand, reserved, safety) in STOCK.items():
        found[IDS[code]] = StockPosition(IDS[code], on_hand, reserved, safety)
    return found


@pytest.fixture
def report(period: ReportPeriod) -> Report:
    builder = ReportBuilder(period, catalogue())
    for o in ORDERS:
        builder.add(o)
    return builder.finish(positions())


def test_sales_by_component_expand_each_kit_line_into_its_components_units(
    report: Report,
) -> None:
    rows = section_rows(report, "component_sales")
    # CUP: 1 alone, 2 sets x 4 + 1 pack x 3 = 11 in kits; TEAPOT: 1 alone, 2 in sets;
    # BOX: only ever sold in sets. The cancelled order O3 and O4 (before) count nothing.
    assert rows == [
        {"merchant_code": "CUP", "title": "Cup", "units": 12, "sold_alone": 1, "in_kits": 11},
        {"merchant_code": "TEAPOT", "title": "Teapot", "units": 3, "sold_alone": 1, "in_kits": 2},
        {"merchant_code": "BOX", "title": "Box", "units": 2, "sold_alone": 0, "in_kits": 2},
    ]


def test_best_sellers_and_channel_units_count_kits_as_sold(report: Report) -> None:
    assert [(b.merchant_code, b.units) for b in report.best_sellers] == [
        ("GIFT", 2),
        ("CUP", 1),
        ("CUP-3", 1),
        ("TEAPOT", 1),
    ]
    gift = report.best_sellers[0]
    assert gift.revenue == (Money.of("300.00", "CNY"),)
    units = {c.channel: c.units for c in report.channels}
    assert units == {"shop-a": 3, "shop-b": 2}


def test_a_component_sold_only_in_kits_did_sell_and_a_kit_has_what_its_parts_make(
    report: Report,
) -> None:
    assert [(n.merchant_code, n.on_hand, n.available) for n in report.no_sales] == [
        ("SAUCER", 7, 7)
    ]
    cover = {c.merchant_code: c for c in report.stock_cover}
    # GIFT: on hand min(10, 30 // 4, 9) = 7; available min(8, 24 // 4, 9) = 6.
    assert (cover["GIFT"].on_hand, cover["GIFT"].available) == (7, 6)
    assert (cover["CUP-3"].on_hand, cover["CUP-3"].available) == (10, 8)
    # Window units: kits their own (GIFT 2 + 1), components with what kits took.
    units = {code: c.units_in_window for code, c in cover.items()}
    assert units == {"CUP": 16, "TEAPOT": 4, "BOX": 3, "SAUCER": 0, "GIFT": 3, "CUP-3": 1}
    assert cover["CUP"].cover_days == Decimal("21.0")  # 24 available * 14 days / 16 units
    assert cover["GIFT"].cover_days == Decimal("28.0")  # 6 * 14 / 3
    assert not cover["GIFT"].low_stock  # not "nothing available": its parts make 6


def test_without_kits_sales_by_component_are_the_skus_sold_alone(period: ReportPeriod) -> None:
    plain = CatalogueIndex.build([sku(code) for code in CODES], [])
    builder = ReportBuilder(period, plain)
    for o in ORDERS:
        builder.add(o)
    report = builder.finish(positions())
    rows = {
        r["merchant_code"]: (r["units"], r["in_kits"])
        for r in section_rows(report, "component_sales")
    }
    assert rows == {"GIFT": (2, 0), "CUP": (1, 0), "CUP-3": (1, 0), "TEAPOT": (1, 0)}


def test_the_component_section_in_csv_and_json_beside_every_other_section(
    report: Report,
) -> None:
    assert "component_sales" in SECTIONS
    assert COLUMNS["component_sales"] == (
        "merchant_code",
        "title",
        "units",
        "sold_alone",
        "in_kits",
    )
    parsed = list(csv.DictReader(io.StringIO(section_csv(report, "component_sales"))))
    assert parsed[0] == {
        "merchant_code": "CUP",
        "title": "Cup",
        "units": "12",
        "sold_alone": "1",
        "in_kits": "11",
    }
    document = json.loads(report_json(report))
    assert document["component_sales"][1]["merchant_code"] == "TEAPOT"
    assert document["best_sellers"][0]["merchant_code"] == "GIFT"


def test_a_report_from_the_store_reads_the_kits(tmp_path: Path, period: ReportPeriod) -> None:
    now = datetime(2026, 11, 5, tzinfo=UTC)
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        with store.transaction() as session:
            ids = {}
            for code in CODES:
                ids[code] = session.upsert_sku(
                    merchant_code=code,
                    product_id=None,
                    title=code.title(),
                    price="20.00",
                    currency="CNY",
                    cost=None,
                    barcode=None,
                    attributes={},
                    now=now,
                )
            for code, (on_hand, reserved, safety) in STOCK.items():
                session.apply_event(
                    LedgerEvent(f"count:{code}", "adjustment", ids[code], on_hand_delta=on_hand),
                    now,
                )
                if reserved:
                    session.apply_event(
                        LedgerEvent(
                            f"reserve:{code}",
                            "reserved",
                            ids[code],
                            reserved_delta=reserved,
                            channel="shop-a",
                            order_id="O1",
                        ),
                        now,
                    )
                if safety:
                    session.set_safety_stock(ids[code], safety)
            for kit, parts in KITS.items():
                session.set_components(ids[kit], [(ids[c], units) for c, units in parts])
            for o in ORDERS:
                session.save_order(
                    StoredOrder(
                        channel=o.channel,
                        order_id=o.order_id,
                        status=o.status.value,
                        version=o.version,
                        updated_at=o.updated_at,
                        created_at=o.created_at,
                        on_hold=o.on_hold,
                        raw=o.model_dump(mode="json"),
                        imported_at=now,
                    )
                )
        with store.transaction() as session:
            stored = build_report(session, period)
            makes = kit_availability(session, [ids["GIFT"], ids["CUP-3"]])
    expected = ReportBuilder(period, catalogue())
    for o in ORDERS:
        expected.add(o)
    report = expected.finish(positions())
    for section in SECTIONS:
        assert section_rows(stored, section) == section_rows(report, section), section
    # A kit's available in the report is what the engine says its components make.
    cover = {c.merchant_code: c.available for c in stored.stock_cover}
    assert (cover["GIFT"], cover["CUP-3"]) == (makes[ids["GIFT"]], makes[ids["CUP-3"]])
