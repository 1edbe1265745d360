"""Set-based statements: lists of any size as one bound value, and row sets written at once.

Membership tests of any size as one bound parameter (:func:`one_of`, and
:func:`in_list` with :func:`bound_list` in a driver statement). A keyed read of
thousands of rows written as ``column IN (:v1, :v2, ...)`` costs more in SQLAlchemy
than in the database: every execution expands the list into the statement's text,
binds and type-processes each value, and SQLite's bound-parameter limit splits it into
chunks of :data:`~channelsync.store.sql._common.CHUNK`, each a statement of its own.
Bound as one value instead, a statement's text is the same whatever the list, is
compiled once, and runs once:

- PostgreSQL: ``column = ANY(:values)``, the list bound as an array;
- SQLite: ``column IN (SELECT value FROM json_each(:values))``, the list bound as JSON
  text (SQLite probes the column's index with each value, as it does for a literal list).

The values must be ``str`` or ``int`` (keys and ids), as JSON and an array keep them.

Row sets (:func:`insert_rows`, :func:`update_rows`, :func:`delete_rows`): many rows
written by one call, their values already in stored form (see
:func:`~channelsync.store.sql._driver.stored_time` and ``stored_json``), as mappings or
as :class:`Rows`. On PostgreSQL even a pipelined ``executemany`` runs one statement
per row on the server; there every row is written by one statement instead, the rows
bound as one array per column (in psycopg's binary form) and joined back with
``unnest`` (JSON as text, cast where it is written). On SQLite they are the driver's
``executemany`` of the one-row statement, which is faster there. Either way a
statement changes its rows in the order given; an update or delete by ``unnest`` may
lock its rows in any order, so it is only for rows its writer has locked first (see
:func:`lock_ids`) or whose writers all hold another lock first (the ledger's SKU locks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    String,
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
from sqlalchemy.types import TypeDecorator, TypeEngine

from channelsync.store.sql._common import hold_write_lock
from channelsync.store.sql._driver import (
    DriverStatement,
    driver_statement,
    run_many,
    stored_json,
    stored_time,
)
from channelsync.store.sql.statistics import note_written

__all__ = [
    "Rows",
    "bound_list",
    "delete_rows",
    "in_list",
    "insert_rows",
    "lock_ids",
    "lock_keys",
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


def in_list(connection: Connection, column: Column[Any], name: str) -> ColumnElement[bool]:
    """Return ``column IN`` the list bound as parameter ``name`` (for a driver statement).

    The statement is then run with :func:`bound_list` of the values as ``name``.
    """
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(_element_type(column))))
    table = func.json_each(bindparam(name)).table_valued("value")
    return column.in_(select(table.c.value))


def bound_list(connection: Connection, values: Iterable[str | int]) -> Any:
    """Return ``values`` as an :func:`in_list` parameter takes them on ``connection``."""
    listed = list(values)
    return listed if connection.dialect.name == "postgresql" else json.dumps(listed)


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

    def build() -> Any:
        key = table.c.id
        return (
            select(key)
            .where(in_list(connection, key, "ids"))
            .order_by(key)
            .with_for_update(key_share=True)
        )

    driver_statement(connection, f"lock.{table.name}", build).run(connection, {"ids": wanted})


def lock_keys(
    connection: Connection,
    name: str,
    table: Table,
    rows: Sequence[Mapping[str, Any]] | Rows,
    *,
    where: Mapping[str, str],
) -> None:
    """Lock the rows of ``table`` a row set names, in the order of the ``where`` columns.

    For a table without an ``id`` (a composite key): what :func:`lock_ids` does, the
    rows whose ``where`` columns equal a row's values (see :func:`update_rows`) locked
    in one statement, sorted by those columns (``FOR NO KEY UPDATE``), so that two
    writers of overlapping sets queue up. SQLite: the database's write lock.
    """
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        hold_write_lock(connection, table)
        return
    names = tuple(where)

    def build() -> Any:
        source = _unnest(table, list(where.items()))
        columns = [table.c[column] for column in where.values()]
        return (
            select(*columns)
            .join_from(table, source, and_(*(table.c[c] == source.c[p] for p, c in where.items())))
            .order_by(*columns)
            .with_for_update(of=table, key_share=True)
        )

    arrays = _as_rows(rows, names).arrays()
    driver_statement(connection, name, build).run(connection, arrays)


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows as tuples of values, with the names of their places (the rows' keys).

    What a writer of thousands of rows gives instead of a mapping per row.
    """

    names: tuple[str, ...]
    values: Sequence[Sequence[Any]]

    def __len__(self) -> int:
        return len(self.values)

    def arrays(self) -> dict[str, list[Any]]:
        """Return one list of values per name (the rows' columns)."""
        columns = zip(*self.values, strict=True)
        return {name: list(column) for name, column in zip(self.names, columns, strict=True)}


def _as_rows(rows: Sequence[Mapping[str, Any]] | Rows, names: Sequence[str]) -> Rows:
    """Return ``rows`` as :class:`Rows` of ``names`` (each mapping holds at least those)."""
    wanted = tuple(names)
    keys: tuple[Any, ...] = wanted
    values: Sequence[Any]
    if isinstance(rows, Rows):
        if rows.names == wanted:
            return rows
        keys, values = tuple(rows.names.index(name) for name in wanted), rows.values
    else:
        values = rows
    pick = itemgetter(*keys)
    if len(keys) == 1:
        return Rows(wanted, [(pick(row),) for row in values])
    return Rows(wanted, [pick(row) for row in values])


def _names(rows: Sequence[Mapping[str, Any]] | Rows) -> tuple[str, ...]:
    return rows.names if isinstance(rows, Rows) else tuple(rows[0])


def _order(rows: Sequence[Mapping[str, Any]] | Rows, names: tuple[str, ...]) -> tuple[str, ...]:
    """Return the order of the values of ``rows`` if they are :class:`Rows`, else ``names``."""
    return rows.names if isinstance(rows, Rows) else names


def _run(
    connection: Connection, statement: DriverStatement, rows: Sequence[Mapping[str, Any]] | Rows
) -> CursorResult[Any] | None:
    """Run a one-row ``statement`` once per row (SQLite's form of a row set)."""
    if isinstance(rows, Rows):
        if rows.names != statement.row:
            rows = _as_rows(rows, statement.row)
        return statement.run_many(connection, rows.values)
    return statement.run_mappings(connection, rows)


def _element_type(column: Column[Any]) -> TypeEngine[Any]:
    """Return the type a column's values are bound as in an array (their stored forms)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, JSON | String):
        # JSON as its text, cast where it is written. No length: a cast to VARCHAR(n)
        # would cut a longer value, where writing it to the column refuses it.
        return postgresql.TEXT()
    return kind


def _unnest(table: Table, names: Sequence[tuple[str, str]]) -> TableValuedAlias:
    """``unnest`` of one array parameter per ``(parameter, column)``, as a row source."""
    arrays = [
        bindparam(parameter, type_=ARRAY(_element_type(table.c[column])))
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


def insert_rows(
    connection: Connection,
    name: str,
    table: Table,
    rows: Sequence[Mapping[str, Any]] | Rows,
    *,
    conflict: Callable[[Any], Any] | None = None,
    same: Mapping[str, Any] | None = None,
) -> CursorResult[Any] | None:
    """Insert ``rows`` (each naming every column written, values in stored form) into ``table``.

    ``name`` names the statement (its table, columns and conflict clause).
    ``conflict`` adds an ``ON CONFLICT`` clause to the dialect's insert (it is given
    one that offers ``on_conflict_do_*`` and ``excluded``). ``same`` gives the columns
    every row has the same value in (stored forms, columns the rows do not name): on
    PostgreSQL each is bound once instead of as an array of copies. The result's
    ``rowcount`` is the number of rows inserted or updated. Nothing is run for no rows.
    The rows are counted for the planner's statistics (:func:`note_written`).
    """
    if not rows:
        return None
    note_written(connection, table.name, len(rows))
    columns = _names(rows)
    shared = dict(same or {})
    if set(shared) & set(columns):
        raise ValueError(f"statement {name}: a column both per row and shared")
    if connection.dialect.name == "sqlite":
        if shared:
            # One writer, the driver's executemany: each row carries the shared values.
            given = _as_rows(rows, columns)
            tail = tuple(shared.values())
            rows = Rows((*columns, *shared), [(*row, *tail) for row in given.values])
            columns = rows.names

        def one() -> Any:
            statement = sqlite_dialect.insert(table).values({c: bindparam(c) for c in columns})
            return statement if conflict is None else conflict(statement)

        return _run(connection, driver_statement(connection, name, one, columns), rows)

    def every() -> Any:
        source = _unnest(table, [(c, c) for c in columns])
        chosen = select(
            *(_value(source, table, c, c) for c in columns),
            *(_shared(table, c) for c in shared),
        )
        statement = postgresql.insert(table).from_select([*columns, *shared], chosen)
        return statement if conflict is None else conflict(statement)

    arrays: dict[str, Any] = _as_rows(rows, columns).arrays()
    return driver_statement(connection, name, every).run(connection, arrays | shared)


def _shared(table: Table, column: str) -> Any:
    """Return a value bound once for every row (see :func:`insert_rows`), as the column takes it."""
    value = bindparam(column, type_=_element_type(table.c[column]))
    return cast(value, table.c[column].type) if isinstance(table.c[column].type, JSON) else value


def update_rows(
    connection: Connection,
    name: str,
    table: Table,
    rows: Sequence[Mapping[str, Any]] | Rows,
    *,
    where: Mapping[str, str],
    values: Mapping[str, str],
    increments: Mapping[str, str] | None = None,
    lock: str | None = None,
) -> CursorResult[Any] | None:
    """Update one row per item of ``rows``: where each ``where`` column equals its value.

    ``where``, ``values`` and ``increments`` map a row's keys to the columns they are
    compared with, set, and added to. Rows must name distinct table rows, locked
    first (see the module): ``lock`` names the key holding each row's ``id``, to lock
    them here first, in id order (:func:`lock_ids`; SQLite's one writer needs none).
    The result's ``rowcount`` is the number of rows changed.
    """
    if not rows:
        return None
    added = increments or {}
    names = (*values, *added, *where)
    if connection.dialect.name == "sqlite":

        def one() -> Any:
            test = and_(*(table.c[c] == bindparam(p) for p, c in where.items()))
            return (
                update(table)
                .where(test)
                .values(
                    {c: bindparam(p) for p, c in values.items()}
                    | {c: table.c[c] + bindparam(p) for p, c in added.items()}
                )
            )

        return _run(connection, driver_statement(connection, name, one, _order(rows, names)), rows)

    def every() -> Any:
        source = _unnest(table, [*where.items(), *values.items(), *added.items()])
        test = and_(*(table.c[c] == source.c[p] for p, c in where.items()))
        return (
            update(table)
            .where(test)
            .values(
                {c: _value(source, table, p, c) for p, c in values.items()}
                | {c: table.c[c] + source.c[p] for p, c in added.items()}
            )
        )

    arrays = _as_rows(rows, names).arrays()
    if lock is not None:
        lock_ids(connection, table, arrays[lock])
    return driver_statement(connection, name, every).run(connection, arrays)


def delete_rows(
    connection: Connection,
    name: str,
    table: Table,
    rows: Sequence[Mapping[str, Any]] | Rows,
    *,
    where: Mapping[str, str],
) -> CursorResult[Any] | None:
    """Delete the rows whose ``where`` columns equal a row's values (see :func:`update_rows`)."""
    if not rows:
        return None
    names = tuple(where)
    if connection.dialect.name == "sqlite":

        def one() -> Any:
            return delete(table).where(
                and_(*(table.c[c] == bindparam(p) for p, c in where.items()))
            )

        return _run(connection, driver_statement(connection, name, one, _order(rows, names)), rows)

    def every() -> Any:
        source = _unnest(table, list(where.items()))
        return delete(table).where(and_(*(table.c[c] == source.c[p] for p, c in where.items())))

    arrays = _as_rows(rows, names).arrays()
    return driver_statement(connection, name, every).run(connection, arrays)
