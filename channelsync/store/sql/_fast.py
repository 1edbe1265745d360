"""Set-based statements without SQLAlchemy's per-value costs: big ``IN`` lists, bulk writes.

Membership tests of any size as one bound parameter (:func:`one_of`). A keyed read of
thousands of rows written as ``column IN (:v1, :v2, ...)`` costs more in SQLAlchemy than
in the database: every execution expands the list into the statement's text, binds and
type-processes each value, and SQLite's bound-parameter limit splits it into chunks of
:data:`~channelsync.store.sql._common.CHUNK`, each a statement of its own. :func:`one_of`
binds the whole list as one value instead, so a statement's text is the same whatever
the list, is compiled once (SQLAlchemy's statement cache), and runs once:

- PostgreSQL: ``column = ANY(:values)``, the list bound as an array;
- SQLite: ``column IN (SELECT value FROM json_each(:values))``, the list bound as JSON
  text (SQLite probes the column's index with each value, as it does for a literal list).

The values must be ``str`` or ``int`` (keys and ids), as JSON and an array keep them.

Bulk writes on the driver (:func:`run_many`). An ``executemany`` of thousands of rows
spends most of its time in SQLAlchemy's per-row parameter processing. Such a statement
is built with SQLAlchemy Core as usual, compiled once per dialect and workspace schema,
and run with ``Connection.exec_driver_sql`` (the same connection, transaction, error
translation and engine events) on rows whose values are already what the column types
would have made of them: see :func:`stored_time` and :func:`stored_json`. Only for
statements of a fixed shape, into tables no engine listener inspects the inserts of
(a listener sees the driver's text and parameters, not a compiled statement).

Row sets as arrays on PostgreSQL (:func:`insert_rows`, :func:`update_rows`,
:func:`delete_rows`). There even a pipelined ``executemany`` runs one statement per row
on the server; these write every row with one statement instead, the rows bound as
one array per column and joined back with ``unnest``. On SQLite (and for rows
holding JSON, which the driver would escape element by element) they are
:func:`run_many` of the one-row statement. Either way a statement changes its rows in
the order given; an update or delete by ``unnest`` may lock its rows in any order, so
it is only for rows whose writers all hold another lock first (the ledger's SKU locks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    Executable,
    Table,
    TableValuedAlias,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeDecorator, TypeEngine

from channelsync.store.sql._common import hold_write_lock
from channelsync.store.sql.engine import translated_schema

__all__ = [
    "delete_rows",
    "insert_rows",
    "lock_ids",
    "one_of",
    "run_many",
    "stored_json",
    "stored_time",
    "update_rows",
]


def one_of(
    connection: Connection, column: ColumnElement[Any], values: Iterable[str | int]
) -> ColumnElement[bool]:
    """Return ``column IN values`` with ``values`` bound as one parameter (see the module)."""
    listed = list(values)
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=ARRAY(column.type)))
    # A fresh anonymous name per call: two lists in one statement never collide.
    table = func.json_each(bindparam(None, json.dumps(listed))).table_valued("value")
    return column.in_(select(table.c.value))


def lock_ids(connection: Connection, table: Table, ids: Iterable[int]) -> None:
    """Lock ``table``'s rows of ``ids`` for the transaction, in ascending id order.

    What :func:`~channelsync.store.sql._common.lock_rows` does, in one statement on
    PostgreSQL whatever the number of ids (``SELECT id ... WHERE id = ANY(:ids) ORDER BY
    id FOR NO KEY UPDATE`` locks the rows as the sort returns them); SQLite: the
    database's write lock.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return
    if connection.dialect.name == "sqlite":
        hold_write_lock(connection, table)
        return
    key = table.c.id
    query = (
        select(key)
        .where(one_of(connection, key, wanted))
        .order_by(key)
        .with_for_update(key_share=True)
    )
    connection.execute(query).all()


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement's text for one dialect and schema, and how its driver takes values."""

    sql: str
    positional: tuple[str, ...] | None
    """The bound parameters' names in a positional driver's order; ``None``: by name."""
    fixed: Mapping[str, Any]
    """Values the statement carries itself (the ``1`` of ``count + 1``)."""


_compiled: dict[tuple[str, str | None, str], _Compiled] = {}


def _compile(connection: Connection, name: str, build: Callable[[], Executable]) -> _Compiled:
    schema = translated_schema(connection)
    key = (connection.dialect.name, schema, name)
    found = _compiled.get(key)
    if found is None:
        options: dict[str, Any] = {}
        if schema is not None:
            # A driver statement is not translated at execution: its text names the schema.
            options = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
        compiled = build().compile(dialect=connection.dialect, **options)  # type: ignore[attr-defined]
        fixed = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}
        if not all(isinstance(value, bool | int | str) for value in fixed.values()):
            raise TypeError(f"statement {name}: bind every value that needs a conversion")
        positional = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _Compiled(compiled.string, positional, fixed)
        _compiled[key] = found
    return found


def run_many(
    connection: Connection,
    name: str,
    build: Callable[[], Executable],
    rows: Sequence[Mapping[str, Any]],
) -> CursorResult[Any] | None:
    """Run statement ``name`` once per row with the driver's ``executemany``; none for no rows.

    ``build`` returns the statement, each value a ``bindparam`` named as the rows' keys;
    it is compiled on first use per dialect and schema (``name`` must say which
    statement it is). The rows' values must be stored forms already (see the module).
    """
    if not rows:
        return None
    compiled = _compile(connection, name, build)
    order, fixed = compiled.positional, compiled.fixed
    if order is None:
        values = [{**fixed, **row} for row in rows] if fixed else list(rows)
        return connection.exec_driver_sql(compiled.sql, values)
    if fixed:
        return connection.exec_driver_sql(
            compiled.sql, [tuple({**fixed, **row}[k] for k in order) for row in rows]
        )
    return connection.exec_driver_sql(
        compiled.sql, [tuple(row[key] for key in order) for row in rows]
    )


def stored_time(connection: Connection) -> Callable[[datetime], Any]:
    """Return how an aware time is stored on ``connection``, as ``UtcDateTime`` stores it."""
    return _sqlite_time if connection.dialect.name == "sqlite" else _naive_utc


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store only keeps aware times")
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text: compared as text, so always the same width.
    return _naive_utc(value).isoformat(" ", "microseconds")


def stored_json(value: Any) -> str:
    """Return the text a JSON column stores for ``value`` (as SQLAlchemy's ``JSON`` writes it)."""
    return json.dumps(value)


def _array_type(column: Column[Any]) -> TypeEngine[Any]:
    """Return the type a column's values are bound as in an array (their stored forms)."""
    kind = column.type
    if isinstance(kind, JSON):
        return postgresql.TEXT()  # the JSON text, cast where it is written
    if isinstance(kind, TypeDecorator):
        return kind.impl_instance
    return kind


def _unnest(table: Table, names: Sequence[tuple[str, str]]) -> TableValuedAlias:
    """``unnest`` of one array parameter per ``(parameter, column)``, as a row source."""
    arrays = [
        bindparam(parameter, type_=ARRAY(_array_type(table.c[column])))
        for parameter, column in names
    ]
    return (
        func.unnest(*arrays)
        .table_valued(*(parameter for parameter, _ in names))
        .render_derived(with_types=False)
    )


def _value(rows: TableValuedAlias, table: Table, parameter: str, column: str) -> Any:
    value = rows.c[parameter]
    return cast(value, table.c[column].type) if isinstance(table.c[column].type, JSON) else value


def _arrays(rows: Sequence[Mapping[str, Any]], names: Iterable[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


def insert_rows(
    connection: Connection,
    name: str,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Callable[[Any], Any] | None = None,
) -> CursorResult[Any] | None:
    """Insert ``rows`` (each naming every column written, values in stored form) into ``table``.

    ``conflict`` adds an ``ON CONFLICT`` clause to the dialect's insert (it is given
    one that offers ``on_conflict_do_*`` and ``excluded``). The result's ``rowcount``
    is the number of rows inserted or updated. Nothing is run for no rows.
    """
    if not rows:
        return None
    columns = list(rows[0])
    sqlite = connection.dialect.name == "sqlite"
    # The driver writes an array of text element by element, escaping every quote: JSON
    # documents go faster one row at a time, in the driver's pipeline.
    one_by_one = sqlite or any(isinstance(table.c[c].type, JSON) for c in columns)

    def build() -> Any:
        statement: Any
        if sqlite:
            statement = sqlite_dialect.insert(table).values({c: bindparam(c) for c in columns})
        elif one_by_one:
            statement = postgresql.insert(table).values({c: bindparam(c) for c in columns})
        else:
            source = _unnest(table, [(c, c) for c in columns])
            chosen = select(*(_value(source, table, c, c) for c in columns))
            statement = postgresql.insert(table).from_select(columns, chosen)
        return statement if conflict is None else conflict(statement)

    if one_by_one:
        return run_many(connection, name, build, rows)
    return connection.execute(
        _built(connection, name, build),
        _arrays(rows, columns),
        execution_options={"preserve_rowcount": True},  # SQLAlchemy keeps it for inserts too
    )


def update_rows(
    connection: Connection,
    name: str,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    where: Mapping[str, str],
    values: Mapping[str, str],
) -> CursorResult[Any] | None:
    """Update one row per item of ``rows``: where each ``where`` column equals its value.

    ``where`` and ``values`` map a row's keys to the columns they are compared with and
    set. Rows must name distinct table rows (see the module about locks).
    """
    if not rows:
        return None
    sqlite = connection.dialect.name == "sqlite"

    def build() -> Any:
        if sqlite:
            test = and_(*(table.c[c] == bindparam(p) for p, c in where.items()))
            return update(table).where(test).values({c: bindparam(p) for p, c in values.items()})
        source = _unnest(table, [*where.items(), *values.items()])
        test = and_(*(table.c[c] == source.c[p] for p, c in where.items()))
        return (
            update(table)
            .where(test)
            .values({c: _value(source, table, p, c) for p, c in values.items()})
        )

    if sqlite:
        return run_many(connection, name, build, rows)
    names = [*where, *values]
    return connection.execute(_built(connection, name, build), _arrays(rows, names))


def delete_rows(
    connection: Connection,
    name: str,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    where: Mapping[str, str],
) -> CursorResult[Any] | None:
    """Delete the rows whose ``where`` columns equal a row's values (see :func:`update_rows`)."""
    if not rows:
        return None
    sqlite = connection.dialect.name == "sqlite"

    def build() -> Any:
        if sqlite:
            return delete(table).where(
                and_(*(table.c[c] == bindparam(p) for p, c in where.items()))
            )
        source = _unnest(table, list(where.items()))
        return delete(table).where(and_(*(table.c[c] == source.c[p] for p, c in where.items())))

    if sqlite:
        return run_many(connection, name, build, rows)
    return connection.execute(_built(connection, name, build), _arrays(rows, where))


# Statements run through SQLAlchemy (PostgreSQL's array forms), built once per name.
_statements: dict[str, Any] = {}


def _built(connection: Connection, name: str, build: Callable[[], Any]) -> Any:
    # The same object every time: SQLAlchemy's compiled cache then finds it at once.
    key = f"{connection.dialect.name}:{name}"
    found = _statements.get(key)
    if found is None:
        found = _statements[key] = build()
    return found
