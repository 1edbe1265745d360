"""What the SQL store's parts share: the connection, ``IN``-list chunks, upserts, row builders.

Reads are keyed ``IN`` lists split to stay under SQLite's bound-parameter limit, and
writes are ``executemany`` batches or multi-row ``INSERT ... ON CONFLICT`` upserts
built with the dialect's own insert construct (:func:`upsert_insert`), which SQLite and
PostgreSQL share, so no SQL text is written by hand. Every method runs in the caller's
transaction: a failing row raises and the transaction rolls the whole batch back.

Many writers: :func:`lock_rows` holds rows for the rest of the transaction before a
read-then-write (``SELECT ... ORDER BY id FOR NO KEY UPDATE`` on PostgreSQL, in one fixed
order so two writers never deadlock on them); on SQLite it takes the database's write
lock at once (:func:`hold_write_lock`), because Python's ``sqlite3`` runs the reads before
a transaction's first write outside of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, false, select, update
from sqlalchemy.dialects import postgresql, sqlite

from channelsync.errors import ConfigurationError
from channelsync.store.bindings import BindingRecord
from channelsync.store.journal import AuditEntry
from channelsync.store.ledger import LedgerEvent
from channelsync.store.orders import StoredOrder

__all__ = [
    "CHUNK",
    "SqlPart",
    "audit_entry",
    "binding_record",
    "chunks",
    "hold_write_lock",
    "ledger_event",
    "listing_key",
    "lock_rows",
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


def hold_write_lock(connection: Connection, table: Table) -> None:
    """On SQLite, take the database's write lock now, for the rest of the transaction.

    Python's ``sqlite3`` (SQLAlchemy's default driver) begins a transaction only at its
    first write, so a read-then-write could read before another connection's commit
    and write after it. A write that changes nothing (``UPDATE ... WHERE 0 = 1``)
    begins it at once: every later read of the transaction then sees the state it
    writes on, and other writers wait (``busy_timeout``). On other databases this does
    nothing: rows are locked one by one there (:func:`lock_rows`).
    """
    if connection.dialect.name == "sqlite":
        primary = table.primary_key.columns
        connection.execute(update(table).where(false()).values({c.name: c for c in primary}))


def lock_rows(connection: Connection, table: Table, ids: Iterable[int]) -> None:
    """Lock ``table``'s rows of ``ids`` until the transaction ends, in ascending id order.

    On PostgreSQL: ``SELECT id ... ORDER BY id FOR NO KEY UPDATE``, chunk after chunk in
    the same order, so two transactions locking overlapping sets queue up instead of
    deadlocking. ``NO KEY UPDATE`` (what an ``UPDATE`` of non-key columns takes) still
    excludes every other locker and updater of the rows, while inserts of rows referring
    to them (their foreign-key checks take ``KEY SHARE``) go on. Ids without a row are
    skipped. On SQLite: the database's write lock (:func:`hold_write_lock`).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return
    if connection.dialect.name == "sqlite":
        hold_write_lock(connection, table)
        return
    key = table.c.id
    for chunk in chunks(wanted):
        query = select(key).where(key.in_(chunk)).order_by(key).with_for_update(key_share=True)
        connection.execute(query).all()


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


def ledger_event(row: Row[Any]) -> LedgerEvent:
    """Return the ledger event a ``ledger_events`` row holds."""
    return LedgerEvent(
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        sku_id=row.sku_id,
        on_hand_delta=row.on_hand_delta,
        reserved_delta=row.reserved_delta,
        warehouse=row.warehouse,
        channel=row.channel,
        order_id=row.order_id,
        note=row.note,
    )


def audit_entry(row: Row[Any]) -> AuditEntry:
    """Return the send and answer an ``audit`` row holds."""
    return AuditEntry(
        at=row.at,
        channel=row.channel,
        kind=row.kind,
        key=row.key,
        sent=dict(row.sent),
        ok=bool(row.ok),
        answer=row.answer,
    )
