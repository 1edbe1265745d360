"""Fuzzing the catalogue (CSV and JSON) and shipment (CSV) importers with damaged files.

A real-shaped file is damaged one way per example — a cell emptied or replaced with
a bad value (not a number, negative, huge, a wrong currency, control characters, a
comma or a newline inside), a header dropped or doubled, a column added, the file
cut short or not UTF-8, a JSON member dropped or of the wrong type — and imported
into a SQLite store that already holds a catalogue, the way ``channelsync catalogue
import`` and ``channelsync ship --file`` do. The import either succeeds or raises
:class:`~channelsync.engine.errors.InputError` naming the file and, for each bad
row, the row and the field; and then every table of the store is exactly as it was
before (no partial write).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings
from channelsync.engine.catalogue import import_catalogue, read_catalogue_file
from channelsync.engine.context import ChannelInfo, EngineContext
from channelsync.engine.errors import InputError
from channelsync.engine.orders import IngestReport, apply_order
from channelsync.engine.shipments import read_shipments_csv, request_shipments
from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync.store import Store, open_store

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("CHANNELSYNC_FUZZ_EXAMPLES", "60"))
NOW = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

CATALOGUE = [
    {
        "sku": "CS-0001",
        "title": "连衣裙 Dress",
        "price": "49.90",
        "currency": "CNY",
        "quantity": "40",
        "cost": "21.00",
        "barcode": "6901234567892",
        "warehouse": "hangzhou",
        "product": "DRESS",
        "colour": "red",
    },
    {
        "sku": "CS-0001",
        "title": "连衣裙 Dress",
        "price": "49.90",
        "currency": "CNY",
        "quantity": "12",
        "cost": "21.00",
        "barcode": "6901234567892",
        "warehouse": "guangzhou",
        "product": "DRESS",
        "colour": "red",
    },
    {
        "sku": "CS-0002",
        "title": "T恤 T-shirt",
        "price": "19.90",
        "currency": "CNY",
        "quantity": "3",
        "cost": "",
        "barcode": "",
        "warehouse": "",
        "product": "",
        "colour": "",
    },
    {
        "sku": "US-0003",
        "title": "Mug",
        "price": "12.5",
        "currency": "USD",
        "quantity": "0",
        "cost": "4",
        "barcode": "",
        "warehouse": "",
        "product": "",
        "colour": "white",
    },
]
SHIPMENTS = [
    {
        "channel": "tmall-main",
        "order_id": "3001",
        "carrier": "sf",
        "tracking": "SF1234567890123",
        "sku": "",
        "quantity": "",
    },
    {
        "channel": "jd-pop",
        "order_id": "4001",
        "carrier": "jd",
        "tracking": "JDVA0000000001",
        "sku": "CS-0001",
        "quantity": "1",
    },
    {
        "channel": "jd-pop",
        "order_id": "4001",
        "carrier": "jd",
        "tracking": "JDVA0000000001",
        "sku": "CS-0002",
        "quantity": "2",
    },
]
BAD_CELLS = (
    "",
    " ",
    "abc",
    "-1",
    "0",
    "1e9999",
    "NaN",
    "Infinity",
    "12.345",
    "9" * 40,
    "CNYY",
    "usd",
    "a,b",
    'say "hi"',
    "line\nbreak",
    "\x00\x07",
    "超卖",
    "=cmd|' /C calc'!A0",
)


def to_csv(rows: list[dict[str, str]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue()


def damaged_csv(rows: list[dict[str, str]], op: str, pick: int, choice: int) -> bytes:
    """Return the rows as CSV, damaged by ``op``."""
    rows = copy.deepcopy(rows)
    columns = list(rows[0])
    if op == "cell":
        row = rows[pick % len(rows)]
        row[columns[(pick // len(rows)) % len(columns)]] = BAD_CELLS[choice % len(BAD_CELLS)]
    elif op == "drop_column":
        columns.pop(pick % len(columns))
    elif op == "double_column":
        columns.insert(0, columns[pick % len(columns)])
    elif op == "extra_values":
        text = to_csv(rows, columns).splitlines()
        line = 1 + pick % (len(text) - 1)
        text[line] += ",surplus,values"
        return ("\n".join(text) + "\n").encode()
    elif op == "duplicate_row":
        rows.append(dict(rows[pick % len(rows)]))
    raw = to_csv(rows, columns).encode()
    at = pick % max(len(raw), 1)
    if op == "cut":
        return raw[:at]
    if op == "non_utf8":
        return raw[:at] + b"\xff\xfe" + raw[at:]
    if op == "garbage":
        return raw[:at] + b'\x00"\r,\n"' + raw[at:]
    return raw


CSV_OPS = (
    "cell",
    "drop_column",
    "double_column",
    "extra_values",
    "duplicate_row",
    "cut",
    "non_utf8",
    "garbage",
)
JSON_VALUES: tuple[Any, ...] = (None, 7, -3, 2.5, True, [], {}, "", "x" * 300, "1e9999", 10**30)


def damaged_json(rows: list[dict[str, str]], op: str, pick: int, choice: int) -> bytes:
    """Return the rows as a JSON catalogue, damaged by ``op``."""
    data: Any = {"skus": copy.deepcopy(rows)}
    if op == "drop_member":
        row = data["skus"][pick % len(rows)]
        del row[list(row)[choice % len(row)]]
    elif op == "member_type":
        row = data["skus"][pick % len(rows)]
        row[list(row)[choice % len(row)]] = JSON_VALUES[pick % len(JSON_VALUES)]
    elif op == "row_type":
        data["skus"][pick % len(rows)] = JSON_VALUES[choice % len(JSON_VALUES)]
    elif op == "root_type":
        data = JSON_VALUES[choice % len(JSON_VALUES)]
    raw = json.dumps(data, ensure_ascii=False).encode()
    if op == "cut":
        return raw[: pick % len(raw)]
    return raw


JSON_OPS = ("drop_member", "member_type", "row_type", "root_type", "cut")


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the SQLite file, in a stable order."""
    with sqlite3.connect(path) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """A store holding the undamaged catalogue and shipments."""
    folder = tmp_path_factory.mktemp("fuzz-import")
    db = folder / "state.db"
    store = open_store(f"sqlite:///{db}")
    good = folder / "catalogue.csv"
    good.write_text(to_csv(CATALOGUE, list(CATALOGUE[0])), encoding="utf-8")
    import_catalogue(store, read_catalogue_file(good), now=NOW)
    _import_orders(store)
    ships = folder / "shipments.csv"
    ships.write_text(to_csv(SHIPMENTS, list(SHIPMENTS[0])), encoding="utf-8")
    assert request_shipments(_context(store), read_shipments_csv(ships)) == 2
    yield store, db
    store.close()


def _import_orders(store: Store) -> None:
    """Import the orders the shipments name (a shipment of an unknown order is refused)."""
    context = _context(store)
    for channel, order_id in {(row["channel"], row["order_id"]) for row in SHIPMENTS}:
        order = Order(
            channel=channel,
            order_id=order_id,
            status=OrderStatus.PAID,
            raw_status="paid",
            created_at=NOW,
            updated_at=NOW,
            lines=(
                OrderLine(
                    item_id="1",
                    merchant_code="CS-0001",
                    quantity=1,
                    unit_price=Money.of("49.90", "CNY"),
                ),
            ),
            total=Money.of("49.90", "CNY"),
        )
        with store.transaction() as session:
            apply_order(session, context, order, IngestReport(channel=channel))


def _context(store: Store) -> EngineContext:
    def info(name: str, kind: str) -> ChannelInfo:
        return ChannelInfo(name, kind, ChannelSyncSettings(), True, True, True)

    return EngineContext(
        store=store,
        clock=FakeClock(NOW),
        channels={"tmall-main": info("tmall-main", "tmall"), "jd-pop": info("jd-pop", "jd")},
    )


def _check_refusal(error: InputError, source: Path) -> None:
    message = str(error)
    assert message.startswith((str(source), "shipments")), message
    assert "nothing was changed" in message
    assert error.problems
    for problem in error.problems:
        assert problem.message.strip()
        if problem.row is not None:
            assert f"row {problem.row}" in str(problem)
        if problem.field is not None:
            assert repr(problem.field) in str(problem)


def _import_catalogue(store: Store, path: Path) -> None:
    import_catalogue(store, read_catalogue_file(path), now=NOW)


def test_the_seeded_store_holds_the_undamaged_files(seeded: tuple[Store, Path]) -> None:
    _, db = seeded
    tables = snapshot(db)
    assert sum(len(rows) for rows in tables.values()) > 0


@FUZZ
@given(op=st.sampled_from(CSV_OPS), pick=st.integers(0, 10_000), choice=st.integers(0, 100))
def test_damaged_catalogue_csv(
    seeded: tuple[Store, Path], tmp_path: Path, op: str, pick: int, choice: int
) -> None:
    store, db = seeded
    source = tmp_path / "catalogue.csv"
    source.write_bytes(damaged_csv(CATALOGUE, op, pick, choice))
    before = snapshot(db)
    try:
        _import_catalogue(store, source)
    except InputError as error:
        _check_refusal(error, source)
        assert snapshot(db) == before
    # The undamaged catalogue puts the store back for the next example.
    good = tmp_path / "good.csv"
    good.write_text(to_csv(CATALOGUE, list(CATALOGUE[0])), encoding="utf-8")
    _import_catalogue(store, good)


@FUZZ
@given(op=st.sampled_from(JSON_OPS), pick=st.integers(0, 10_000), choice=st.integers(0, 100))
def test_damaged_catalogue_json(
    seeded: tuple[Store, Path], tmp_path: Path, op: str, pick: int, choice: int
) -> None:
    store, db = seeded
    source = tmp_path / "catalogue.json"
    source.write_bytes(damaged_json(CATALOGUE, op, pick, choice))
    before = snapshot(db)
    try:
        _import_catalogue(store, source)
    except InputError as error:
        _check_refusal(error, source)
        assert snapshot(db) == before
    good = tmp_path / "good.json"
    good.write_text(json.dumps(CATALOGUE), encoding="utf-8")
    _import_catalogue(store, good)


@FUZZ
@given(op=st.sampled_from(CSV_OPS), pick=st.integers(0, 10_000), choice=st.integers(0, 100))
def test_damaged_shipments_csv(
    seeded: tuple[Store, Path], tmp_path: Path, op: str, pick: int, choice: int
) -> None:
    store, db = seeded
    source = tmp_path / "shipments.csv"
    source.write_bytes(damaged_csv(SHIPMENTS, op, pick, choice))
    before = snapshot(db)
    try:
        request_shipments(_context(store), read_shipments_csv(source))
    except InputError as error:
        _check_refusal(error, source)
        assert snapshot(db) == before
