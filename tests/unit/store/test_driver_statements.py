"""The hot statements run on the driver read and write exactly what the typed ones do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from channelsync.store import (
    AuditEntry,
    ListingBinding,
    OutboxEntry,
    OutboxState,
    Settlement,
    SkuData,
    SqlStore,
    Store,
    open_store,
)
from channelsync.store import schema as t

NOW = datetime(2026, 1, 1, 8, 30, 15, 123456, tzinfo=UTC)
# The same moment elsewhere: stored as UTC whatever the zone it is given in.
EAST = NOW.astimezone(timezone(timedelta(hours=8)))


def test_audit_rows_written_in_bulk_read_back_like_single_ones(store: Store) -> None:
    sent = {"quantity": 3, "amount": "19.90", "nested": {"a": [1, 2]}}
    with store.transaction() as s:
        s.audit(channel="tmall", kind="stock", key="A", sent=sent, ok=True, answer=None, now=NOW)
        s.audit_many(
            [
                AuditEntry(EAST, "tmall", "stock", "B", sent, True, None),
                AuditEntry(NOW + timedelta(seconds=1), "tmall", "price", "C", {}, False, "(x) no"),
            ]
        )
    with store.transaction() as s:
        trail = s.audit_trail(channel="tmall")
        later = s.audit_trail(channel="tmall", since=NOW + timedelta(microseconds=1))
    assert [(e.key, e.at, e.sent, e.ok, e.answer) for e in trail] == [
        ("A", NOW, sent, True, None),
        ("B", NOW, sent, True, None),
        ("C", NOW + timedelta(seconds=1), {}, False, "(x) no"),
    ]
    assert all(e.at.tzinfo is UTC for e in trail)
    # Compared in the database as the typed column stores it.
    assert [e.key for e in later] == ["C"]


def test_bulk_audit_refuses_a_naive_time(store: Store) -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive datetime"), store.transaction() as s:
        s.audit_many([AuditEntry(naive, "tmall", "stock", "A", {}, True, None)])


def test_sqlite_stores_bulk_times_in_the_typed_columns_text(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(store, SqlStore)
    try:
        with store.transaction() as s:
            s.audit(channel="c", kind="k", key="one", sent={}, ok=True, answer=None, now=EAST)
            s.audit_many([AuditEntry(EAST, "c", "k", "many", {}, True, None)])
        with store.engine.connect() as connection:
            raw = connection.exec_driver_sql("SELECT key, at FROM audit ORDER BY id").all()
    finally:
        store.close()
    assert raw == [("one", "2026-01-01 08:30:15.123456"), ("many", "2026-01-01 08:30:15.123456")]


def _queue(store: Store, *keys: str) -> None:
    with store.transaction() as s:
        s.enqueue_many(
            [
                OutboxEntry(
                    "tmall", "stock", key, {"quantity": i, "merchant_code": key}, urgency=i % 2
                )
                for i, key in enumerate(keys)
            ],
            NOW,
        )


def test_due_matches_the_outbox_listing_and_honours_order_limit_and_time(store: Store) -> None:
    _queue(store, "A", "B", "C")
    with store.transaction() as s:
        s.enqueue(channel="tmall", kind="stock", key="D", payload={"q": 1}, urgency=0, now=EAST)
        s.enqueue(channel="jd", kind="stock", key="A", payload={}, urgency=0, now=NOW)
        listed = {i.key: i for i in s.outbox(channel="tmall")}
        due = s.due("tmall", "stock", NOW, 10)
        first_two = s.due("tmall", "stock", NOW, 2)
        early = s.due("tmall", "stock", NOW - timedelta(microseconds=1), 10)
        prices = s.due("tmall", "price", NOW, 10)
    assert [i.key for i in due] == ["A", "C", "D", "B"]  # urgency, then time, then id
    assert due == [listed[i.key] for i in due]
    assert [i.key for i in first_two] == ["A", "C"]
    assert early == prices == []
    assert due[0].next_attempt_at.tzinfo is UTC


def test_settle_many_answers_per_version_and_records_each_outcome(store: Store) -> None:
    _queue(store, "A", "B", "C")
    with store.transaction() as s:
        a, b, c = sorted(s.due("tmall", "stock", NOW, 10), key=lambda i: i.key)
    _queue(store, "C")  # a newer value of C: the answer for the old one settles nothing
    later = NOW + timedelta(minutes=5)
    with store.transaction() as s:
        answers = s.settle_many(
            [
                Settlement(a.id, a.version, OutboxState.SENT),
                Settlement(b.id, b.version, OutboxState.PENDING, "(busy)", EAST + timedelta(1)),
                Settlement(c.id, c.version, OutboxState.PARKED, "no"),
            ],
            later,
        )
        after = {i.key: i for i in s.outbox(channel="tmall")}
    assert answers == [True, True, False]
    assert (after["A"].state, after["A"].attempts, after["A"].next_attempt_at) == (
        OutboxState.SENT,
        0,
        later,
    )
    assert (after["B"].state, after["B"].attempts, after["B"].reason) == (
        OutboxState.PENDING,
        1,
        "(busy)",
    )
    assert after["B"].next_attempt_at == NOW + timedelta(days=1)
    assert (after["C"].state, after["C"].version) == (OutboxState.PENDING, c.version + 1)


def test_bindings_read_in_bulk_equal_the_typed_reads(store: Store) -> None:
    with store.transaction() as s:
        ids = s.upsert_skus([SkuData(c, None, c, "1.00", "CNY") for c in ("A", "B")], NOW)
        s.upsert_bindings(
            [
                ListingBinding("tmall", "1", None, ids["A"], "A", title="Mug", channel_quantity=4),
                ListingBinding("tmall", "2", "s", ids["B"], "B"),
                ListingBinding("tmall", "3", None, None, "Z", manual=False),
            ],
            EAST,
        )
        (first, *_) = s.bindings(channel="tmall")
        s.set_sent_many(quantities={first.id: 7}, prices={first.id: "9.90"}, now=NOW)
        s.set_hold(first.id, NOW, 3)
    with store.transaction() as s:
        every = s.bindings()
        by_sku = s.bindings(sku_ids=[ids["B"]])
        of_items = s.bindings_of_items("tmall", ["2", "3"])
        by_listing = s.bindings_for_listings("tmall", [("1", None), ("2", "s")])
        asked = [("1", None), ("2", "s"), ("2", None), ("3", None), ("9", None)]
        skus_of = s.skus_of_listings("tmall", asked)
        typed = [s.binding_for_listing(b.channel, b.item_id, b.listing_sku_id) for b in every]
    assert every == typed
    assert [b.item_id for b in every] == ["1", "2", "3"]
    one = every[0]
    assert (one.sent_quantity, one.channel_quantity, one.sent_price, one.held_shown) == (
        7,
        7,
        "9.90",
        3,
    )
    assert one.sent_at == one.seen_at == one.held_since == NOW
    assert one.manual is False
    assert every[1].listing_sku_id == "s"
    assert every[2].sent_at is None
    assert every[2].sku_id is None
    assert by_sku == [every[1]]
    assert of_items == every[1:]
    assert by_listing == {("1", ""): every[0], ("2", "s"): every[1]}
    # Unbound ("3"), unknown ("9") and another SKU of a bound item ("2", "") are left out.
    assert skus_of == {("1", ""): ids["A"], ("2", "s"): ids["B"]}


def _every_hot_statement(store: Store, key: str) -> None:
    """Run each driver statement and row set in ``store``, its rows named by ``key``."""
    with store.transaction() as s:
        (sku,) = s.upsert_skus([SkuData(key, None, key, "1.00", "CNY")], NOW).values()
        listings = [ListingBinding("tmall", f"{key}{i}", None, sku, key) for i in range(3)]
        s.upsert_bindings(listings, NOW)
        s.upsert_bindings(listings, NOW + timedelta(seconds=1))  # updates of each
        ids = [b.id for b in s.bindings(sku_ids=[sku])]
        # The first entry of a channel is typed, the others a row set.
        s.enqueue_many([OutboxEntry("tmall", "stock", f"{key}{i}", {}, 1) for i in range(3)], NOW)
        s.set_planned_many(quantities=dict.fromkeys(ids, 4), prices=dict.fromkeys(ids, "4"))
    with store.transaction() as s:
        items = s.due("tmall", "stock", NOW, 10)
        s.audit_many([AuditEntry(NOW, "tmall", "stock", i.key, {}, True, None) for i in items])
        settled = s.settle_many([Settlement(i.id, i.version, OutboxState.SENT) for i in items], NOW)
        assert settled == [True] * 3
        s.set_sent_many(quantities=dict.fromkeys(ids, 5), prices=dict.fromkeys(ids, "5"), now=NOW)


def _assert_only_its_own(store: Store, key: str) -> None:
    own = [f"{key}{i}" for i in range(3)]
    with store.transaction() as s:
        assert [i.key for i in s.outbox()] == own
        assert {i.state for i in s.outbox()} == {OutboxState.SENT}
        assert [e.key for e in s.audit_trail()] == own
        bound = s.bindings()
        assert [b.item_id for b in bound] == own
        assert [b.item_id for b in s.bindings_of_items("tmall", own)] == own
    assert {(b.planned_quantity, b.sent_quantity, b.sent_price) for b in bound} == {(4, 5, "5")}
    assert {b.seen_at for b in bound} == {NOW}


def test_each_sqlite_workspace_runs_the_statements_on_its_own_file(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    north = open_store(store_url, workspace="north", create=True)
    south = open_store(store_url, workspace="south", create=True)
    try:
        for store, key in ((north, "N"), (south, "S")):
            _every_hot_statement(store, key)
        for store, key in ((north, "N"), (south, "S")):
            _assert_only_its_own(store, key)
    finally:
        north.close()
        south.close()


@pytest.mark.postgres
def test_the_statements_name_the_workspace_schema_on_postgres(
    postgres_database: str,
) -> None:
    stores = [open_store(postgres_database, workspace=w, create=True) for w in ("north", "south")]
    try:
        for store, key in zip(stores, ("N", "S"), strict=True):
            _every_hot_statement(store, key)
        for store, key in zip(stores, ("N", "S"), strict=True):
            _assert_only_its_own(store, key)
        assert isinstance(stores[0], SqlStore)
        with stores[0].engine.connect() as connection:
            schemas = connection.exec_driver_sql(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'audit'"
            ).scalars()
            audited = {
                schema: connection.exec_driver_sql(
                    f'SELECT count(*) FROM "{schema}".audit'
                ).scalar()
                for schema in schemas
            }
    finally:
        for store in stores:
            store.close()
    # Nothing written outside the two workspaces' schemas.
    assert sorted(audited.values()) == [0] * (len(audited) - 2) + [3, 3]


def test_a_bulk_enqueue_shows_every_channel_to_listeners_on_outbox_inserts(
    store: Store,
) -> None:
    # What the workers' flush on commit watches: the channels of outbox rows inserted.
    assert isinstance(store, SqlStore)
    heard: set[str] = set()

    def executed(*args: Any) -> None:
        context = args[4]
        compiled = context.compiled if context is not None else None
        if compiled is not None and getattr(compiled.statement, "table", None) is t.outbox:
            heard.update(str(row.get("channel")) for row in context.compiled_parameters)

    event.listen(store.engine, "after_cursor_execute", executed)
    try:
        with store.transaction() as s:
            s.enqueue_many(
                [
                    OutboxEntry(channel, "stock", f"{channel}-{i}", {"i": i}, urgency=2)
                    for i in range(3)
                    for channel in ("tmall", "jd", "amazon")
                ],
                NOW,
            )
            queued = s.outbox()
    finally:
        event.remove(store.engine, "after_cursor_execute", executed)
    assert heard == {"tmall", "jd", "amazon"}
    assert len(queued) == 9
    assert {(i.key, i.version, i.next_attempt_at) for i in queued if i.key.endswith("-2")} == {
        (f"{c}-2", 1, NOW) for c in ("tmall", "jd", "amazon")
    }
