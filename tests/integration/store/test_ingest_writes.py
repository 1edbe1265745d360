"""The store writes an order page makes: announcements marked in bulk, events on known keys.

Every test runs on SQLite and on PostgreSQL (marker ``postgres``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from channelsync.store import (
    AppliedUnderLock,
    LedgerEvent,
    OutboxEntry,
    OutboxState,
    SkuData,
    Store,
)
from channelsync.store.sql._driver import stored_json

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _skus(store: Store, *codes: str) -> dict[str, int]:
    with store.transaction() as s:
        return s.upsert_skus(
            [SkuData(code, None, code.title(), "1.00", "CNY") for code in codes], NOW
        )


def _reserve(order_id: str, sku_id: int, quantity: int = 1) -> LedgerEvent:
    return LedgerEvent(
        idempotency_key=f"reserve:tmall:{order_id}:{sku_id}",
        kind="order_reserved",
        sku_id=sku_id,
        reserved_delta=quantity,
        channel="tmall",
        order_id=order_id,
    )


def test_mark_notified_many_marks_exactly_the_named_versions(store: Store) -> None:
    with store.transaction() as s:
        s.add_notifications(
            [
                ("tmall", "A", "v1", None),
                ("tmall", "A", "v2", "paid"),
                ("tmall", "B", "v1", None),
                ("jd", "A", "v1", None),
            ]
        )
    with store.transaction() as s:
        # A repeat in the list, and one announcement that was never recorded.
        s.mark_notified_many(
            [("tmall", "A", "v1"), ("jd", "A", "v1"), ("tmall", "A", "v1"), ("jd", "Z", "v9")]
        )
    with store.transaction() as s:
        pending = s.pending_notifications()
    assert pending == [("tmall", "A", "v2", "paid"), ("tmall", "B", "v1", None)]
    with store.transaction() as s:
        s.mark_notified_many([])
        s.mark_notified_many([("tmall", "A", "v2"), ("tmall", "B", "v1")])
    with store.transaction() as s:
        assert s.pending_notifications() == []


def test_apply_events_on_known_keys_matches_reading_them(store: Store) -> None:
    ids = _skus(store, "CUP", "POT")
    cup, pot = ids["CUP"], ids["POT"]
    with store.transaction() as s:
        s.apply_events([_reserve("O-1", cup)], NOW)
    events = [
        _reserve("O-1", cup),
        _reserve("O-2", cup, 2),
        _reserve("O-2", pot),
        _reserve("O-2", pot),
    ]
    with store.transaction() as s:
        s.lock_skus([cup, pot])
        keys = s.applied_events(e.idempotency_key for e in events)
        known = AppliedUnderLock(frozenset({cup, pot}), frozenset(keys))
        assert s.apply_events(events, NOW, known=known) == [False, True, True, False]
    with store.transaction() as s:
        assert s.reservations("tmall", ["O-1", "O-2"]) == {
            ("O-1", cup): 1,
            ("O-2", cup): 2,
            ("O-2", pot): 1,
        }
        assert {p.sku_id: p.reserved for p in s.positions([cup, pot]).values()} == {cup: 3, pot: 1}


def test_apply_events_never_applies_twice_on_stale_known_keys(store: Store) -> None:
    ids = _skus(store, "CUP")
    cup = ids["CUP"]
    with store.transaction() as s:
        s.apply_events([_reserve("O-1", cup)], NOW)
    with store.transaction() as s:
        # Told that nothing is applied: the key's constraint still holds.
        stale = AppliedUnderLock(frozenset({cup}), frozenset())
        assert s.apply_events([_reserve("O-1", cup), _reserve("O-3", cup)], NOW, known=stale) == [
            False,
            True,
        ]
    with store.transaction() as s:
        assert s.reservations("tmall", ["O-1", "O-3"]) == {("O-1", cup): 1, ("O-3", cup): 1}


def test_apply_events_reads_the_keys_of_skus_the_known_read_did_not_lock(store: Store) -> None:
    ids = _skus(store, "CUP", "POT")
    cup, pot = ids["CUP"], ids["POT"]
    with store.transaction() as s:
        s.apply_events([_reserve("O-1", pot)], NOW)
    with store.transaction() as s:
        # Only the cup was locked and read: the pot's event is decided on a read of its own.
        known = AppliedUnderLock(frozenset({cup}), frozenset())
        answers = s.apply_events([_reserve("O-1", cup), _reserve("O-1", pot)], NOW, known=known)
    assert answers == [True, False]
    with store.transaction() as s:
        assert s.reservations("tmall", ["O-1"]) == {("O-1", cup): 1, ("O-1", pot): 1}


def test_applied_events_answers_for_thousands_of_keys(store: Store) -> None:
    ids = _skus(store, "CUP")
    cup = ids["CUP"]
    applied = [_reserve(f"O-{i}", cup) for i in range(0, 3000, 3)]
    with store.transaction() as s:
        s.apply_events(applied, NOW)
    asked = [f"reserve:tmall:O-{i}:{cup}" for i in range(3000)] + ['it\'s "quoted"', "é"]
    with store.transaction() as s:
        assert s.applied_events(asked) == {e.idempotency_key for e in applied}
        assert s.applied_events([]) == set()


@pytest.mark.parametrize(
    "value",
    [
        {"binding_id": 4, "item_id": "i-1", "sku_id": None, "quantity": 3, "previous": None},
        {"nested": [1.5, True, False, None, {"é": '\n"x\u2028'}], "big": 10**30},
        [float("inf"), float("nan"), -0.0],
        {1: "int key", False: "bool key", None: "none key", 2.5: "float key"},
        "text",
        7,
        None,
    ],
)
def test_stored_json_is_the_text_json_dumps_gives(value: Any) -> None:
    assert stored_json(value) == json.dumps(value)


def test_stored_json_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError):
        stored_json({"when": NOW})
    with pytest.raises(TypeError):
        stored_json({(1, 2): "tuple key"})


def test_enqueue_many_starts_each_value_afresh_and_bumps_versions(store: Store) -> None:
    later = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    with store.transaction() as s:
        s.enqueue_many([OutboxEntry("tmall", "stock", "A", {"quantity": 1}, 2)], NOW)
        sent = s.outbox(channel="tmall")[0]
        s.settle(sent.id, sent.version, OutboxState.PARKED, now=NOW, reason="rejected")
    entries = [
        # The first of each channel goes through the typed statement, the rest as a set.
        OutboxEntry("jd", "stock", "X", {"quantity": 9}, 0),
        OutboxEntry("tmall", "price", "B", {"amount": "1.50", "note": "é"}, 0),
        OutboxEntry("tmall", "stock", "A", {"quantity": 0, "previous": None}, 1),
        OutboxEntry("tmall", "stock", "C", {"quantity": 4}, 3),
    ]
    with store.transaction() as s:
        s.enqueue_many(entries, later)
    with store.transaction() as s:
        found = {(i.channel, i.kind, i.key): i for i in s.outbox()}
    assert {k: (i.payload, i.urgency, i.version) for k, i in found.items()} == {
        ("jd", "stock", "X"): ({"quantity": 9}, 0, 1),
        ("tmall", "price", "B"): ({"amount": "1.50", "note": "é"}, 0, 1),
        ("tmall", "stock", "A"): ({"quantity": 0, "previous": None}, 1, 2),
        ("tmall", "stock", "C"): ({"quantity": 4}, 3, 1),
    }
    for item in found.values():
        assert (item.state, item.attempts, item.reason) == (OutboxState.PENDING, 0, None)
        assert item.next_attempt_at == later
