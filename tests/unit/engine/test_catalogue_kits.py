"""Kits and multipacks in the catalogue file: parsing, every refusal, import and export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from channelsync.engine.catalogue import (
    export_catalogue,
    import_catalogue,
    parse_catalogue,
    read_catalogue_file,
)
from channelsync.engine.errors import InputError
from channelsync.models import Component, Sku
from channelsync.store import Store, open_store

NOW = datetime(2026, 1, 1, tzinfo=UTC)

HEADER = "sku,title,price,currency,quantity,warehouse,components\n"

BASE = HEADER + (
    "TEAPOT-1,Teapot,99.00,CNY,5,,\n"
    "CUP-W,White cup,9.00,CNY,40,SH,\n"
    "CUP-W,White cup,9.00,CNY,2,BJ,\n"
    "SAUCER,Saucer,5.00,CNY,0,,\n"
    "GIFT-1,Gift set,120.00,CNY,,, TEAPOT-1*1 ; CUP-W*4 \n"
    "CUP-W-3,Cups (pack of 3),25.00,CNY,,,CUP-W*3\n"
)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def stocked(store: Store) -> Store:
    """A store holding BASE: two stock SKUs, a spare one, a gift set and a multipack."""
    import_catalogue(store, parse_catalogue(BASE, "csv"), now=NOW)
    return store


def _problems(text: str, fmt: str = "csv") -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(InputError) as caught:
        parse_catalogue(text, "json" if fmt == "json" else "csv", source="f")
    return [(p.row, p.field, p.message) for p in caught.value.problems]


def _import_problems(store: Store, text: str) -> list[tuple[int | None, str | None, str]]:
    rows = parse_catalogue(text, "csv")
    with pytest.raises(InputError) as caught:
        import_catalogue(store, rows, now=NOW, source="later.csv")
    assert str(caught.value).startswith("later.csv: ")
    return [(p.row, p.field, p.message) for p in caught.value.problems]


def _kits(store: Store) -> dict[str, tuple[tuple[str, int], ...]]:
    with store.transaction() as s:
        codes = {sku.id: sku.merchant_code for sku in s.skus()}
        return {
            codes[kit]: tuple((c.merchant_code, c.quantity) for c in parts)
            for kit, parts in s.components_of(s.kit_ids()).items()
        }


def _state(store: Store) -> tuple[object, ...]:
    """Everything an import may write: SKUs, stock, the ledger and the kits."""
    with store.transaction() as s:
        skus = s.skus()
        return (
            skus,
            {sku.merchant_code: s.on_hand(sku.id) for sku in skus},
            len(s.ledger()),
            _kits(store),
        )


# --- parsing ---------------------------------------------------------------------------


def test_csv_components_are_parsed_with_spaces_and_no_quantity() -> None:
    rows = {r.sku: r for r in parse_catalogue(BASE, "csv")}
    assert rows["GIFT-1"].components == (("TEAPOT-1", 1), ("CUP-W", 4))
    assert rows["CUP-W-3"].components == (("CUP-W", 3),)
    assert (rows["GIFT-1"].quantity, rows["GIFT-1"].warehouse) == (0, "")
    assert rows["TEAPOT-1"].components == ()
    assert "components" not in rows["GIFT-1"].attributes


def test_json_components_are_parsed_and_a_kit_has_no_quantity() -> None:
    text = json.dumps(
        [
            {"sku": "CUP-W", "title": "Cup", "price": "9.00", "currency": "CNY", "quantity": 4},
            {
                "sku": "CUP-W-3",
                "title": "Cups",
                "price": "25.00",
                "currency": "CNY",
                "components": [{"sku": "CUP-W", "quantity": 3}],
            },
            {
                "sku": "CUP-W-6",
                "title": "Cups",
                "price": "45.00",
                "currency": "CNY",
                "quantity": None,
                "components": [{"sku": " CUP-W ", "quantity": "6"}],
            },
        ]
    )
    rows = {r.sku: r for r in parse_catalogue(text, "json")}
    assert rows["CUP-W-3"].components == (("CUP-W", 3),)
    assert rows["CUP-W-6"].components == (("CUP-W", 6),)
    assert rows["CUP-W"].components == ()


def test_an_empty_components_cell_is_a_plain_sku() -> None:
    rows = parse_catalogue(HEADER + "CUP-W,Cup,9.00,CNY,4,,  \n", "csv")
    assert (rows[0].components, rows[0].quantity) == ((), 4)


# --- a file's own problems (parse_catalogue) -------------------------------------------

KIT = "K,Kit,10.00,CNY,{quantity},{warehouse},{components}\n"
PLAIN = "CUP-W,Cup,9.00,CNY,4,,\nTEAPOT-1,Teapot,99.00,CNY,1,,\n"


@pytest.mark.parametrize(
    ("components", "quantity", "warehouse", "field", "message"),
    [
        ("CUP-W", "", "", "components", "'CUP-W' is not SKU*QUANTITY"),
        ("*2", "", "", "components", "'*2' has no SKU code before '*'"),
        (";", "", "", "components", "no components listed"),
        ("CUP-W*", "", "", "components", "'CUP-W*' has no quantity"),
        ("CUP-W*0", "", "", "components", "pack size 0 of 'CUP-W' must be a positive integer"),
        ("CUP-W*-3", "", "", "components", "pack size -3 of 'CUP-W' must be a positive integer"),
        ("CUP-W*1.5", "", "", "components", "pack size 1.5 of 'CUP-W'"),
        ("CUP-W*x", "", "", "components", "pack size x of 'CUP-W'"),
        (
            "TEAPOT-1*1;CUP-W*0",
            "",
            "",
            "components",
            "quantity 0 of component 'CUP-W' must be a positive integer",
        ),
        ("CUP-W*1;CUP-W*2", "", "", "components", "component 'CUP-W' is listed twice"),
        ("CUP-W*2", "3", "", "quantity", "a kit holds no stock of its own"),
        ("CUP-W*2", "0", "", "quantity", "leave quantity empty"),
        ("CUP-W*2", "", "SH", "warehouse", "no warehouse"),
        ("K*1", "", "", "components", "cycle: K -> K"),
        ("CUP-W*1;K*2", "", "", "components", "cycle: K -> K"),
    ],
)
def test_a_bad_kit_row_is_named_by_row_and_field(
    components: str, quantity: str, warehouse: str, field: str, message: str
) -> None:
    text = (
        HEADER + PLAIN + KIT.format(quantity=quantity, warehouse=warehouse, components=components)
    )
    found = _problems(text)
    assert [(row, name) for row, name, _ in found] == [(4, field)]
    assert message in found[0][2]


def test_a_kit_in_several_rows_is_refused_on_each_later_row() -> None:
    text = HEADER + (
        "CUP-W,Cup,9.00,CNY,4,,\n"
        "K,Kit,10.00,CNY,,,CUP-W*2\n"
        "K,Kit,10.00,CNY,,,CUP-W*3\n"
        "P,Pack,10.00,CNY,1,SH,\n"
        "P,Pack,10.00,CNY,,,CUP-W*2\n"
    )
    assert _problems(text) == [
        (4, "sku", "kit 'K' already appears in row 3: a kit has exactly one row"),
        (6, "sku", "kit 'P' also appears as a stock SKU in row 5: a kit has exactly one row"),
    ]


def test_a_stock_row_after_a_kit_row_is_refused() -> None:
    found = _problems(
        HEADER + "CUP-W,Cup,9.00,CNY,1,,\nK,Kit,1.00,CNY,,,CUP-W*2\nK,Kit,1.00,CNY,2,SH,\n"
    )
    assert found == [(4, "sku", "'K' is a kit in row 3: a kit has exactly one row")]


def test_a_cycle_names_its_path_on_every_kit_in_it() -> None:
    text = HEADER + "K1,Kit,1.00,CNY,,,K2*1\nK2,Kit,1.00,CNY,,,K3*1\nK3,Kit,1.00,CNY,,,K1*2\n"
    found = _problems(text)
    assert [(row, name) for row, name, _ in found] == [
        (2, "components"),
        (3, "components"),
        (4, "components"),
    ]
    assert "cycle: K1 -> K2 -> K3 -> K1" in found[0][2]
    assert "cycle: K2 -> K3 -> K1 -> K2" in found[1][2]
    assert "cycle: K3 -> K1 -> K2 -> K3" in found[2][2]


def test_a_two_kit_cycle_is_a_cycle_not_just_nesting() -> None:
    found = _problems(HEADER + "K1,Kit,1.00,CNY,,,K2*1\nK2,Kit,1.00,CNY,,,K1*1\n")
    assert [m for _, _, m in found] == [
        "cycle: K1 -> K2 -> K1: a kit cannot contain itself",
        "cycle: K2 -> K1 -> K2: a kit cannot contain itself",
    ]


def test_a_kit_of_a_kit_in_the_file_is_nested() -> None:
    text = HEADER + PLAIN + "OUTER,Kit,1.00,CNY,,,INNER*2\nINNER,Kit,1.00,CNY,,,CUP-W*3\n"
    assert _problems(text) == [
        (
            4,
            "components",
            "component 'INNER' is itself a kit (in row 5): nested kits are not supported",
        )
    ]


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ([{"sku": "CUP-W", "quantity": 0}], "pack size 0 of 'CUP-W' must be a positive integer"),
        ([{"sku": "CUP-W", "quantity": 1.5}], "pack size 1.5 of 'CUP-W'"),
        ([{"sku": "CUP-W", "quantity": True}], "pack size True of 'CUP-W'"),
        ([{"sku": "CUP-W"}], "component 1 has no quantity"),
        ([{"quantity": 2}], "component 1 has no sku"),
        ([{"sku": "CUP-W", "quantity": 2, "qty": 2}], "component 1 has unknown keys 'qty'"),
        (["CUP-W*2"], "component 1 is not an object"),
        ({"sku": "CUP-W", "quantity": 2}, "expected a list"),
        (
            [{"sku": "CUP-W", "quantity": 1}, {"sku": "CUP-W", "quantity": 2}],
            "component 'CUP-W' is listed twice",
        ),
        ([{"sku": "CUP\u0007W", "quantity": 2}], "control or invisible characters"),
    ],
)
def test_a_bad_json_component_is_named_by_row_and_field(components: object, message: str) -> None:
    text = json.dumps(
        [
            {"sku": "CUP-W", "title": "Cup", "price": "9.00", "currency": "CNY", "quantity": 4},
            {
                "sku": "K",
                "title": "Kit",
                "price": "1.00",
                "currency": "CNY",
                "components": components,
            },
        ]
    )
    found = _problems(text, "json")
    assert [(row, name) for row, name, _ in found] == [(2, "components")]
    assert message in found[0][2]


def test_a_json_kit_with_a_quantity_is_refused() -> None:
    text = json.dumps(
        [
            {"sku": "CUP-W", "title": "Cup", "price": "9.00", "currency": "CNY", "quantity": 4},
            {
                "sku": "K",
                "title": "Kit",
                "price": "1.00",
                "currency": "CNY",
                "quantity": 2,
                "components": [{"sku": "CUP-W", "quantity": 2}],
            },
        ]
    )
    assert [(row, name) for row, name, _ in _problems(text, "json")] == [(2, "quantity")]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        HEADER
        + PLAIN
        + (
            "A,Kit,1.00,CNY,2,,CUP-W*2\n"
            "B,Kit,1.00,CNY,,,CUP-W*0\n"
            "C,Kit,1.00,CNY,,,C*1\n"
            "D,Kit,1.00,CNY,,,A*1\n"
        )
    )
    found = {(row, name) for row, name, _ in _problems(text)}
    assert found == {(4, "quantity"), (5, "components"), (6, "components")}


# --- problems only the store shows (import_catalogue) -----------------------------------


def test_a_component_neither_in_the_file_nor_in_the_store_is_refused(stocked: Store) -> None:
    before = _state(stocked)
    text = HEADER + "NEW,New,1.00,CNY,3,,\nK,Kit,1.00,CNY,,,NEW*1;NOPE*2\n"
    assert _import_problems(stocked, text) == [
        (3, "components", "component 'NOPE' does not exist: add a row for it or import it first")
    ]
    assert _state(stocked) == before


def test_a_component_that_is_a_kit_in_the_store_is_nested(stocked: Store) -> None:
    before = _state(stocked)
    found = _import_problems(stocked, HEADER + "BIG,Kit,1.00,CNY,,,GIFT-1*2;SAUCER*1\n")
    assert found == [
        (
            2,
            "components",
            "component 'GIFT-1' is itself a kit (in the store): nested kits are not supported",
        )
    ]
    assert _state(stocked) == before


def test_a_sku_holding_stock_does_not_become_a_kit(stocked: Store) -> None:
    mugs = HEADER + "MUG,Mug,10.00,CNY,4,SH,\nMUG,Mug,10.00,CNY,3,BJ,\n"
    import_catalogue(stocked, parse_catalogue(mugs, "csv"), now=NOW)
    before = _state(stocked)
    found = _import_problems(stocked, HEADER + "MUG,Mug,10.00,CNY,,,SAUCER*2\n")
    assert found == [
        (
            2,
            "components",
            "'MUG' holds 7 units on hand and a kit holds no stock of its own: "
            "import it with quantity 0 first, then as a kit",
        )
    ]
    assert _state(stocked) == before


def test_a_sku_a_stored_kit_uses_does_not_become_a_kit(stocked: Store) -> None:
    import_catalogue(
        stocked, parse_catalogue(HEADER + "TEAPOT-1,Teapot,99.00,CNY,0,,\n", "csv"), now=NOW
    )
    before = _state(stocked)
    found = _import_problems(stocked, HEADER + "TEAPOT-1,Teapot,99.00,CNY,,,SAUCER*2\n")
    assert found == [
        (
            2,
            "components",
            "'TEAPOT-1' is a component of kit 'GIFT-1' in the store: nested kits are not supported",
        )
    ]
    assert _state(stocked) == before


def test_a_cycle_through_a_stored_kit_names_its_path(stocked: Store) -> None:
    import_catalogue(
        stocked, parse_catalogue(HEADER + "TEAPOT-1,Teapot,99.00,CNY,0,,\n", "csv"), now=NOW
    )
    found = _import_problems(stocked, HEADER + "TEAPOT-1,Teapot,99.00,CNY,,,GIFT-1*1\n")
    assert found == [
        (2, "components", "cycle: TEAPOT-1 -> GIFT-1 -> TEAPOT-1: a kit cannot contain itself")
    ]


def test_a_stored_kit_given_a_quantity_is_refused_and_stays_a_kit(stocked: Store) -> None:
    before = _state(stocked)
    text = HEADER + "GIFT-1,Gift set,120.00,CNY,3,,\nBIG,Kit,1.00,CNY,,,GIFT-1*2\n"
    found = _import_problems(stocked, text)
    assert [(row, name) for row, name, _ in found] == [(2, "components"), (3, "components")]
    assert "'GIFT-1' is a kit in the store (CUP-W*4;TEAPOT-1*1)" in found[0][2]
    # The plain row does not make it a plain SKU, so a kit using it is still nested.
    assert "component 'GIFT-1' is itself a kit (in the store)" in found[1][2]
    assert _state(stocked) == before


def test_every_store_problem_is_reported_at_once_and_nothing_is_written(stocked: Store) -> None:
    before = _state(stocked)
    text = HEADER + (
        "SAUCER,Saucer,5.00,CNY,7,,\n"  # a good change, not written either
        "NEW,New,1.00,CNY,,,NOPE*1\n"
        "CUP-W,Cup,9.00,CNY,,,SAUCER*2\n"
        "GIFT-1,Gift set,120.00,CNY,,,TEAPOT-1*2\n"  # a good replacement, not written
    )
    found = _import_problems(stocked, text)
    assert [(row, name) for row, name, _ in found] == [
        (3, "components"),
        (4, "components"),
        (4, "components"),
    ]
    assert "'CUP-W' holds 42 units on hand" in found[1][2]
    assert "'CUP-W' is a component of kit 'CUP-W-3' in the store" in found[2][2]
    assert _state(stocked) == before


def test_a_redefined_kit_frees_its_old_component_to_become_a_kit(stocked: Store) -> None:
    # GIFT-1 stops using TEAPOT-1 (emptied first), which then becomes a pack of saucers.
    import_catalogue(
        stocked, parse_catalogue(HEADER + "TEAPOT-1,Teapot,99.00,CNY,0,,\n", "csv"), now=NOW
    )
    text = HEADER + "GIFT-1,Gift set,120.00,CNY,,,CUP-W*4\nTEAPOT-1,Teapot,99.00,CNY,,,SAUCER*2\n"
    import_catalogue(stocked, parse_catalogue(text, "csv"), now=NOW)
    assert _kits(stocked) == {
        "CUP-W-3": (("CUP-W", 3),),
        "GIFT-1": (("CUP-W", 4),),
        "TEAPOT-1": (("SAUCER", 2),),
    }


# --- import and export -----------------------------------------------------------------


def test_import_writes_kits_without_stock(stocked: Store) -> None:
    assert _kits(stocked) == {
        "CUP-W-3": (("CUP-W", 3),),
        "GIFT-1": (("CUP-W", 4), ("TEAPOT-1", 1)),
    }
    with stocked.transaction() as s:
        pack, gift = s.skus(["GIFT-1", "CUP-W-3"])
        assert (gift.merchant_code, pack.merchant_code) == ("GIFT-1", "CUP-W-3")
        assert s.on_hand(gift.id) == {}
        assert s.ledger(gift.id) == []
        assert gift.price == "120.00"


def test_the_summary_counts_kits(store: Store) -> None:
    summary = import_catalogue(store, parse_catalogue(BASE, "csv"), now=NOW)
    assert (summary.skus, summary.created, summary.stock_events, summary.kits) == (5, 5, 3, 2)


def test_importing_the_same_file_twice_changes_nothing(stocked: Store) -> None:
    before = _state(stocked)
    again = import_catalogue(stocked, parse_catalogue(BASE, "csv"), now=NOW)
    assert (again.created, again.stock_events, again.kits) == (0, 0, 2)
    assert _state(stocked) == before


def test_reimporting_a_kit_replaces_its_components_and_marks_it_changed(stocked: Store) -> None:
    with stocked.transaction() as s:
        s.clear_changed(s.changed_skus())
    changed = BASE.replace(" TEAPOT-1*1 ; CUP-W*4 ", "TEAPOT-1*1;SAUCER*2").replace(
        "CUP-W*3", "CUP-W*6"
    )
    import_catalogue(stocked, parse_catalogue(changed, "csv"), now=NOW)
    assert _kits(stocked) == {
        "CUP-W-3": (("CUP-W", 6),),
        "GIFT-1": (("SAUCER", 2), ("TEAPOT-1", 1)),
    }
    with stocked.transaction() as s:
        ids = {sku.merchant_code: sku.id for sku in s.skus()}
        assert {ids["GIFT-1"], ids["CUP-W-3"]} <= set(s.changed_skus())
        assert s.kits_using([ids["CUP-W"]]) == {ids["CUP-W"]: (ids["CUP-W-3"],)}


def test_a_kit_absent_from_a_later_file_is_left_as_it_is(stocked: Store) -> None:
    import_catalogue(
        stocked, parse_catalogue(HEADER + "SAUCER,Saucer,5.00,CNY,3,,\n", "csv"), now=NOW
    )
    assert _kits(stocked) == {
        "CUP-W-3": (("CUP-W", 3),),
        "GIFT-1": (("CUP-W", 4), ("TEAPOT-1", 1)),
    }


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_reproduces_the_kits(stocked: Store, tmp_path: Path, fmt: str) -> None:
    text = export_catalogue(stocked, "json" if fmt == "json" else "csv")
    path = tmp_path / f"out.{fmt}"
    path.write_text(text, encoding="utf-8")
    rows = {r.sku: r for r in read_catalogue_file(path)}
    assert rows["GIFT-1"].components == (("CUP-W", 4), ("TEAPOT-1", 1))
    assert rows["CUP-W-3"].components == (("CUP-W", 3),)
    before = _state(stocked)
    assert import_catalogue(stocked, list(rows.values()), now=NOW).stock_events == 0
    assert _state(stocked) == before


def test_exported_kits_have_components_and_no_quantity(stocked: Store) -> None:
    lines = export_catalogue(stocked, "csv").splitlines()
    assert lines[0] == "sku,title,price,currency,quantity,cost,barcode,warehouse,product,components"
    assert "GIFT-1,Gift set,120.00,CNY,,,,,,CUP-W*4;TEAPOT-1*1" in lines
    assert "CUP-W-3,Cups (pack of 3),25.00,CNY,,,,,,CUP-W*3" in lines
    assert "TEAPOT-1,Teapot,99.00,CNY,5,,,,," in lines
    records = {r["sku"]: r for r in json.loads(export_catalogue(stocked, "json"))}
    assert records["CUP-W-3"]["components"] == [{"sku": "CUP-W", "quantity": 3}]
    assert "quantity" not in records["CUP-W-3"]
    assert "components" not in records["TEAPOT-1"]


def test_a_catalogue_without_kits_exports_no_components_column(store: Store) -> None:
    import_catalogue(
        store,
        parse_catalogue("sku,title,price,currency,quantity\nA,Mug,1.00,CNY,2\n", "csv"),
        now=NOW,
    )
    assert export_catalogue(store, "csv").splitlines()[0] == (
        "sku,title,price,currency,quantity,cost,barcode,warehouse,product"
    )


# --- the SDK's model --------------------------------------------------------------------


def test_the_sku_model_describes_a_kit_and_checks_its_shape() -> None:
    pack = Sku(merchant_code="CUP-W-3", components=[{"sku": "CUP-W", "quantity": 3}])
    assert pack.is_kit
    assert pack.components == (Component(sku="CUP-W", quantity=3),)
    assert not Sku(merchant_code="CUP-W").is_kit
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Component(sku="CUP-W", quantity=0)
    with pytest.raises(ValidationError, match="lists itself"):
        Sku(merchant_code="K", components=[Component(sku="K", quantity=1)])
    with pytest.raises(ValidationError, match="twice"):
        Sku(
            merchant_code="K",
            components=[Component(sku="A", quantity=1), Component(sku="A", quantity=2)],
        )
