"""``channelsync report`` end to end: a store seeded with known orders, every format."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from channelsync.bootstrap import open_state
from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.config import load_config
from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync.report import COLUMNS, SECTIONS
from channelsync.store import LedgerEvent, StoredOrder

CONFIG = """
[[channels]]
name = "tmall-shop"
type = "memory"

[[channels]]
name = "amazon-us"
type = "memory"
"""

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _order(
    channel: str,
    order_id: str,
    placed: datetime,
    status: OrderStatus,
    code: str,
    quantity: int,
    price: str,
    total: str,
    currency: str = "CNY",
    buyer: str | None = None,
) -> Order:
    return Order(
        channel=channel,
        order_id=order_id,
        status=status,
        raw_status=status.value,
        created_at=placed,
        updated_at=placed,
        lines=(
            OrderLine(
                item_id=f"i-{code}",
                merchant_code=code,
                quantity=quantity,
                unit_price=Money.of(price, currency),
            ),
        ),
        total=Money.of(total, currency),
        buyer_id=buyer,
    )


ORDERS = [
    _order(
        "tmall-shop",
        "T1",
        datetime(2026, 3, 1, 2, tzinfo=UTC),
        OrderStatus.PAID,
        "MUG",
        2,
        "20.00",
        "40.00",
        buyer="b1",
    ),
    _order(
        "tmall-shop",
        "T2",
        datetime(2026, 3, 2, 3, tzinfo=UTC),
        OrderStatus.COMPLETED,
        "MUG",
        1,
        "20.00",
        "20.00",
        buyer="b1",
    ),
    _order(
        "tmall-shop",
        "T3",
        datetime(2026, 3, 2, 4, tzinfo=UTC),
        OrderStatus.CANCELLED,
        "MUG",
        1,
        "20.00",
        "20.00",
    ),
    _order(
        "amazon-us",
        "U1",
        datetime(2026, 3, 5, 20, tzinfo=UTC),
        OrderStatus.SHIPPED,
        "PEN",
        3,
        "1.99",
        "5.97",
        "USD",
    ),
    _order(
        "tmall-shop",
        "OLD",
        datetime(2026, 1, 1, tzinfo=UTC),
        OrderStatus.PAID,
        "MUG",
        1,
        "20.00",
        "20.00",
    ),
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(CONFIG, encoding="utf-8")
    store = open_state(load_config(path))
    try:
        with store.transaction() as session:
            for code, on_hand in (("MUG", 10), ("PEN", 50), ("INK", 5)):
                sku_id = session.upsert_sku(
                    merchant_code=code,
                    product_id=None,
                    title=code.title(),
                    price="1.00",
                    currency="CNY",
                    cost=None,
                    barcode=None,
                    attributes={},
                    now=NOW,
                )
                session.apply_event(
                    LedgerEvent(f"count:{code}", "adjustment", sku_id, on_hand_delta=on_hand), NOW
                )
            for o in ORDERS:
                session.save_order(
                    StoredOrder(
                        channel=o.channel,
                        order_id=o.order_id,
                        status=o.status.value,
                        version=o.version,
                        updated_at=o.updated_at,
                        created_at=o.created_at,
                        on_hold=False,
                        raw=o.model_dump(mode="json"),
                        imported_at=NOW,
                    )
                )
    finally:
        store.close()
    return path


def report(config: Path, *args: str) -> Result:
    overrides = CliOverrides(clock=FakeClock(NOW))
    return CliRunner().invoke(
        cli, ["report", "--config", str(config), *args], obj=overrides, catch_exceptions=False
    )


def test_json_over_the_default_thirty_days(config: Path) -> None:
    result = report(config, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["period"] == {
        "since": "2026-02-08T12:00:00+00:00",
        "until": "2026-03-10T12:00:00+00:00",
        "tz": "UTC",
    }
    assert [
        (c["channel"], c["currency"], c["orders"], c["units"], c["sales"])
        for c in document["channels"]
    ] == [("amazon-us", "USD", 1, 3, "5.97"), ("tmall-shop", "CNY", 2, 3, "60.00")]
    tmall = document["channels"][1]
    assert (tmall["average_order_value"], tmall["cancelled_orders"], tmall["cancelled_value"]) == (
        "30.00",
        1,
        "20.00",
    )
    assert len(document["daily"]) == 31 * 2  # 8 Feb to 10 Mar, two series
    assert [(b["merchant_code"], b["units"], b["revenue"]) for b in document["best_sellers"]] == [
        ("MUG", 3, "60.00"),
        ("PEN", 3, "5.97"),
    ]
    assert [n["merchant_code"] for n in document["no_sales"]] == ["INK"]
    cover = {s["merchant_code"]: s["cover_days"] for s in document["stock_cover"]}
    assert cover == {"MUG": "46.7", "PEN": "233.3", "INK": None}  # 10 * 14 / 3, 50 * 14 / 3
    assert [(r["channel"], r["repeat_rate"]) for r in document["repeat_buyers"]] == [
        ("amazon-us", None),
        ("tmall-shop", "1.0000"),
    ]


def test_csv_section_parses_back_with_its_columns(config: Path) -> None:
    result = report(
        config,
        "--format",
        "csv",
        "--section",
        "daily",
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-02",
        "--tz",
        "Asia/Shanghai",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert tuple(rows[0]) == COLUMNS["daily"]
    # 2 March in Shanghai is 1 Mar 16:00 to 2 Mar 16:00 UTC: T2 only, T1 was the day before.
    assert [(r["day"], r["channel"], r["orders"], r["sales"]) for r in rows] == [
        ("2026-03-02", "tmall-shop", "1", "20.00")
    ]


def test_table_shows_every_section(config: Path) -> None:
    result = report(config)
    assert result.exit_code == 0, result.output
    for title in ("Sales per channel", "Sales per day", "Best sellers", "SKUs with no sales"):
        assert title in result.output
    assert "Stock cover (low stock)" in result.output
    assert "0 of 3 SKUs low on stock" in result.output
    assert "n/a" in result.output  # amazon-us gives no buyer id
    assert "60.00" in result.output


def test_one_channel(config: Path) -> None:
    result = report(config, "--format", "json", "--channel", "amazon-us", "--section", "channels")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["channel"] == "amazon-us"
    assert [c["channel"] for c in document["channels"]] == ["amazon-us"]
    assert set(document) & set(SECTIONS) == {"channels"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "csv"], "--format csv prints one section: add --section"),
        (["--tz", "Mars/Olympus"], "--tz: 'Mars/Olympus' is not a known IANA time zone"),
        (["--since", "last week"], "--since: 'last week' is not an ISO date"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], "is not before --until"),
        (["--window", "0"], "--window: 0 must be from 1 to 3660 days"),
        (["--window", "99999999"], "--window: 99999999 must be from 1 to 3660 days"),
        (["--low-days", "soon"], "--low-days: 'soon' is not a number of days"),
        (["--channel", "ebay"], "no channel named 'ebay' is configured"),
        (["--plot", "sales.svg"], "--plot: 'sales.svg' must be a .png file"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    config: Path, args: list[str], message: str
) -> None:
    result = report(config, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_plot_writes_a_png(config: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "sales.png"
    result = report(config, "--format", "json", "--plot", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {target}" in result.output


def test_plot_without_matplotlib_names_the_extra(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes the library look absent to importlib.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    target = tmp_path / "sales.png"
    result = report(config, "--plot", str(target))
    assert result.exit_code == 2, result.output
    assert "pip install 'channelsync[plot]'" in result.output
    assert not target.exists()
