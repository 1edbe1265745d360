"""The planner's statistics of a PostgreSQL store's tables, gathered again after bulk writes.

PostgreSQL plans a statement from what it knows of its tables (their rows and pages,
the spread of each column's values), which ``ANALYZE`` gathers. Autovacuum runs it on
a table once a tenth of it has changed, looking about once a minute, and not at all
where it is turned off. A store written in bulk outruns it: right after a first
binding of 100,000 SKUs on 4 channels the listings had no statistics, and the planner,
guessing that a slice's 1,000 SKUs matched a quarter of the table, read their 4,000
listings by walking the whole of another index in its order (90 to 240 ms a slice,
against 5 ms once analysed: 9 s of a first cycle's planning).

So the store counts the rows each transaction writes in bulk
(:func:`~channelsync.store.sql._fast.insert_rows` calls :func:`note_written`). After
the commit of one that wrote at least :data:`MIN_ROWS` rows into a table, it looks up
the table's size: a table never analysed, or grown to :data:`GROWTH` times the pages
it had when last analysed, is analysed at once, outside the transaction. Doubling
keeps it to a few runs as a table is filled (each reads a sample of at most 30,000
rows: 50 to 250 ms on 400,000 listings). ``ANALYZE (SKIP_LOCKED)`` leaves a table that
another process is analysing or vacuuming to that process. A store copied whole is
analysed whole (:func:`analyse_tables`). A failure is logged and changes nothing: the
commit stands. SQLite's planner needs no statistics for the store's keyed statements;
nothing is done there.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import SQLAlchemyError

from channelsync.store.sql.errors import described

__all__ = [
    "GROWTH",
    "MIN_ROWS",
    "analyse_tables",
    "forget_written",
    "note_written",
    "refresh_statistics",
]

logger = logging.getLogger(__name__)

#: The rows a transaction writes into one table at once for the table's size to be checked.
MIN_ROWS = 1_000
#: How many times its pages when last analysed a table has grown to be analysed again.
GROWTH = 2

_WRITTEN = "channelsync_rows_written"

_SIZES = text(
    "SELECT c.relname, c.reltuples, c.relpages,"
    " pg_relation_size(c.oid) / current_setting('block_size')::integer"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relname IN :names AND c.relkind = 'r'"
    " AND n.nspname = coalesce(:schema, current_schema())"
).bindparams(bindparam("names", expanding=True))


def note_written(connection: Connection, table: str, rows: int) -> None:
    """Count ``rows`` written in bulk into ``table`` by the connection's transaction."""
    if connection.dialect.name != "postgresql":
        return
    written: Counter[str] = connection.info.setdefault(_WRITTEN, Counter())
    written[table] += rows


def forget_written(connection: Connection) -> dict[str, int]:
    """Return and clear the rows counted on ``connection`` (its transaction's, once committed)."""
    return dict(connection.info.pop(_WRITTEN, None) or {})


def refresh_statistics(engine: Engine, written: Mapping[str, int], schema: str | None) -> list[str]:
    """Analyse the tables of ``written`` grown past their statistics; return their names.

    ``written`` counts the rows a committed transaction wrote per table; ``schema`` is
    the tables' schema (``None``: the connection's own).
    """
    names = sorted(table for table, rows in written.items() if rows >= MIN_ROWS)
    return _analyse(engine, names, schema, only_stale=True) if names else []


def analyse_tables(engine: Engine, tables: Iterable[str], schema: str | None) -> list[str]:
    """Analyse ``tables`` whatever their statistics (after a store is copied); return them."""
    names = sorted(tables)
    return _analyse(engine, names, schema, only_stale=False) if names else []


def _analyse(
    engine: Engine, names: list[str], schema: str | None, *, only_stale: bool
) -> list[str]:
    try:
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            chosen = _stale(connection, names, schema) if only_stale else names
            preparer = connection.dialect.identifier_preparer
            for table in chosen:
                qualified = preparer.quote(table)
                if schema is not None:
                    qualified = f"{preparer.quote_schema(schema)}.{qualified}"
                connection.execute(text(f"ANALYZE (SKIP_LOCKED) {qualified}"))
    except SQLAlchemyError as error:
        # The plans stay as they were until autovacuum or the next bulk write analyses.
        logger.warning("statistics of %s not gathered: %s", ", ".join(names), described(error))
        return []
    return chosen


def _stale(connection: Connection, names: list[str], schema: str | None) -> list[str]:
    """Return those of ``names`` never analysed, or grown to :data:`GROWTH` times since."""
    stale = []
    for name, tuples, analysed, pages in connection.execute(
        _SIZES, {"names": names, "schema": schema}
    ):
        if tuples < 0 or pages >= GROWTH * max(analysed, 1):
            stale.append(name)
    return sorted(stale)
