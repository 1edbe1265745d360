"""What the SQL store's parts share: the connection, ``IN``-list chunks, upserts, row builders.

Reads are keyed ``IN`` lists split to stay under SQLite's bound-parameter limit, and
writes are ``executemany`` batches or multi-row ``INSERT ... ON CONFLICT`` upserts
built with the dialect's own insert construct (:func:`upsert_insert`), which SQLite and
PostgreSQL share, so no SQL text is written by hand. Every method runs in the caller's
transaction: a failing row raises and the transaction rolls the whole batch back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from channelsync.errors import ConfigurationError
from channelsync.store.bindings import BindingRecord
from channelsync.store.orders import StoredOrder

__all__ = [
    "CHUNK",
    "SqlPart",
    "binding_record",
    "chunks",
    "listing_key",
    "stored_order",
    "update_by_id",
    "upsert_insert",
]

#: Rows per ``IN`` list: SQLite allows 32,766 bound parameters, older builds 999.
CHUNK = 500


class SqlPart:
    """The open connection every part of :class:`~channelsync.store.sql.SqlSession` works on."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Split ``values`` into slices of at most ``size`` (for ``IN`` lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def upsert_insert(connection: Connection, table: Table) -> Any:
    """Return the dialect's INSERT for ``table``, which offers ``on_conflict_do_*``."""
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise ConfigurationError(
        f"the state store supports SQLite and PostgreSQL, not {name!r}", field="store.url"
    )


def update_by_id(table: Table, columns: Iterable[str]) -> Any:
    """Return one UPDATE, compiled once for ``executemany``, whose ``_id`` names the row."""
    return (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({name: bindparam(name) for name in columns})
    )


def listing_key(listing_sku_id: str | None) -> str:
    """Return the stored form of a listing's SKU id (item-level listings have none)."""
    return listing_sku_id or ""


def binding_record(row: Row[Any]) -> BindingRecord:
    """Return the binding a ``bindings`` row holds."""
    return BindingRecord(
        id=row.id,
        channel=row.channel,
        item_id=row.item_id,
        listing_sku_id=row.listing_sku_id or None,
        sku_id=row.sku_id,
        merchant_code=row.merchant_code,
        manual=bool(row.manual),
        title=row.title,
        channel_quantity=row.channel_quantity,
        planned_quantity=row.planned_quantity,
        sent_quantity=row.sent_quantity,
        planned_price=row.planned_price,
        sent_price=row.sent_price,
        seen_at=row.seen_at,
        sent_at=row.sent_at,
        held_since=row.held_since,
        held_shown=row.held_shown,
    )


def stored_order(row: Row[Any]) -> StoredOrder:
    """Return the imported order an ``orders`` row holds, with its ``personal`` data if any."""
    raw = {**dict(row.raw), **(row._mapping.get("personal") or {})}
    return StoredOrder(
        channel=row.channel,
        order_id=row.order_id,
        status=row.status,
        version=row.version,
        updated_at=row.updated_at,
        created_at=row.created_at,
        on_hold=bool(row.on_hold),
        raw=raw,
        imported_at=row.imported_at,
    )
