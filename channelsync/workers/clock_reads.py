"""What a clock tick reads of its workspaces: on PostgreSQL, one statement for them all.

A tick looks at every workspace with steps due (:meth:`WorkerRuntime.clock_view`):
its paused channels and, when asked, the channels whose flush has work and the
listening channels with events left unanswered. Read one workspace at a time, a tick
of hundreds of merchants spent most of its CPU on those small transactions. On
PostgreSQL a workspace is a schema of one database, so :func:`read_clock_views` reads
them all in one ``UNION ALL`` statement, each workspace's rows tagged with a number of
its own. Workspaces on another kind of store (SQLite: a file each) are read one by
one, as :meth:`WorkerRuntime.clock_view` reads them; both give the same answers.

Each workspace's part of the statement is compiled once (the schema it names is its
own): which workspaces a tick reads changes from tick to tick, and compiling the
whole statement of two hundred workspaces anew cost more CPU than the reads it
replaced. What a workspace's part reads is chosen by bound values.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Dialect,
    Integer,
    Label,
    String,
    Table,
    TableClause,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    true,
    union_all,
)

from channelsync.daemon.listening import listens
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.pausing import PAUSED_CURSOR
from channelsync.store import SqlStore
from channelsync.store import schema as t
from channelsync.store.outbox import OutboxState
from channelsync.store.schema import UtcDateTime
from channelsync.store.sql._driver import stored_time
from channelsync.store.sql.engine import is_postgres
from channelsync.workers.runtime import ClockView, WorkerRuntime

__all__ = ["ClockRead", "read_clock_views"]

# What each row of the statement tells of its channel (the rows' second column).
_PAUSED, _FLUSHES, _ANSWERS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class ClockRead:
    """One workspace a tick reads, and what it needs of it (see ``clock_view``)."""

    runtime: WorkerRuntime
    flushes: bool = False
    """Read the channels whose flush has work now."""
    answers: bool = False
    """Read the listening channels with events not yet answered."""


def read_clock_views(reads: Sequence[ClockRead]) -> dict[str, ClockView]:
    """Return each workspace's :class:`ClockView`, by workspace name.

    The PostgreSQL workspaces of one database URL are read in one statement; any
    other workspace through its own :meth:`WorkerRuntime.clock_view`. Raises
    :class:`ValueError` when a workspace is given twice (by name, or by its tables).
    """
    names = [read.runtime.workspace for read in reads]
    if len(set(names)) != len(names):
        raise ValueError(f"a tick reads each workspace once; given: {', '.join(names)}")
    views: dict[str, ClockView] = {}
    # By URL: the URL's own schema (workspace ``default``) is what its search path names,
    # and stores of one URL share one engine. Runtimes on two databases: two statements.
    databases: dict[str, list[ClockRead]] = {}
    for read in reads:
        store = read.runtime.engine.store
        if isinstance(store, SqlStore) and is_postgres(store.base_url):
            databases.setdefault(store.base_url, []).append(read)
        else:
            runtime = read.runtime
            views[runtime.workspace] = runtime.clock_view(
                flushes=read.flushes, answers=read.answers
            )
    for batch in databases.values():
        views.update(_read_postgres(batch))
    return views


def _read_postgres(reads: Sequence[ClockRead]) -> dict[str, ClockView]:
    """Read the workspaces of one PostgreSQL database in one statement."""
    engine = _sql_store(reads[0].runtime).engine
    parts = [_part(engine.dialect, _sql_store(read.runtime).schema) for read in reads]
    if len({part.tag for part in parts}) != len(parts):
        # Runtimes named apart (``workspace=``) on one workspace's tables.
        raise ValueError("a tick reads each workspace once; two runtimes share one's tables")
    values: dict[str, Any] = dict(_CONSTANTS)
    # A read that writes nothing: rolled back when the connection is given back, and
    # the store's commit hooks (the workers' own) never run for it.
    with engine.connect() as connection:
        stored = stored_time(connection)
        for read, part in zip(reads, parts, strict=True):
            listening = any(listens(channel) for channel in read.runtime.channels.values())
            tag = part.tag
            # Each workspace's own clock, as its clock_view reads it.
            values[f"now_{tag}"] = stored(read.runtime.engine.context.clock.now())
            values[f"flushes_{tag}"] = read.flushes
            # No listening channel: nothing to read, as clock_view reads none.
            values[f"answers_{tag}"] = read.answers and listening
        # For this transaction only: hundreds of small tables looked like work for
        # parallel workers, each of which then opened every one of them (measured at
        # two hundred workspaces: four times slower than the backend alone).
        connection.execute(_SERIAL)
        sql = "\nUNION ALL\n".join(part.sql for part in parts)
        # Run on the driver: the text names each schema itself (an engine's schema map,
        # if it has one, is not applied to it).
        rows = connection.exec_driver_sql(sql, values).all()
    views = {part.tag: (read, ClockView()) for read, part in zip(reads, parts, strict=True)}
    for tag, fact, channel in rows:
        view = views[tag][1]
        {_PAUSED: view.paused, _FLUSHES: view.flushes, _ANSWERS: view.answers}[fact].add(channel)
    found: dict[str, ClockView] = {}
    for read, view in views.values():
        # Only the channels this worker runs, as clock_view answers.
        known = read.runtime.channels
        view.paused = {name for name in view.paused if name in known}
        view.flushes = {name for name in view.flushes if name in known}
        view.answers = {name for name in view.answers if name in known and listens(known[name])}
        found[read.runtime.workspace] = view
    return found


def _sql_store(runtime: WorkerRuntime) -> SqlStore:
    store = runtime.engine.store
    assert isinstance(store, SqlStore)  # sorted by read_clock_views
    return store


def _starts_with(prefix: str) -> str:
    """Return the LIKE pattern of the values starting with ``prefix`` (escape ``/``).

    As SQLAlchemy's ``startswith(..., autoescape=True)``, which ``channels_with_work``
    uses, escapes it: only a literal can be escaped there, and here it is bound.
    """
    for special in (_ESCAPE, "%", "_"):
        prefix = prefix.replace(special, _ESCAPE + special)
    return f"{prefix}%"


# The escape character of the parked reason's LIKE pattern.
_ESCAPE = "/"
#: The values every workspace's part reads with, bound once per statement.
_CONSTANTS = {
    "paused_kind": PAUSED_CURSOR,
    "pending": OutboxState.PENDING.value,
    "parked": OutboxState.PARKED.value,
    "waiting": _starts_with(WAITING_FOR_CREDENTIALS),
}
_SERIAL = select(func.set_config("max_parallel_workers_per_gather", "0", true()))
# The tags of the workspaces' parts: one number each, never given twice in a process.
_tags = itertools.count()


@dataclass(frozen=True, slots=True)
class _Part:
    """One workspace's part of the statement: its rows' tag and its compiled text."""

    tag: int
    sql: str


@lru_cache(maxsize=4096)
def _part(dialect: Dialect, schema: str | None) -> _Part:
    """Return the part reading the workspace of ``schema`` (``None``: the URL's own).

    Its rows are ``(tag, fact, channel)``. It reads the paused channels; the channels
    whose flush has work when ``flushes_<tag>`` is true (with ``now_<tag>``, stored
    naive UTC), and those with events not yet answered when ``answers_<tag>`` is: a
    false one is a filter PostgreSQL settles before reading anything.
    """
    tag = next(_tags)
    cursors, outbox, inbox = (_table(found, schema) for found in (t.cursors, t.outbox, t.inbox))
    marked: Label[int] = literal_column(str(tag), Integer()).label("tag")

    def fact(kind: int) -> Label[int]:
        return literal_column(str(kind), Integer()).label("fact")

    c, o, i = cursors.c, outbox.c, inbox.c
    paused = select(marked, fact(_PAUSED), c.channel).where(
        c.kind == bindparam("paused_kind", type_=String())
    )
    # As SqlOutbox.channels_with_work: due entries, and those parked for credentials.
    due = (o.state == bindparam("pending", type_=String())) & (
        o.next_attempt_at <= bindparam(f"now_{tag}", type_=UtcDateTime())
    )
    waiting = (o.state == bindparam("parked", type_=String())) & o.reason.like(
        bindparam("waiting", type_=String()), escape=_ESCAPE
    )
    flushes = (
        select(marked, fact(_FLUSHES), o.channel)
        .where(bindparam(f"flushes_{tag}", type_=Boolean()), due | waiting)
        .group_by(o.channel)
    )
    # One row per channel with an event not yet answered, not one read per channel.
    answers = (
        select(marked, fact(_ANSWERS), i.channel)
        .where(bindparam(f"answers_{tag}", type_=Boolean()), i.processed_at.is_(None))
        .group_by(i.channel)
    )
    compiled = union_all(paused, flushes, answers).compile(dialect=dialect)
    if compiled.positional:
        raise ValueError(f"the clock's read needs a driver taking named values ({dialect.name})")
    return _Part(tag, compiled.string)


def _table(found: Table, schema: str | None) -> TableClause:
    """Return the store's table ``found`` in ``schema`` (quoted by the compiler as needed)."""
    return table(found.name, *(column(c.name, c.type) for c in found.c), schema=schema)
