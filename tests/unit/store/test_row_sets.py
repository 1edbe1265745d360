"""The hot bulk writes as row sets: read back as the typed writes, one statement per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DataError

from channelsync.store import (
    AuditEntry,
    BindingRecord,
    ListingBinding,
    OutboxEntry,
    OutboxItem,
    OutboxState,
    Settlement,
    SkuData,
    SqlStore,
    Store,
    open_store,
)
from channelsync.store import schema as t
from channelsync.store.bindings import BindingsSession
from channelsync.store.sql._fast import Rows, insert_rows, stored_time

NOW = datetime(2026, 1, 1, 8, 30, 15, 123456, tzinfo=UTC)
EAST = timezone(timedelta(hours=8))
WEST = timezone(-timedelta(hours=5, minutes=30))

# JSON a driver could get wrong: quotes, backslashes, unicode (also outside the BMP and
# the line separators), nesting, nulls, an empty document.
AWKWARD: list[dict[str, Any]] = [
    {"quote": 'say "hi"', "backslash": "a\\b\\\\c", "braces": "{x,y}"},
    {"unicode": "杭州 café \u2028\u2029 🎁", "nested": {"list": [1, None, {"deep": [True]}]}},
    {"null": None, "empty": "", "number": 19.9, "big": 10**15, "commas": "a, b; c"},
    {},
]


def _typed_and_bulk_audits(store: Store) -> tuple[list[Any], list[Any]]:
    times = [NOW, NOW.astimezone(EAST), NOW.astimezone(WEST) + timedelta(microseconds=1)]
    answers = [None, 'refused: "quota" \\ 配额', ""]
    rows = [(times[i % 3], sent, i % 2 == 0, answers[i % 3]) for i, sent in enumerate(AWKWARD * 3)]
    with store.transaction() as s:
        for i, (at, sent, ok, answer) in enumerate(rows):
            s.audit(
                channel="tmall", kind="stock", key=f"{i}", sent=sent, ok=ok, answer=answer, now=at
            )
        s.audit_many(
            [
                AuditEntry(at, "jd", "stock", f"{i}", sent, ok, answer)
                for i, (at, sent, ok, answer) in enumerate(rows)
            ]
        )
    with store.transaction() as s:
        typed = s.audit_trail(channel="tmall")
        bulk = s.audit_trail(channel="jd")
    return typed, bulk


def test_audit_rows_written_as_a_row_set_read_back_as_typed_ones(store: Store) -> None:
    typed, bulk = _typed_and_bulk_audits(store)
    assert len(bulk) == len(typed) == 12
    assert [replace(e, channel="tmall") for e in bulk] == typed
    assert [e.sent for e in bulk] == AWKWARD * 3
    assert {e.at for e in bulk} == {NOW, NOW + timedelta(microseconds=1)}
    assert all(e.at.tzinfo is UTC for e in bulk)
    assert [e.answer for e in bulk[:3]] == [None, 'refused: "quota" \\ 配额', ""]
    with store.transaction() as s:
        later = s.audit_trail(channel="jd", since=NOW + timedelta(microseconds=1))
    assert [e.key for e in later] == ["2", "5", "8", "11"]


def _item_values(item: OutboxItem) -> tuple[Any, ...]:
    """An entry's values but its id and channel."""
    return (
        item.kind,
        item.key,
        item.payload,
        item.version,
        item.urgency,
        item.state,
        item.attempts,
        item.next_attempt_at,
        item.reason,
    )


def test_an_enqueue_upserts_over_an_existing_entry_and_coalesces_as_typed_ones_do(
    store: Store,
) -> None:
    later = (NOW + timedelta(minutes=3)).astimezone(EAST)
    for channel in ("tmall", "jd"):
        with store.transaction() as s:
            s.enqueue(channel=channel, kind="stock", key="A", payload={}, urgency=1, now=NOW)
            s.enqueue(channel=channel, kind="price", key="A", payload={}, urgency=1, now=NOW)
            (old,) = s.due(channel, "stock", NOW, 10)
            # A parked entry: a new value queues it again from scratch.
            s.settle(old.id, old.version, OutboxState.PARKED, now=NOW, reason="(9) no")
    values = [
        ("stock", "FIRST", {"q": 0}, 4),
        ("stock", "A", AWKWARD[0], 0),
        ("stock", "B", AWKWARD[1], 2),
        ("stock", "B", AWKWARD[2], 3),  # coalesced: the later value of B wins
        ("price", "A", AWKWARD[2], 1),
        ("price", "C", {}, 2),
    ]
    with store.transaction() as s:
        # The first entry of a channel goes typed, the rest as one row set.
        s.enqueue_many([OutboxEntry("tmall", *value) for value in values], later)
        for kind, key, payload, urgency in values:
            s.enqueue(channel="jd", kind=kind, key=key, payload=payload, urgency=urgency, now=later)
        bulk = {(i.kind, i.key): i for i in s.outbox(channel="tmall")}
        typed = {(i.kind, i.key): i for i in s.outbox(channel="jd")}
    assert set(bulk) == {("stock", "FIRST"), ("stock", "A"), ("stock", "B"), ("price", "A")} | {
        ("price", "C")
    }
    a = bulk[("stock", "A")]
    assert (a.version, a.state, a.attempts, a.reason) == (2, OutboxState.PENDING, 0, None)
    assert (a.payload, a.urgency, a.next_attempt_at) == (AWKWARD[0], 0, later)
    assert a.next_attempt_at.tzinfo is UTC
    b = bulk[("stock", "B")]
    assert (b.version, b.payload, b.urgency) == (1, AWKWARD[2], 3)
    assert bulk[("price", "A")].version == 2
    # Typed, B is enqueued twice (version 2); coalesced in bulk, once (version 1).
    assert typed[("stock", "B")].version == 2
    typed[("stock", "B")] = replace(typed[("stock", "B")], version=1)
    assert {k: _item_values(i) for k, i in bulk.items()} == {
        k: _item_values(i) for k, i in typed.items()
    }


def test_settle_many_settles_current_versions_only_and_twice_as_one_by_one(store: Store) -> None:
    with store.transaction() as s:
        s.enqueue_many(
            [OutboxEntry(c, "stock", k, {"k": k}, 1) for c in ("tmall", "jd") for k in "ABCD"],
            NOW,
        )
        items = {(i.channel, i.key): i for i in s.outbox()}
        untouched = items[("tmall", "D")]
        # Replaced after it was read: the outcome for the old version settles nothing.
        s.enqueue(channel="tmall", kind="stock", key="C", payload={"k": 2}, urgency=1, now=NOW)
        s.enqueue(channel="jd", kind="stock", key="C", payload={"k": 2}, urgency=1, now=NOW)
    later = NOW + timedelta(seconds=5)
    retry = (later + timedelta(seconds=30)).astimezone(WEST)

    def outcomes(channel: str) -> list[Settlement]:
        a, b, c = (items[(channel, k)] for k in "ABC")
        return [
            Settlement(b.id, b.version, OutboxState.PENDING, 'busy "now"', retry),
            Settlement(a.id, a.version, OutboxState.SENT),
            Settlement(c.id, c.version, OutboxState.SENT),
            # The same entry twice: both count, the later outcome is the one kept.
            Settlement(b.id, b.version, OutboxState.PARKED, "gave up"),
            Settlement(10**9, 1, OutboxState.SENT),  # no such entry
        ]

    with store.transaction() as s:
        answers = s.settle_many(outcomes("tmall"), later)
        one_by_one = [
            s.settle(
                o.item_id,
                o.version,
                o.state,
                now=later,
                reason=o.reason,
                next_attempt_at=o.next_attempt_at,
            )
            for o in outcomes("jd")
        ]
        bulk = {i.key: i for i in s.outbox(channel="tmall")}
        typed = {i.key: i for i in s.outbox(channel="jd")}
    assert answers == one_by_one == [True, True, False, True, False]
    assert (bulk["A"].state, bulk["A"].attempts, bulk["A"].next_attempt_at) == (
        OutboxState.SENT,
        0,
        later,
    )
    assert (bulk["B"].state, bulk["B"].attempts, bulk["B"].reason) == (
        OutboxState.PARKED,
        2,
        "gave up",
    )
    assert (bulk["C"].state, bulk["C"].version) == (OutboxState.PENDING, 2)
    assert bulk["D"] == untouched
    assert {k: _item_values(i) for k, i in bulk.items()} == {
        k: _item_values(i) for k, i in typed.items()
    }


def test_settle_many_of_only_stale_versions_changes_nothing(store: Store) -> None:
    with store.transaction() as s:
        s.enqueue_many([OutboxEntry("tmall", "stock", k, {}, 1) for k in "AB"], NOW)
        before = s.outbox()
        s.enqueue_many([OutboxEntry("tmall", "stock", k, {"new": 1}, 1) for k in "AB"], NOW)
        replaced = s.outbox()
    with store.transaction() as s:
        stale = [Settlement(i.id, i.version, OutboxState.SENT) for i in before]
        assert s.settle_many(stale, NOW + timedelta(1)) == [False, False]
        assert s.outbox() == replaced


def _bound(store: Store, count: int, *channels: str) -> list[BindingRecord]:
    with store.transaction() as s:
        ids = s.upsert_skus([SkuData(f"S{i}", None, f"S{i}", "1.00", "CNY") for i in range(2)], NOW)
        s.upsert_bindings(
            [
                ListingBinding(c, f"i-{i}", None, ids[f"S{i % 2}"], f"S{i % 2}", title="T")
                for c in channels or ("tmall", "jd")
                for i in range(count)
            ],
            NOW,
        )
        return s.bindings()


def test_planned_and_sent_values_written_as_row_sets_read_back_as_typed_ones(
    store: Store,
) -> None:
    records = _bound(store, 4)
    tmall = [b.id for b in records if b.channel == "tmall"]
    jd = [b.id for b in records if b.channel == "jd"]
    sent_at = NOW.astimezone(EAST) + timedelta(microseconds=7)
    seen_at = sent_at + timedelta(minutes=5)
    prices = ["9.90", 'a "quoted" price', "", "12.00"]
    with store.transaction() as s:
        s.set_planned_many(
            quantities={i: n for n, i in enumerate(tmall)},
            prices=dict(zip(tmall, prices, strict=True)),
        )
        s.set_sent_many(quantities={tmall[0]: 0, tmall[1]: 5}, prices={tmall[2]: "1"}, now=sent_at)
        s.set_observed_many({tmall[3]: 7, tmall[2]: 4}, seen_at)
        for n, (i, price) in enumerate(zip(jd, prices, strict=True)):
            s.set_planned(i, quantity=n, price=price)
        s.set_sent(jd[0], quantity=0, now=sent_at)
        s.set_sent(jd[1], quantity=5, now=sent_at)
        s.set_sent(jd[2], price="1")
        # The default of a store written elsewhere: one set_observed per listing.
        BindingsSession.set_observed_many(s, {jd[3]: 7, jd[2]: 4}, seen_at)
    with store.transaction() as s:
        bulk = s.bindings(channel="tmall")
        typed = s.bindings(channel="jd")

    def values(b: BindingRecord) -> tuple[Any, ...]:
        return (*(getattr(b, f) for f in b.__slots__ if f not in {"id", "channel"}),)

    assert [values(b) for b in bulk] == [values(b) for b in typed]
    assert [b.planned_price for b in bulk] == prices
    assert (bulk[1].sent_quantity, bulk[1].channel_quantity, bulk[1].sent_at) == (
        5,
        5,
        NOW + timedelta(microseconds=7),
    )
    assert bulk[1].seen_at == bulk[1].sent_at
    # A look at the shop: what it showed then, whatever was sent.
    seen = NOW + timedelta(minutes=5, microseconds=7)
    assert [(b.channel_quantity, b.seen_at) for b in bulk[2:]] == [(4, seen), (7, seen)]


def test_planned_values_of_one_listing_or_both_kinds_each_set_only_what_was_given(
    store: Store,
) -> None:
    ids = [b.id for b in _bound(store, 4, "tmall")]
    with store.transaction() as s:
        s.set_planned_many(quantities=dict.fromkeys(ids, 1), prices=dict.fromkeys(ids, "1.00"))
    with store.transaction() as s:
        # Both for the first, a quantity alone for the second, a price alone for the
        # third; the fourth is not named and keeps what it had.
        s.set_planned_many(
            quantities={ids[0]: 5, ids[1]: 6}, prices={ids[2]: "7.00", ids[0]: "8.00"}
        )
    with store.transaction() as s:
        planned = {b.id: (b.planned_quantity, b.planned_price) for b in s.bindings()}
    assert [planned[i] for i in ids] == [(5, "8.00"), (6, "1.00"), (1, "7.00"), (1, "1.00")]


def test_bindings_read_by_many_sku_ids_equal_the_typed_reads(store: Store) -> None:
    with store.transaction() as s:
        ids = s.upsert_skus(
            [SkuData(f"S{i:04d}", None, "x", "1.00", "CNY") for i in range(1200)], NOW
        )
        s.upsert_bindings(
            [
                ListingBinding(c, f"i-{i:04d}", None if i % 3 else "v", sku, code)
                for c in ("tmall", "jd")
                for i, (code, sku) in enumerate(sorted(ids.items()))
            ]
            + [ListingBinding("jd", "unbound", None, None, "Z")],
            NOW.astimezone(WEST),
        )
    wanted = sorted(ids.values())[::2]
    with store.transaction() as s:
        every = s.bindings()
        some = s.bindings(sku_ids=iter(wanted))
        of_jd = s.bindings(channel="jd", sku_ids=wanted[:700])
        none = s.bindings(sku_ids=[])
        of_items = s.bindings_of_items("tmall", [f"i-{i:04d}" for i in range(0, 1200, 3)])
        typed = {
            (b.channel, b.item_id): s.binding_for_listing(b.channel, b.item_id, b.listing_sku_id)
            for b in every
        }
    assert len(every) == 2401
    assert every == [typed[(b.channel, b.item_id)] for b in every]
    keys = [(b.channel, b.item_id, b.listing_sku_id or "") for b in every]
    assert keys == sorted(keys)
    assert some == [b for b in every if b.sku_id in set(wanted)]
    assert len(some) == 1200
    assert of_jd == [b for b in every if b.channel == "jd" and b.sku_id in set(wanted[:700])]
    assert none == []
    assert [b.item_id for b in of_items] == [f"i-{i:04d}" for i in range(0, 1200, 3)]
    assert all(b.listing_sku_id == "v" for b in of_items)
    assert every[0].seen_at == NOW
    assert every[0].seen_at.tzinfo is UTC


@contextmanager
def _statements(store: Store) -> Iterator[list[bool]]:
    """Yield, per statement the store's driver runs meanwhile, whether it ran per row."""
    assert isinstance(store, SqlStore)
    ran: list[bool] = []

    def executed(*args: Any) -> None:
        ran.append(bool(args[-1]))  # executemany

    event.listen(store.engine, "before_cursor_execute", executed)
    try:
        yield ran
    finally:
        event.remove(store.engine, "before_cursor_execute", executed)


def _hot_writes(store: Store, count: int, channel: str) -> Callable[[], None]:
    """Prepare a plan's and a flush's writes of ``count`` listings of ``channel``."""
    ids = [b.id for b in _bound(store, count, channel) if b.channel == channel]
    with store.transaction() as s:
        s.enqueue_many([OutboxEntry(channel, "stock", f"{i}", {}, 1) for i in range(count)], NOW)
        items = s.outbox(channel=channel)

    def run() -> None:
        with store.transaction() as s:
            s.enqueue_many(
                [OutboxEntry(channel, "price", f"{i}", {"q": i}, 1) for i in range(count)], NOW
            )
            s.set_planned_many(quantities=dict.fromkeys(ids, 1), prices=dict.fromkeys(ids, "1"))
            s.audit_many([AuditEntry(NOW, channel, "stock", i.key, {}, True, None) for i in items])
            s.settle_many([Settlement(i.id, i.version, OutboxState.SENT) for i in items], NOW)
            s.set_sent_many(
                quantities=dict.fromkeys(ids, 2), prices=dict.fromkeys(ids, "2"), now=NOW
            )
            s.set_observed_many(dict.fromkeys(ids, 2), NOW)

    return run


def test_the_hot_writes_run_as_many_statements_for_three_rows_as_for_three_hundred(
    store: Store,
) -> None:
    counts: list[list[bool]] = []
    for rows in (3, 300):
        channel = f"c{rows}"
        run = _hot_writes(store, rows, channel)
        with _statements(store) as ran:
            run()
        counts.append(ran)
        with store.transaction() as s:
            assert len(s.audit_trail(channel=channel)) == rows
            states = {(i.kind, i.state) for i in s.outbox(channel=channel)}
            assert states == {("stock", OutboxState.SENT), ("price", OutboxState.PENDING)}
            bound = s.bindings(channel=channel)
            assert {(b.planned_quantity, b.sent_quantity, b.sent_price) for b in bound} == {
                (1, 2, "2")
            }
    few, many = counts
    if store.engine.dialect.name == "sqlite":  # type: ignore[attr-defined]
        # SQLite: the one-row statement per row on its driver, one call for all.
        assert any(many)
    else:
        # PostgreSQL: one server statement per row set, none per row.
        assert not any(many)
    assert len(few) == len(many)


@pytest.mark.postgres
def test_a_row_set_refuses_a_value_too_long_for_its_column(postgres_url: str) -> None:
    # Bound as arrays, the values are cast to the column's type only where they are
    # written: an array of VARCHAR(64) would have cut them short silently.
    store = open_store(postgres_url)
    assert isinstance(store, SqlStore)
    try:
        with store.engine.begin() as c:
            at = stored_time(c)(NOW)
            rows = [(channel, "orders", at, None) for channel in ("tmall", "x" * 65)]
            with pytest.raises(DataError, match="too long"):
                insert_rows(
                    c, "test.cursors", t.cursors, Rows(("channel", "kind", "since", "token"), rows)
                )
    finally:
        store.close()
