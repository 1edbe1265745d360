"""Statements run on the driver: compiled once, values converted by hand.

A statement run tens of thousands of times a cycle (a flush's due reads, its audit
rows, its settles, a plan's enqueues) costs more in SQLAlchemy's per-row parameter
and result processing than in the database. Such a statement is built with
SQLAlchemy Core as usual, compiled once per dialect and workspace schema
(:func:`driver_statement`), and run with ``Connection.exec_driver_sql``: the same
connection and transaction, the same error translation and engine events, but the
driver's ``execute``/``executemany`` on values already in the form the column types
would have given them.

The converters write exactly what the column types write (an aware time as naive
UTC, as :class:`~channelsync.store.schema.UtcDateTime` does, in SQLite's text form
there: :func:`stored_time`; JSON as text: :func:`stored_json`) and read back what
they read (:func:`read_time`, :func:`read_json`), so rows written either way are
read alike by both.

On PostgreSQL a parameter bound as an array (``bindparam(..., type_=ARRAY(...))``)
goes to psycopg in binary form: its elements are copied as they are, where the text
form escapes every element (slower than one statement per row, for JSON documents).
The array must reach the server as an array-typed parameter: one bound as text and
cast to an array in the statement (``CAST(:ids::VARCHAR AS INTEGER[])``) is converted
per execution, unseen by the planner, which then guesses its length and scans where
it would probe (a first cycle of 10,000 SKUs took 12 times as long). Writing the
array's text here, cast without the ``VARCHAR``, instead of psycopg's per-element
dumping, saves about 1 us per entry of a settle, of 100-130 us per update in all:
measured and left out.

Only fixed-shape statements belong here (no expanding ``IN`` lists; a list is one
array or JSON parameter, see :mod:`channelsync.store.sql._fast`). Listeners on the
engine see a driver statement's text and parameters, not a compiled statement: where
one watches inserts of a table (the workers' flush on commit watches the outbox's),
enough of them must still go through the typed statement (see
``SqlOutbox.enqueue_many``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import ARRAY, Connection, CursorResult, Executable

from channelsync.store.sql.engine import translated_schema

__all__ = [
    "DriverStatement",
    "TimesRead",
    "driver_statement",
    "read_json",
    "read_time",
    "run_many",
    "stored_json",
    "stored_time",
]


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled for one dialect and schema, with its parameters' order."""

    sql: str
    names: tuple[str, ...] | None
    """The bound parameters' names in a positional driver's order; ``None``: by name."""
    fixed: Mapping[str, Any]
    """Values the statement carries itself (SQLite's ``OFFSET 0`` after a bound ``LIMIT``)."""
    row: tuple[str, ...]
    """The names of the values of each row given to :meth:`run_many`, in their order."""

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """Return ``values`` (already converted) in the form the driver takes."""
        if self.fixed:
            values = {**self.fixed, **values}
        if self.names is not None:
            return tuple(values[name] for name in self.names)
        return values

    def run(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> CursorResult[*tuple[Any, ...]]:
        """Execute once with ``values``."""
        return connection.exec_driver_sql(
            self.sql, self.parameters(values), execution_options=_ROWCOUNT
        )

    def run_many(
        self, connection: Connection, rows: Sequence[Sequence[Any]]
    ) -> CursorResult[*tuple[Any, ...]] | None:
        """Execute once per row (values in :attr:`row` order) with the driver's ``executemany``.

        Nothing is run for no rows.
        """
        if not rows:
            return None
        names = self.names
        if names is not None and not self.fixed:
            if names == self.row:
                return connection.exec_driver_sql(self.sql, list(rows))
            if len(names) > 1:
                pick = itemgetter(*(self.row.index(name) for name in names))
                return connection.exec_driver_sql(self.sql, [pick(row) for row in rows])
        row = self.row
        return connection.exec_driver_sql(
            self.sql, [self.parameters(dict(zip(row, values, strict=True))) for values in rows]
        )

    def run_mappings(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> CursorResult[*tuple[Any, ...]] | None:
        """Like :meth:`run_many`, each row a mapping of parameter names to values."""
        if not rows:
            return None
        names, fixed = self.names, self.fixed
        if names is None:
            values = [{**fixed, **row} for row in rows] if fixed else list(rows)
            return connection.exec_driver_sql(self.sql, values)
        if fixed:
            return connection.exec_driver_sql(
                self.sql, [tuple({**fixed, **row}[k] for k in names) for row in rows]
            )
        if len(names) == 1:
            only = names[0]
            return connection.exec_driver_sql(self.sql, [(row[only],) for row in rows])
        # One C call per row picks its values in the driver's order.
        pick = itemgetter(*names)
        return connection.exec_driver_sql(self.sql, [pick(row) for row in rows])


# A driver statement's rowcount, read after its result is closed (an insert's too).
_ROWCOUNT = {"preserve_rowcount": True}

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
    Compiled on first use per dialect and schema (``name`` must say which statement
    it is, and ``build`` must always build the same one): the text names the
    workspace's schema itself, because a driver statement is not translated at
    execution. Every value that needs a conversion must be a named ``bindparam``.
    """
    schema = translated_schema(connection)
    key = (connection.dialect.name, schema, name)
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = _compile(connection, name, build(), schema, tuple(row))
    return found


def _compile(
    connection: Connection,
    name: str,
    statement: Executable,
    schema: str | None,
    row: tuple[str, ...],
) -> DriverStatement:
    options: dict[str, Any] = {}
    if schema is not None:
        options = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
    compiled = statement.compile(dialect=connection.dialect, **options)  # type: ignore[attr-defined]
    if compiled.escaped_bind_names:
        raise ValueError(f"statement {name}: name its parameters with plain words")
    fixed = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}
    if not all(isinstance(value, bool | int | str) for value in fixed.values()):
        raise TypeError(f"statement {name}: bind every value that needs a conversion")
    sql: str = compiled.string
    if connection.dialect.name == "postgresql":
        for bind_name, bind in compiled.binds.items():
            if isinstance(bind.type, ARRAY):
                # psycopg's binary form of an array: no escaping of its elements.
                sql = sql.replace(f"%({bind_name})s", f"%({bind_name})b")
    names = tuple(compiled.positiontup or ()) if compiled.positional else None
    return DriverStatement(sql, names, fixed, row)


def run_many(
    connection: Connection,
    name: str,
    build: Callable[[], Executable],
    rows: Sequence[Mapping[str, Any]],
) -> CursorResult[Any] | None:
    """Run statement ``name`` once per row with the driver's ``executemany``; none for no rows.

    ``build`` returns the statement, each value a ``bindparam`` named as the rows' keys;
    it is compiled on first use per dialect and schema (see :func:`driver_statement`).
    The rows' values must be stored forms already (:func:`stored_time`, :func:`stored_json`).
    """
    if not rows:
        return None
    return driver_statement(connection, name, build).run_mappings(connection, rows)


def stored_time(connection: Connection) -> Callable[[datetime], Any]:
    """Return how an aware time is stored on ``connection``, as ``UtcDateTime`` stores it."""
    return _sqlite_time if connection.dialect.name == "sqlite" else _naive_utc


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value.replace(tzinfo=None)
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store only keeps aware times")
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text: compared as text, so always the same width.
    if value.tzinfo is UTC:
        # The common case, without the conversions: the text less its "+00:00".
        return value.isoformat(" ", "microseconds")[:-6]
    return _naive_utc(value).isoformat(" ", "microseconds")


def stored_json(value: Any) -> str:
    """Return the text a JSON column stores for ``value`` (as SQLAlchemy's ``JSON`` writes it).

    The text ``json.dumps`` gives with its defaults, from one encoder made once: a store
    writes tens of thousands of small documents a cycle, and ``json.dumps`` builds its
    encoder anew for each.
    """
    if _ENCODE is None:
        return json.dumps(value)
    return "".join(_ENCODE(value, 0))


def _one_encoder() -> Callable[[Any, int], Sequence[str]] | None:
    """Return the C encoder ``json.dumps`` uses with its defaults, or ``None`` without one."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    # json.JSONEncoder.iterencode's arguments for dumps' defaults (ensure_ascii,
    # allow_nan, no indent, separators ", " and ": ", unsorted keys, no skipkeys), but
    # no table of containers being encoded: one table shared by every call could be
    # left holding an entry by a call that raised. Stored documents are never circular.
    encoder: Callable[[Any, int], Sequence[str]] = make(
        None,
        json.JSONEncoder().default,
        json.encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )
    return encoder


_ENCODE = _one_encoder()


def read_time(value: Any) -> datetime:
    """Return a stored ``UtcDateTime`` (SQLite's text or the driver's datetime) as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimesRead(dict[Any, Any]):
    """Stored times read as aware UTC datetimes (``None`` as ``None``), each value once.

    A bulk read's times are mostly a few values (the rows written by one call share
    theirs): ``times[value]`` converts a value the first time only.
    """

    def __missing__(self, value: Any) -> datetime | None:
        found = self[value] = None if value is None else read_time(value)
        return found


def read_json(value: Any) -> Any:
    """Return the value a stored JSON column holds (SQLite gives its text, psycopg parses it)."""
    return json.loads(value) if isinstance(value, str | bytes) else value
