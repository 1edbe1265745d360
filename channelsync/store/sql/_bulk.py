"""Hot bulk statements run on the driver: compiled once, values converted by hand.

A statement run tens of thousands of times a cycle (a flush's due reads, its audit
rows, its settles) costs more in SQLAlchemy's per-row parameter and result processing
than in the database. Here such a statement is built with SQLAlchemy Core as usual,
compiled once per dialect and workspace schema (:func:`driver_statement`), and run
with ``Connection.exec_driver_sql``: the same connection and transaction, the same
error translation and engine events, but the driver's ``executemany`` on values
already in the form the column type would have given them (:class:`Converters`).

The converters write exactly what the column types write (an aware time as naive
UTC, as :class:`~channelsync.store.schema.UtcDateTime` does, in SQLite's text form
there; JSON as text) and read back what they read, so rows written either way are
read alike by both.

Only fixed-shape statements belong here (no expanding ``IN`` lists). Listeners on
the engine see a driver statement's text and parameters, not a compiled statement:
where one watches inserts of a table (the workers' flush on commit watches the
outbox's), enough of them must still go through the typed statement (see
``SqlOutbox.enqueue_many``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable

from channelsync.store.sql.engine import translated_schema

__all__ = ["Converters", "DriverStatement", "converters", "driver_statement"]


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled for one dialect and schema, with its parameters' order."""

    sql: str
    names: tuple[str, ...]
    """The bound parameters' names, in the order a positional driver takes them."""
    positional: bool
    fixed: Mapping[str, Any]
    """Values the statement carries itself (SQLite's ``OFFSET 0`` after a bound ``LIMIT``)."""
    row: tuple[str, ...]
    """The names of the values of each row given to :meth:`run_many`, in their order."""

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """Return ``values`` (already converted) in the form the driver takes."""
        if self.fixed:
            values = {**self.fixed, **values}
        if self.positional:
            return tuple(values[name] for name in self.names)
        return values

    def run(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> CursorResult[*tuple[Any, ...]]:
        """Execute once with ``values``."""
        return connection.exec_driver_sql(self.sql, self.parameters(values))

    def run_many(
        self, connection: Connection, rows: Sequence[Sequence[Any]]
    ) -> CursorResult[*tuple[Any, ...]] | None:
        """Execute once per row (values in :attr:`row` order) with the driver's ``executemany``.

        Nothing is run for no rows.
        """
        if not rows:
            return None
        if self.positional and not self.fixed:
            if self.names == self.row:
                return connection.exec_driver_sql(self.sql, list(rows))
            if len(self.names) > 1:
                pick = itemgetter(*(self.row.index(name) for name in self.names))
                return connection.exec_driver_sql(self.sql, [pick(row) for row in rows])
        names = self.row
        return connection.exec_driver_sql(
            self.sql, [self.parameters(dict(zip(names, row, strict=True))) for row in rows]
        )


# Compiled statements by (dialect, workspace schema, statement name).
_compiled: dict[tuple[str, str | None, str], DriverStatement] = {}


def driver_statement(
    connection: Connection,
    name: str,
    build: Callable[[], Executable],
    row: Sequence[str] = (),
) -> DriverStatement:
    """Return statement ``name`` (built by ``build``) compiled for ``connection``.

    ``row`` names the values of each row given to ``run_many``, in order: when it is
    the order a positional driver takes them, rows go to the driver as they are.
    Compiled on first use per dialect and schema: the text names the workspace's
    schema itself, because a driver statement is not translated at execution.
    """
    schema = translated_schema(connection)
    key = (connection.dialect.name, schema, name)
    found = _compiled.get(key)
    if found is None:
        options: dict[str, Any] = {}
        if schema is not None:
            options = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
        compiled = build().compile(dialect=connection.dialect, **options)  # type: ignore[attr-defined]
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else ()
        fixed = {n: b.effective_value for b, n in compiled.bind_names.items() if not b.required}
        if not all(isinstance(value, int | str) for value in fixed.values()):
            raise TypeError(f"statement {name}: bind every value that needs a conversion")
        found = DriverStatement(compiled.string, names, positional, fixed, tuple(row))
        _compiled[key] = found
    return found


def _sqlite_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store only keeps aware times")
    # SQLAlchemy's SQLite DATETIME text: compared as text, so always the same width.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store only keeps aware times")
    return value.astimezone(UTC).replace(tzinfo=None)


def _read_time(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _read_json(value: Any) -> Any:
    # SQLite hands back the text; psycopg has parsed it already.
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class Converters:
    """Conversions of values to and from a dialect's driver, as the column types make them."""

    time: Callable[[datetime], Any]
    """An aware datetime to what a ``UtcDateTime`` column stores."""

    @staticmethod
    def read_time(value: Any) -> datetime:
        """Return a stored ``UtcDateTime`` as an aware UTC datetime."""
        return _read_time(value)

    @staticmethod
    def read_optional_time(value: Any) -> datetime | None:
        """Like :meth:`read_time`, for a nullable column."""
        return None if value is None else _read_time(value)

    @staticmethod
    def json(value: Any) -> str:
        """Return the stored text of a JSON value."""
        return json.dumps(value)

    @staticmethod
    def read_json(value: Any) -> Any:
        """Return the value a stored JSON column holds."""
        return _read_json(value)


_SQLITE = Converters(time=_sqlite_time)
_OTHER = Converters(time=_naive_utc)


def converters(connection: Connection) -> Converters:
    """Return the value conversions of ``connection``'s dialect."""
    return _SQLITE if connection.dialect.name == "sqlite" else _OTHER
