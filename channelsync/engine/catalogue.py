"""Import and export the master catalogue as CSV or JSON.

A file has one row per SKU and warehouse. Required columns: ``sku`` (the merchant
code), ``title``, ``price``, ``currency``, ``quantity`` (on hand). Optional: ``cost``,
``barcode``, ``warehouse``, ``product`` (the product code) and ``components``, which makes
the row a kit or a multipack (see :mod:`~channelsync.engine.catalogue_kits`: one row, no
quantity or warehouse); every other column is kept as an attribute of the SKU. Every row
is checked before anything is written: a file with any bad row raises
:class:`~channelsync.engine.errors.InputError` listing each problem by row number and
field, and the store is left as it was.

On-hand quantities are set through the stock ledger as ``catalogue_import`` events,
keyed by the file's content, so importing the same file twice changes nothing. A kit's
components are replaced by the file's; SKUs and kits the file does not mention are left
as they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from channelsync.engine.catalogue_kits import (
    COMPONENTS,
    check_kits,
    components_json,
    components_text,
    has_components,
    parse_components,
    read_store_kits,
)
from channelsync.engine.errors import InputError, Problem
from channelsync.models import Money, Sku
from channelsync.models.money import minor_unit_exponent
from channelsync.store import LedgerEvent, SkuData, Store, StoreSession

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CatalogueRow",
    "ImportSummary",
    "export_catalogue",
    "import_catalogue",
    "parse_catalogue",
    "read_catalogue_file",
]

REQUIRED_COLUMNS = ("sku", "title", "price", "currency", "quantity")
OPTIONAL_COLUMNS = ("cost", "barcode", "warehouse", "product", COMPONENTS)
Format = Literal["csv", "json"]


@dataclass(frozen=True, slots=True)
class CatalogueRow:
    """One checked row: a SKU's data and its on-hand quantity in one warehouse.

    A kit's row has its ``components`` (``(merchant code, quantity)`` pairs), a
    ``quantity`` of 0 and no warehouse: a kit holds no stock of its own.
    """

    row: int
    sku: str
    title: str
    price: Money
    quantity: int
    warehouse: str = ""
    product: str | None = None
    cost: Money | None = None
    barcode: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    components: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import changed: SKUs written (new ones among them), stock events, kits."""

    skus: int
    created: int
    stock_events: int
    kits: int = 0


def read_catalogue_file(path: Path, fmt: Format | None = None) -> list[CatalogueRow]:
    """Read and check a catalogue file (format from ``fmt`` or the file's suffix)."""
    kind = fmt or ("json" if path.suffix.lower() == ".json" else "csv")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(str(path), [Problem("file not found")]) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            str(path), [Problem(f"not UTF-8 text (bad byte at offset {exc.start})")]
        ) from None
    return parse_catalogue(text, kind, source=str(path))


def parse_catalogue(text: str, fmt: Format, *, source: str = "catalogue") -> list[CatalogueRow]:
    """Check catalogue rows from CSV or JSON text; raise :class:`InputError` on any problem.

    CSV rows are numbered as lines of the file (the header is row 1); JSON rows are
    numbered from 1 in the order of the array.
    """
    records: list[tuple[int, Mapping[str, Any]]]
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise InputError(
                source,
                [Problem(f"missing required column {c!r}", row=1, field=c) for c in missing],
            )
        records = []
        for number, raw in enumerate(reader, start=2):
            if None in raw:
                raise InputError(
                    source, [Problem("more values than columns in the header", row=number)]
                )
            records.append((number, {k.strip(): v for k, v in raw.items()}))
    else:
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise InputError(
                source, [Problem(f"invalid JSON at line {exc.lineno} column {exc.colno}")]
            ) from None
        if isinstance(data, dict) and "skus" in data:
            data = data["skus"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(source, [Problem("expected an array of objects (one per row)")])
        records = list(enumerate(data, start=1))
    problems: list[Problem] = []
    rows = [r for r in (_check_row(n, rec, problems) for n, rec in records) if r is not None]
    _check_consistency(rows, problems)
    check_kits(rows, problems)
    if problems:
        raise InputError(source, problems)
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


def _check_row(
    number: int, record: Mapping[str, Any], problems: list[Problem]
) -> CatalogueRow | None:
    found = len(problems)

    def problem(name: str, message: str) -> None:
        problems.append(Problem(message, row=number, field=name))

    values = {str(k).strip(): _text(v) for k, v in record.items() if str(k).strip() != COMPONENTS}
    raw_components = next((v for k, v in record.items() if str(k).strip() == COMPONENTS), None)
    kit = has_components(raw_components)
    components = parse_components(raw_components, problem) if kit else ()
    for name in REQUIRED_COLUMNS:
        if not values.get(name) and not (kit and name == "quantity"):
            problem(name, "required value is empty")
    if kit and values.get("quantity"):
        problem(
            "quantity",
            "a kit holds no stock of its own: leave quantity empty "
            "(its availability comes from its components)",
        )
    if kit and values.get("warehouse"):
        problem("warehouse", "a kit holds no stock of its own, so no warehouse: leave it empty")
    currency = values.get("currency", "")
    price = _money(values.get("price", ""), currency, "price", problem, positive=True)
    cost = _money(values["cost"], currency, "cost", problem) if values.get("cost") else None
    quantity = 0
    raw_quantity = values.get("quantity", "")
    if raw_quantity and not kit:
        try:
            quantity = int(raw_quantity)
        except ValueError:
            problem("quantity", f"{raw_quantity!r} is not a whole number")
        else:
            if quantity < 0:
                problem("quantity", f"{quantity} is negative")
    barcode = values.get("barcode") or None
    sku_code = values.get("sku", "")
    if sku_code:
        try:
            Sku(merchant_code=sku_code, barcode=barcode)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "sku"
                problem("sku" if name == "merchant_code" else name, _plain(error["msg"]))
    if len(problems) > found or price is None:
        return None
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    return CatalogueRow(
        row=number,
        sku=sku_code,
        title=values["title"],
        price=price,
        quantity=quantity,
        warehouse=values.get("warehouse", ""),
        product=values.get("product") or None,
        cost=cost,
        barcode=barcode,
        attributes={k: v for k, v in sorted(values.items()) if k not in known and v},
        components=components,
    )


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")


def _money(
    text: str, currency: str, name: str, problem: Any, *, positive: bool = False
) -> Money | None:
    if not text:
        return None
    try:
        money = Money.of(text, currency)
    except (ValidationError, ValueError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        problem(name, _plain(message))
        return None
    if money.amount < 0 or (positive and money.amount == 0):
        problem(name, f"{text} must be {'greater than 0' if positive else 'at least 0'}")
        return None
    if money.quantize() != money:
        # Rounding it here would change the merchant's price without a word.
        places = minor_unit_exponent(money.currency)
        problem(
            name,
            f"{text} has more decimal places than {money.currency} allows ({places})",
        )
        return None
    return money


def _check_consistency(rows: list[CatalogueRow], problems: list[Problem]) -> None:
    first: dict[str, CatalogueRow] = {}
    places: dict[tuple[str, str], int] = {}
    kits = {row.sku: row.row for row in reversed(rows) if row.components}
    for row in rows:
        if row.sku in kits:
            # A kit has exactly one row (it has no warehouses to spread over).
            seen = first.setdefault(row.sku, row)
            if seen is not row:
                if row.components and seen.components:
                    message = f"kit {row.sku!r} already appears in row {seen.row}"
                elif row.components:
                    message = f"kit {row.sku!r} also appears as a stock SKU in row {seen.row}"
                else:
                    message = f"{row.sku!r} is a kit in row {kits[row.sku]}"
                problems.append(
                    Problem(f"{message}: a kit has exactly one row", row=row.row, field="sku")
                )
            continue
        place = (row.sku, row.warehouse)
        if place in places:
            problems.append(
                Problem(
                    f"SKU {row.sku!r} in warehouse {row.warehouse or '(default)'!r} already "
                    f"appears in row {places[place]}",
                    row=row.row,
                    field="sku",
                )
            )
        places[place] = row.row
        seen = first.setdefault(row.sku, row)
        for name in ("title", "price", "product", "cost", "barcode"):
            if getattr(row, name) != getattr(seen, name):
                problems.append(
                    Problem(
                        f"differs from row {seen.row} for the same SKU {row.sku!r}",
                        row=row.row,
                        field=name,
                    )
                )


def import_catalogue(
    store: Store,
    rows: Iterable[CatalogueRow],
    *,
    now: datetime,
    source_key: str | None = None,
    source: str = "catalogue",
) -> ImportSummary:
    """Write checked rows to the store in one transaction.

    SKUs are created or updated by merchant code; each row's quantity becomes the
    on-hand count of its warehouse through a ledger event. ``source_key`` names the
    import for idempotency (default: a digest of the rows), so repeating an import
    adds no second event. A kit's components replace those it had (the kit is marked
    changed when they differ). The kits are first checked against the store (components
    exist and are not kits, a SKU holding stock or used as a component does not become
    one); any problem raises :class:`InputError` (naming ``source``) and writes nothing.
    """
    rows = list(rows)
    key = source_key or _digest(rows)
    with store.transaction() as session:
        problems: list[Problem] = []
        check_kits(rows, problems, read_store_kits(session, rows))
        if problems:
            raise InputError(source, problems)
        existing = {s.merchant_code for s in session.skus(r.sku for r in rows)}
        product_ids: dict[str, int] = {}
        for row in rows:
            if row.product is not None and row.product not in product_ids:
                product_ids[row.product] = session.upsert_product(row.product, row.title, {})
        sku_ids = session.upsert_skus(
            [_sku_data(row, product_ids) for row in {r.sku: r for r in reversed(rows)}.values()],
            now,
        )
        created = sum(1 for code in sku_ids if code not in existing)
        stock = session.on_hand_many(sku_ids.values())
        changes = []
        for row in rows:
            if row.components:
                continue  # A kit holds no stock: its availability comes from its components.
            sku_id = sku_ids[row.sku]
            delta = row.quantity - stock.get(sku_id, {}).get(row.warehouse, 0)
            if delta:
                changes.append(
                    LedgerEvent(
                        idempotency_key=f"import:{key}:{row.sku}:{row.warehouse}",
                        kind="catalogue_import",
                        sku_id=sku_id,
                        on_hand_delta=delta,
                        warehouse=row.warehouse,
                        note=f"count set to {row.quantity}",
                    )
                )
        events = sum(session.apply_events(changes, now))
        kits = _write_kits(session, rows, sku_ids)
    return ImportSummary(skus=len(sku_ids), created=created, stock_events=events, kits=kits)


def _write_kits(session: StoreSession, rows: list[CatalogueRow], sku_ids: Mapping[str, int]) -> int:
    """Set each kit's components (checked before); return how many kits the rows hold."""
    kits = {r.sku: r for r in reversed(rows) if r.components}
    codes = {code for row in kits.values() for code, _ in row.components}
    ids = {s.merchant_code: s.id for s in session.skus(codes - set(sku_ids))}
    ids.update(sku_ids)
    # Every kit held at once, in id order, as stock changes lock SKUs (no deadlock).
    session.lock_skus(sku_ids[code] for code in kits)
    for code, row in sorted(kits.items()):
        session.set_components(sku_ids[code], [(ids[c], q) for c, q in row.components])
    return len(kits)


def _sku_data(row: CatalogueRow, product_ids: Mapping[str, int]) -> SkuData:
    """Return the SKU data of a row (a SKU's rows agree on it; the first one is used)."""
    return SkuData(
        merchant_code=row.sku,
        product_id=None if row.product is None else product_ids[row.product],
        title=row.title,
        price=format(row.price.amount, "f"),
        currency=row.price.currency,
        cost=None if row.cost is None else format(row.cost.amount, "f"),
        barcode=row.barcode,
        attributes=row.attributes,
    )


def _digest(rows: list[CatalogueRow]) -> str:
    text = "\n".join(
        f"{r.sku}|{r.warehouse}|{r.quantity}|{r.price}|{r.title}|{r.cost}|{r.barcode}"
        + (f"|{components_text(r.components)}" if r.components else "")
        for r in rows
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def export_catalogue(store: Store, fmt: Format = "csv") -> str:
    """Return the catalogue as CSV or JSON, in the format :func:`parse_catalogue` reads."""
    records: list[dict[str, Any]] = []
    attribute_names: set[str] = set()
    with store.transaction() as session:
        kits = session.components_of(session.kit_ids())
        for sku in session.skus():
            attributes = {k: v for k, v in sku.attributes.items() if k != COMPONENTS}
            attribute_names.update(attributes)
            common = {
                "sku": sku.merchant_code,
                "product": sku.product_code or "",
                "title": sku.title,
                "price": sku.price,
                "currency": sku.currency,
            }
            details = {"cost": sku.cost or "", "barcode": sku.barcode or "", **attributes}
            if sku.id in kits:
                # One row, no quantity or warehouse: a kit holds no stock of its own.
                parts = [(c.merchant_code, c.quantity) for c in kits[sku.id]]
                made_of = components_json(parts) if fmt == "json" else components_text(parts)
                records.append(
                    {**common, "quantity": "", "warehouse": "", **details, COMPONENTS: made_of}
                )
                continue
            stock = session.on_hand(sku.id) or {"": 0}
            for warehouse, quantity in sorted(stock.items()):
                records.append(
                    {**common, "quantity": str(quantity), "warehouse": warehouse, **details}
                )
    if fmt == "json":
        return json.dumps(
            [{k: v for k, v in r.items() if v != ""} for r in records],
            indent=2,
            ensure_ascii=False,
        )
    # The components column only when there is a kit: a plain catalogue reads as before.
    known = [c for c in OPTIONAL_COLUMNS if c != COMPONENTS or kits]
    columns = [*REQUIRED_COLUMNS, *known, *sorted(attribute_names)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({c: record.get(c, "") for c in columns})
    return out.getvalue()
