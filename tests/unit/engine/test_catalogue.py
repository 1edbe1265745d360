from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channelsync.engine.catalogue import (
    export_catalogue,
    import_catalogue,
    parse_catalogue,
    read_catalogue_file,
)
from channelsync.engine.errors import InputError
from channelsync.models import Money
from channelsync.store import Store, open_store

NOW = datetime(2026, 1, 1, tzinfo=UTC)

GOOD = """sku,title,price,currency,quantity,warehouse,product,cost,barcode,colour
MUG-R,Red mug,19.90,CNY,5,SH,MUG,8.00,4006381333931,red
MUG-R,Red mug,19.90,CNY,3,BJ,MUG,8.00,4006381333931,red
MUG-B,Blue mug,19.90,CNY,0,,MUG,,,blue
"""


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def test_rows_are_parsed_with_attributes_and_warehouses() -> None:
    rows = parse_catalogue(GOOD, "csv")
    assert [(r.row, r.sku, r.warehouse, r.quantity) for r in rows] == [
        (2, "MUG-R", "SH", 5),
        (3, "MUG-R", "BJ", 3),
        (4, "MUG-B", "", 0),
    ]
    assert rows[0].price == Money.of("19.90", "CNY")
    assert rows[0].cost == Money.of("8.00", "CNY")
    assert rows[0].attributes == {"colour": "red"}
    assert rows[2].cost is None


def test_every_bad_row_is_reported_by_row_and_field() -> None:
    text = (
        "sku,title,price,currency,quantity,barcode\n"
        "A,Mug,abc,CNY,1,\n"
        "B,Mug,1.00,CNY,-2,\n"
        "C,,1.00,CNY,1,12345\n"
        "D,Mug,1.00,CNY,x,\n"
    )
    with pytest.raises(InputError) as caught:
        parse_catalogue(text, "csv", source="f.csv")
    found = {(p.row, p.field) for p in caught.value.problems}
    assert found == {(2, "price"), (3, "quantity"), (4, "title"), (4, "barcode"), (5, "quantity")}
    assert "row 3, field 'quantity'" in str(caught.value)


def test_missing_columns_are_named() -> None:
    with pytest.raises(InputError) as caught:
        parse_catalogue("sku,title,price\nA,Mug,1\n", "csv")
    assert [(p.row, p.field) for p in caught.value.problems] == [
        (1, "currency"),
        (1, "quantity"),
    ]


def test_duplicate_and_conflicting_rows_are_refused() -> None:
    text = (
        "sku,title,price,currency,quantity\n"
        "A,Mug,1.00,CNY,1\n"
        "A,Mug,1.00,CNY,2\n"
        "B,Mug,1.00,CNY,1\n"
        "B,Cup,1.00,CNY,1\n"
    )
    with pytest.raises(InputError) as caught:
        parse_catalogue(text, "csv")
    assert {(p.row, p.field) for p in caught.value.problems} >= {(3, "sku"), (5, "title")}


def test_json_rows_keep_exact_decimals() -> None:
    rows = parse_catalogue(
        '[{"sku": "A", "title": "Mug", "price": 0.10, "currency": "cny", "quantity": 2}]', "json"
    )
    assert rows[0].price == Money.of("0.10", "CNY")


def test_json_errors_are_reported() -> None:
    with pytest.raises(InputError, match="invalid JSON"):
        parse_catalogue("[{", "json")
    with pytest.raises(InputError) as caught:
        parse_catalogue('[{"sku": "A", "title": "Mug", "price": "1", "currency": "CNY"}]', "json")
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "quantity")]


def test_import_sets_on_hand_through_the_ledger_and_is_idempotent(store: Store) -> None:
    rows = parse_catalogue(GOOD, "csv")
    first = import_catalogue(store, rows, now=NOW)
    second = import_catalogue(store, rows, now=NOW)
    assert (first.skus, first.created, first.stock_events) == (2, 2, 2)
    assert (second.created, second.stock_events) == (0, 0)
    with store.transaction() as s:
        red = s.skus(["MUG-R"])[0]
        assert s.on_hand(red.id) == {"SH": 5, "BJ": 3}
        assert [e.kind for e in s.ledger(red.id)] == ["catalogue_import", "catalogue_import"]
        assert red.product_code == "MUG"


def test_a_new_count_moves_on_hand_to_it(store: Store) -> None:
    import_catalogue(store, parse_catalogue(GOOD, "csv"), now=NOW)
    import_catalogue(store, parse_catalogue(GOOD.replace(",5,SH", ",2,SH"), "csv"), now=NOW)
    with store.transaction() as s:
        red = s.skus(["MUG-R"])[0]
        assert s.on_hand(red.id)["SH"] == 2


def test_export_round_trips(store: Store, tmp_path: Path) -> None:
    import_catalogue(store, parse_catalogue(GOOD, "csv"), now=NOW)
    for fmt in ("csv", "json"):
        text = export_catalogue(store, fmt)
        path = tmp_path / f"out.{fmt}"
        path.write_text(text, encoding="utf-8")
        rows = read_catalogue_file(path)
        assert sorted((r.sku, r.warehouse, r.quantity, str(r.price)) for r in rows) == [
            ("MUG-B", "", 0, "19.90 CNY"),
            ("MUG-R", "BJ", 3, "19.90 CNY"),
            ("MUG-R", "SH", 5, "19.90 CNY"),
        ]
        assert import_catalogue(store, rows, now=NOW).stock_events == 0


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_catalogue_file(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("price", "currency", "places"),
    [("12.345", "CNY", 2), ("9.999", "USD", 2), ("1500.5", "JPY", 0)],
)
def test_a_price_finer_than_its_currency_is_refused_not_rounded(
    price: str, currency: str, places: int
) -> None:
    text = (
        f"sku,title,price,currency,quantity\nGOOD,Mug,12.30,CNY,1\nFINE,Cup,{price},{currency},1\n"
    )
    with pytest.raises(InputError) as caught:
        parse_catalogue(text, "csv")
    (problem,) = caught.value.problems
    assert (problem.row, problem.field) == (3, "price")
    assert f"more decimal places than {currency} allows ({places})" in str(problem)


def test_trailing_zeros_beyond_the_minor_unit_are_the_same_price() -> None:
    rows = parse_catalogue("sku,title,price,currency,quantity\nA,Mug,12.300,CNY,1\n", "csv")
    assert rows[0].price == Money.of("12.30", "CNY")


def test_a_cost_finer_than_its_currency_is_refused_in_json() -> None:
    with pytest.raises(InputError) as caught:
        parse_catalogue(
            '[{"sku": "A", "title": "Mug", "price": "2.00", "cost": 1.005,'
            ' "currency": "CNY", "quantity": 1}]',
            "json",
        )
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "cost")]
