"""Kits and multipacks in the catalogue file: the ``components`` column and its checks.

A kit row names its components as ``SKU*QTY`` joined by ``;`` in CSV
(``TEAPOT-1*1;CUP-W*4``) or as ``[{"sku": "CUP-W", "quantity": 3}]`` in JSON, and has no
quantity or warehouse of its own: a kit holds no stock, its availability comes from its
components. A multipack is a kit of one component (``CUP-W*3``).

:func:`parse_components` checks one row's cell; :func:`check_kits` checks the kits of a
whole file against each other and, at import, against the store
(:func:`read_store_kits`): every component exists, none is itself a kit (no nesting, no
cycle), and a SKU holding stock or used as a component does not become a kit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from channelsync.engine.errors import Problem
from channelsync.models import Component
from channelsync.store import StoreSession

if TYPE_CHECKING:
    from channelsync.engine.catalogue import CatalogueRow

__all__ = [
    "COMPONENTS",
    "StoreKits",
    "check_kits",
    "components_json",
    "components_text",
    "has_components",
    "parse_components",
    "read_store_kits",
]

#: The column (CSV) or key (JSON) that makes a row a kit.
COMPONENTS = "components"

Components = tuple[tuple[str, int], ...]
Report = Callable[[str, str], None]


def has_components(value: Any) -> bool:
    """Whether a row's ``components`` value makes it a kit (an empty cell or list does not)."""
    if value is None or value == []:
        return False
    return not (isinstance(value, str) and not value.strip())


def parse_components(value: Any, problem: Report) -> Components:
    """Return a kit row's ``(component code, quantity)`` pairs; report each bad entry.

    ``value`` is the CSV text (``SKU*QTY`` joined by ``;``, spaces around parts
    allowed) or the JSON array of ``{"sku", "quantity"}`` objects (JSON may use the text
    form too). ``problem(field, message)`` is called for every entry that cannot be used.
    """
    entries: list[tuple[str, str, str]] = []  # (code, quantity text, how to name the entry)
    if isinstance(value, str):
        entries = _text_entries(value, problem)
    elif isinstance(value, list):
        for number, item in enumerate(value, start=1):
            entry = _json_entry(number, item, problem)
            if entry is not None:
                entries.append(entry)
    else:
        problem(
            COMPONENTS,
            'expected a list of {"sku": ..., "quantity": ...} objects or SKU*QUANTITY;... text',
        )
    found: list[tuple[str, int]] = []
    seen: set[str] = set()
    for code, text, name in entries:
        if code in seen:
            problem(COMPONENTS, f"component {code!r} is listed twice")
            continue
        seen.add(code)
        units = _quantity(code, text, name, len(entries), problem)
        if units is None:
            continue
        try:
            Component(sku=code, quantity=units)
        except ValidationError as exc:
            problem(COMPONENTS, f"component {code!r}: {_plain(exc.errors()[0]['msg'])}")
            continue
        found.append((code, units))
    return tuple(found)


def _text_entries(value: str, problem: Report) -> list[tuple[str, str, str]]:
    entries = []
    parts = [part.strip() for part in value.split(";")]
    for part in (p for p in parts if p):
        code, star, quantity = part.rpartition("*")
        if not star:
            problem(COMPONENTS, f"{part!r} is not SKU*QUANTITY (for example CUP-W*4)")
        elif not code.strip():
            problem(COMPONENTS, f"{part!r} has no SKU code before '*'")
        else:
            entries.append((code.strip(), quantity.strip(), repr(part)))
    if not any(parts):
        problem(COMPONENTS, "no components listed (expected SKU*QUANTITY;...)")
    return entries


def _json_entry(number: int, item: Any, problem: Report) -> tuple[str, str, str] | None:
    name = f"component {number}"
    if not isinstance(item, dict):
        problem(COMPONENTS, f'{name} is not an object {{"sku": ..., "quantity": ...}}')
        return None
    unknown = sorted(str(k) for k in item if k not in ("sku", "quantity"))
    if unknown:
        problem(COMPONENTS, f"{name} has unknown keys {', '.join(map(repr, unknown))}")
        return None
    code = item.get("sku")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)  # As a row's own code may be a JSON number.
    if not isinstance(code, str) or not code.strip():
        problem(COMPONENTS, f"{name} has no sku")
        return None
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal | str | None):
        text = repr(quantity)
    elif isinstance(quantity, Decimal):
        text = format(quantity, "f")
    else:
        text = "" if quantity is None else str(quantity).strip()
    return code.strip(), text, name


def _quantity(code: str, text: str, name: str, count: int, problem: Report) -> int | None:
    if not text:
        problem(COMPONENTS, f"{name} has no quantity (the units of {code!r} one kit takes)")
        return None
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    if count == 1:
        # A kit of one component is a multipack: its quantity is the pack size.
        problem(COMPONENTS, f"pack size {text} of {code!r} must be a positive integer")
    else:
        problem(COMPONENTS, f"quantity {text} of component {code!r} must be a positive integer")
    return None


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")


def components_text(components: Iterable[tuple[str, int]]) -> str:
    """Return components as a CSV cell: ``SKU*QTY`` joined by ``;``."""
    return ";".join(f"{code}*{quantity}" for code, quantity in components)


def components_json(components: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """Return components as the JSON file's ``[{"sku": ..., "quantity": ...}]``."""
    return [{"sku": code, "quantity": quantity} for code, quantity in components]


@dataclass(frozen=True, slots=True)
class StoreKits:
    """What the store already holds that a file's kits are checked against."""

    codes: frozenset[str] = frozenset()
    """Merchant codes of the SKUs (of those asked about) that exist."""
    kits: Mapping[str, Components] = field(default_factory=dict)
    """Kits among them, with their components."""
    on_hand: Mapping[str, int] = field(default_factory=dict)
    """Units on hand (all warehouses) of the file's kits that hold any."""
    used_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Codes of the kits that use each of the file's kits as a component."""


def read_store_kits(session: StoreSession, rows: Sequence[CatalogueRow]) -> StoreKits:
    """Read what :func:`check_kits` needs to know of the store about these rows."""
    kit_codes = {r.sku for r in rows if r.components}
    wanted = {r.sku for r in rows} | {code for r in rows for code, _ in r.components}
    records = session.skus(wanted)
    by_id = {s.id: s.merchant_code for s in records}
    ids = {s.merchant_code: s.id for s in records}
    kits = {
        by_id[kit_id]: tuple((c.merchant_code, c.quantity) for c in parts)
        for kit_id, parts in session.components_of(by_id).items()
    }
    stored_kit_ids = [ids[code] for code in sorted(kit_codes) if code in ids]
    on_hand = {
        by_id[sku_id]: total
        for sku_id, stock in session.on_hand_many(stored_kit_ids).items()
        if (total := sum(stock.values()))
    }
    users = session.kits_using(stored_kit_ids)
    user_codes = {
        s.id: s.merchant_code
        for s in session.skus_by_id({u for found in users.values() for u in found}).values()
    }
    return StoreKits(
        codes=frozenset(ids),
        kits=kits,
        on_hand=on_hand,
        used_by={
            by_id[component]: tuple(sorted(user_codes[u] for u in found))
            for component, found in users.items()
        },
    )


def check_kits(
    rows: Sequence[CatalogueRow], problems: list[Problem], store: StoreKits | None = None
) -> None:
    """Check the file's kits against each other and, given ``store``, against the store.

    Without ``store`` (checking a file on its own) components missing from the file are
    not reported, as they may be in the store. Each problem names the kit's row and the
    field ``components``.
    """
    in_file = {r.sku: r.row for r in reversed(rows)}
    file_kits = {r.sku: r for r in reversed(rows) if r.components}
    known = store or StoreKits()
    # The kits as they would be after the import: the file's replace the store's. (A kit
    # of the store listed as a plain SKU stays a kit: that row is refused below.)
    graph: dict[str, tuple[str, ...]] = {
        code: tuple(c for c, _ in parts)
        for code, parts in known.kits.items()
        if code not in file_kits
    }
    graph.update({code: tuple(c for c, _ in row.components) for code, row in file_kits.items()})
    for row in rows:
        if row.components and file_kits[row.sku] is row:
            _check_kit(
                row,
                graph,
                in_file=in_file,
                file_kits=file_kits.keys(),
                known=known,
                with_store=store is not None,
                problems=problems,
            )
        elif not row.components and row.sku in known.kits and row.sku not in file_kits:
            problems.append(
                Problem(
                    f"{row.sku!r} is a kit in the store ({components_text(known.kits[row.sku])}):"
                    " list its components here; a kit holds no stock, so leave quantity empty",
                    row=row.row,
                    field=COMPONENTS,
                )
            )


def _check_kit(
    row: CatalogueRow,
    graph: Mapping[str, tuple[str, ...]],
    *,
    in_file: Mapping[str, int],
    file_kits: Collection[str],
    known: StoreKits,
    with_store: bool,
    problems: list[Problem],
) -> None:
    def problem(message: str) -> None:
        problems.append(Problem(message, row=row.row, field=COMPONENTS))

    on_cycles: set[str] = set()
    for code, _ in row.components:
        if code in graph:
            path = _path(graph, code, row.sku)
            if path is not None:
                problem(f"cycle: {' -> '.join([row.sku, *path])}: a kit cannot contain itself")
                on_cycles.update(path)
            else:
                where = f"row {in_file[code]}" if code in file_kits else "the store"
                problem(
                    f"component {code!r} is itself a kit (in {where}): "
                    "nested kits are not supported"
                )
        elif with_store and code not in in_file and code not in known.codes:
            problem(f"component {code!r} does not exist: add a row for it or import it first")
    if not with_store:
        return
    held = known.on_hand.get(row.sku, 0)
    if held:
        problem(
            f"{row.sku!r} holds {held} units on hand and a kit holds no stock of its own: "
            "import it with quantity 0 first, then as a kit"
        )
    # A kit the file defines again is checked on its own row, by what the file gives it.
    users = [u for u in known.used_by.get(row.sku, ()) if u not in file_kits and u not in on_cycles]
    if users:
        problem(
            f"{row.sku!r} is a component of kit {', '.join(map(repr, users))} in the store: "
            "nested kits are not supported"
        )


def _path(graph: Mapping[str, tuple[str, ...]], start: str, target: str) -> list[str] | None:
    """Return the kits from ``start`` to ``target`` along component links, or ``None``."""
    stack: list[list[str]] = [[start]]
    visited: set[str] = set()
    while stack:
        path = stack.pop()
        code = path[-1]
        if code == target:
            return path
        if code in visited:
            continue
        visited.add(code)
        # Reversed so the first component is followed first (a stable, readable path).
        stack.extend([*path, c] for c in reversed(graph.get(code, ())) if c in graph)
    return None
