"""Copy a whole store into another: moving a SQLite store to PostgreSQL (or a workspace).

Every table of the schema is copied row for row, parents before children, in one
transaction on the target, ids included (so the ledger, outbox and bindings keep
pointing at the same rows); on PostgreSQL each id sequence is then moved past the
largest id copied, and the tables copied are analysed for the planner
(:mod:`~channelsync.store.sql.statistics`). The target must be empty: a copy never
merges two stores.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, Table, func, select, text

from channelsync.errors import ConfigurationError
from channelsync.store.schema import metadata
from channelsync.store.sql import SqlStore
from channelsync.store.sql.statistics import analyse_tables

__all__ = ["CopyReport", "copy_store"]

#: Rows read and written at a time: bounded memory whatever the store's size.
_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class CopyReport:
    """Rows copied per table."""

    rows: Mapping[str, int]

    @property
    def total(self) -> int:
        """Rows copied in all."""
        return sum(self.rows.values())


def copy_store(source: SqlStore, target: SqlStore) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``; return what was copied.

    Both stores are at the newest schema revision (opening a store migrates it).
    Raises :class:`~channelsync.errors.ConfigurationError` naming the first table of
    ``target`` that holds rows; nothing is then written.
    """
    rows: dict[str, int] = {}
    with source.engine.connect() as reading, target.engine.begin() as writing:
        for table in metadata.sorted_tables:
            if writing.execute(select(func.count()).select_from(table)).scalar():
                raise ConfigurationError(
                    f"the target store ({target.location}) is not empty: table "
                    f"{table.name!r} holds rows; copy into a new store or workspace",
                    field="store.url",
                )
        for table in metadata.sorted_tables:
            count = 0
            for batch in _batches(reading, table):
                writing.execute(table.insert(), batch)
                count += len(batch)
            rows[table.name] = count
        if writing.dialect.name == "postgresql":
            _move_sequences(writing, target.schema)
    if target.engine.dialect.name == "postgresql":
        analyse_tables(
            target.engine, [name for name, count in rows.items() if count], target.schema
        )
    return CopyReport(rows)


def _batches(connection: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    """Yield ``table``'s rows in primary-key order, ``_BATCH`` at a time."""
    query = select(table).order_by(*table.primary_key.columns)
    result = connection.execution_options(yield_per=_BATCH).execute(query).mappings()
    for part in result.partitions(_BATCH):
        yield [dict(row) for row in part]


def _move_sequences(connection: Connection, schema: str | None) -> None:
    """Move each integer id's sequence past the largest id copied (PostgreSQL)."""
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        largest = connection.execute(select(func.max(keys[0]))).scalar()
        if largest is None:
            continue
        name = f'"{schema}".{table.name}' if schema else table.name
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": name, "column": keys[0].name},
        ).scalar()
        if sequence is not None:
            connection.execute(
                text("SELECT setval(:sequence, :value)"),
                {
                    "sequence": sequence,
                    "value": int(largest),
                },
            )
