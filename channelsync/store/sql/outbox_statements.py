"""The outbox's statements and row values: upserts, settles and due reads.

Built here, once per dialect and schema where they run on the driver, for
:class:`~channelsync.store.sql.outbox.SqlOutbox`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Insert,
    Select,
    bindparam,
    literal_column,
    select,
    tuple_,
)

from channelsync.store import schema as t
from channelsync.store.base import OutboxEntry, OutboxState
from channelsync.store.sql._fast import Rows, update_rows

__all__ = [
    "ENQUEUED",
    "SETTLED",
    "due_by_parameters",
    "due_query",
    "enqueue_statement",
    "enqueued",
    "in_state",
    "plain",
    "settle_rows",
    "upsert",
]


def upsert(insert: Any) -> Insert:
    """Add to ``insert`` (the dialect's) the update of an entry already queued."""
    o = t.outbox.c
    statement: Insert = insert.on_conflict_do_update(
        index_elements=[o.channel, o.kind, o.key],
        set_={
            **{name: insert.excluded[name] for name in _REPLACED},
            "updated_at": insert.excluded.updated_at,
            # Each enqueue bumps the version, so an older answer never settles it.
            "version": o.version + literal_column("1"),
        },
    )
    return statement


def enqueue_statement(insert: Any) -> Insert:
    """Return the typed upsert of one entry from ``insert`` (the dialect's), every value bound."""
    return upsert(insert.values({name: bindparam(name) for name in ENQUEUED}))


_REPLACED = ("payload", "urgency", "state", "attempts", "next_attempt_at", "reason")
# Every column but the id, in the table's order: SQLite takes rows in it as they are.
ENQUEUED = tuple(c.name for c in t.outbox.columns if c.name != "id")


def enqueued(entry: OutboxEntry, now: datetime) -> dict[str, Any]:
    """Return the values of an entry's typed upsert."""
    return {
        "channel": entry.channel,
        "kind": entry.kind,
        "key": entry.key,
        "payload": dict(entry.payload),
        "version": 1,
        "urgency": entry.urgency,
        "state": OutboxState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "reason": None,
        "updated_at": now,
    }


def plain(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``payload`` as a dict for the JSON encoder (copied only when it is not one)."""
    return payload if type(payload) is dict else dict(payload)


# A settle's values per outcome, in the order SQLite takes them (see ``settle_many``).
SETTLED = ("state", "_attempt", "next_attempt_at", "reason", "updated_at", "_id", "_version")


def settle_rows(
    connection: Connection, rows: Sequence[tuple[Any, ...]]
) -> CursorResult[Any] | None:
    """Settle the version of each row's entry (see ``SETTLED``); its rowcount: those settled."""
    return update_rows(
        connection,
        "outbox.settle",
        t.outbox,
        Rows(SETTLED, rows),
        where={"_id": "id", "_version": "version"},
        values={name: name for name in ("state", "reason", "next_attempt_at", "updated_at")},
        increments={"_attempt": "attempts"},
    )


def in_state(state: OutboxState) -> ColumnElement[bool]:
    """Return "the entry is in ``state``" with the state written as a literal.

    The outbox's indexes are partial (``state = 'pending'``, ``state = 'parked'``): a
    planner uses one when it can see the query names that same state. A literal it
    always sees; a bound value only when the plan is made for that value (SQLite's
    re-prepare, PostgreSQL's custom plans), which a generic plan would not be.
    """
    return t.outbox.c.state == literal_column(f"'{state.value}'")


def due_by_parameters() -> Select[Any]:
    """Select what :meth:`SqlOutbox.due` needs of the due entries, all values bound."""
    o = t.outbox.c
    return (
        select(
            o.id, o.key, o.payload, o.version, o.urgency, o.attempts, o.next_attempt_at, o.reason
        )
        .where(
            in_state(OutboxState.PENDING),
            o.channel == bindparam("channel"),
            o.kind == bindparam("kind"),
            o.next_attempt_at <= bindparam("now"),
        )
        .order_by(o.urgency, o.next_attempt_at, o.id)
        .limit(bindparam("limit"))
    )


def due_after_parameters() -> Select[Any]:
    """Select as :func:`due_by_parameters` the entries after a given one in its order.

    The position is compared as one row value, ``(urgency, next_attempt_at, id) >
    (...)``, which both databases start an index scan at: the due index's entries in
    front of it (on PostgreSQL, those of entries settled since and not yet vacuumed)
    are never walked.
    """
    o = t.outbox.c
    position = tuple_(o.urgency, o.next_attempt_at, o.id)
    after = tuple_(
        bindparam("after_urgency", type_=o.urgency.type),
        bindparam("after_at", type_=o.next_attempt_at.type),
        bindparam("after_id", type_=o.id.type),
    )
    return due_by_parameters().where(position > after)


def due_query(channel: str, kind: str, now: datetime, limit: int | None) -> Select[Any]:
    """Select a channel's pending entries of ``kind`` due by ``now``, most urgent first."""
    o = t.outbox.c
    query = (
        select(t.outbox)
        .where(
            in_state(OutboxState.PENDING),
            o.channel == channel,
            o.kind == kind,
            o.next_attempt_at <= now,
        )
        .order_by(o.urgency, o.next_attempt_at, o.id)
    )
    return query if limit is None else query.limit(limit)
