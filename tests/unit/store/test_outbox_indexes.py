"""The outbox's partial indexes: what the upgrade to them keeps, and that reads use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select

from channelsync.store import OutboxState, SqlStore, Store, open_store
from channelsync.store import schema as t
from channelsync.store.sql._driver import driver_statement, stored_time
from channelsync.store.sql.engine import build_engine, migrate
from channelsync.store.sql.outbox_statements import (
    due_after_parameters,
    due_by_parameters,
    in_state,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def _row(channel: str, key: str, state: str, urgency: int, due: datetime) -> dict[str, Any]:
    return {
        "channel": channel,
        "kind": "stock",
        "key": key,
        "payload": {"quantity": urgency},
        "version": 1,
        "urgency": urgency,
        "state": state,
        "attempts": 0,
        "next_attempt_at": due,
        "reason": "bad sku" if state == "parked" else None,
        "updated_at": NOW,
    }


def test_an_upgrade_from_full_indexes_keeps_every_entry_where_it_was(store_url: str) -> None:
    engine = build_engine(store_url)
    try:
        with engine.begin() as connection:
            migrate(connection, "0018")
            connection.execute(
                insert(t.outbox),
                [
                    _row("tmall", "a", "pending", 2, NOW),
                    _row("tmall", "b", "pending", 0, NOW),
                    _row("tmall", "c", "pending", 1, LATER),
                    _row("tmall", "d", "sent", 0, NOW),
                    _row("tmall", "e", "parked", 0, NOW),
                    _row("jd", "f", "parked", 1, NOW),
                    _row("jd", "g", "sent", 2, NOW),
                ],
            )
            migrate(connection)
    finally:
        engine.dispose()
    store = open_store(store_url)
    try:
        with store.transaction() as s:
            assert [i.key for i in s.due("tmall", "stock", NOW, 10)] == ["b", "a"]
            assert [i.key for i in s.due("tmall", "stock", LATER, 10)] == ["b", "c", "a"]
            assert s.due("jd", "stock", LATER, 10) == []
            assert {i.key for i in s.outbox(state=OutboxState.PARKED)} == {"e", "f"}
            counts = s.channel_counts()
            assert s.channels_with_work(NOW, "waiting for credentials") == {"tmall"}
            assert s.drop_parked("jd", "stock", "f") is not None
            assert s.drop_parked("jd", "stock", "g") is None  # sent, not parked
            assert s.requeue_parked(NOW, "tmall") == 1
            assert [i.key for i in s.due("tmall", "stock", NOW, 10)] == ["b", "e", "a"]
    finally:
        store.close()
    assert (counts["tmall"].pending, counts["tmall"].parked) == (3, 1)
    assert (counts["jd"].pending, counts["jd"].parked) == (0, 1)


def _plan(connection: Connection, sql: str, values: Any) -> str:
    """Return the database's plan of ``sql`` as one lower-case text."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", values).all()
        return " ".join(str(row[-1]) for row in rows).lower()
    # A handful of rows: without this, a sequential scan is the cheaper plan.
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = connection.exec_driver_sql(f"EXPLAIN {sql}", values).all()
    return " ".join(str(row[0]) for row in rows).lower()


def _compiled(connection: Connection, query: Select[Any]) -> str:
    return str(query.compile(connection, compile_kwargs={"literal_binds": True}))


def test_the_due_read_and_the_counts_use_the_partial_indexes(store: Store) -> None:
    assert isinstance(store, SqlStore)
    with store.transaction() as s:
        for number in range(20):
            state = OutboxState.SENT if number % 2 else OutboxState.PENDING
            s.enqueue(channel="c", kind="stock", key=f"k{number}", payload={}, urgency=0, now=NOW)
            if state is OutboxState.SENT:
                (item,) = [i for i in s.outbox(channel="c") if i.key == f"k{number}"]
                s.settle(item.id, item.version, state, now=NOW)
    o = t.outbox.c
    with store.engine.begin() as connection:
        due = driver_statement(connection, "outbox.due", due_by_parameters)
        values = {"channel": "c", "kind": "stock", "now": stored_time(connection)(NOW), "limit": 5}
        assert "ix_outbox_due" in _plan(connection, due.sql, due.parameters(values))
        for state, index in [
            (OutboxState.PENDING, "ix_outbox_due"),
            (OutboxState.PARKED, "ix_outbox_parked"),
        ]:
            count = select(o.channel, func.count()).where(in_state(state)).group_by(o.channel)
            assert index in _plan(connection, _compiled(connection, count), ())


def test_a_read_on_from_an_entry_starts_the_index_scan_after_it(store: Store) -> None:
    assert isinstance(store, SqlStore)
    with store.transaction() as s:
        for key, urgency in [("a", 2), ("b", 0), ("c", 2), ("d", 1), ("e", 2)]:
            s.enqueue(channel="c", kind="stock", key=key, payload={}, urgency=urgency, now=NOW)
        s.enqueue(channel="c", kind="stock", key="f", payload={}, urgency=1, now=LATER)
        every = s.due("c", "stock", LATER, 10)
        assert [i.key for i in every] == ["b", "d", "f", "a", "c", "e"]
        for position, item in enumerate(every):
            after = s.due("c", "stock", LATER, 10, after=item)
            assert [i.key for i in after] == [i.key for i in every[position + 1 :]]
        (d,) = [i for i in every if i.key == "d"]
        assert [i.key for i in s.due("c", "stock", NOW, 2, after=d)] == ["a", "c"]
    with store.engine.begin() as connection:
        due = driver_statement(connection, "outbox.due_after", due_after_parameters)
        stamp = stored_time(connection)
        values = {
            "channel": "c",
            "kind": "stock",
            "now": stamp(NOW),
            "limit": 5,
            "after_urgency": 1,
            "after_at": stamp(NOW),
            "after_id": d.id,
        }
        plan = _plan(connection, due.sql, due.parameters(values))
    assert "ix_outbox_due" in plan
    # The position bounds the scan (an index condition), not only filters its rows.
    assert "(urgency,next_attempt_at" in plan.replace(" ", "").replace("row(", "(")
    assert "filter" not in plan
