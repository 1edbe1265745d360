"""The set-based store operations agree with the single-row ones and are all-or-nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from channelsync.store import (
    AuditEntry,
    LedgerEvent,
    ListingBinding,
    OutboxEntry,
    OutboxState,
    Settlement,
    SkuData,
    Store,
    StoredOrder,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _skus(store: Store, *codes: str) -> dict[str, int]:
    with store.transaction() as s:
        return s.upsert_skus(
            [SkuData(code, None, f"Item {code}", "10.00", "CNY") for code in codes], NOW
        )


def _reserve(key: str, sku_id: int, quantity: int, order_id: str = "O-1") -> LedgerEvent:
    return LedgerEvent(
        idempotency_key=key,
        kind="order_reserved",
        sku_id=sku_id,
        reserved_delta=quantity,
        channel="tmall",
        order_id=order_id,
    )


def _stock(key: str, sku_id: int, delta: int, warehouse: str = "") -> LedgerEvent:
    return LedgerEvent(
        idempotency_key=key,
        kind="catalogue_import",
        sku_id=sku_id,
        on_hand_delta=delta,
        warehouse=warehouse,
    )


def test_upsert_skus_creates_then_updates_and_keeps_safety_stock(store: Store) -> None:
    ids = _skus(store, "A", "B")
    with store.transaction() as s:
        s.set_safety_stock(ids["A"], 2)
        s.clear_changed(ids.values())
        again = s.upsert_skus([SkuData("A", None, "Renamed", "11.50", "CNY", cost="4.00")], NOW)
        assert again == {"A": ids["A"]}
        (sku,) = s.skus(["A"])
        assert (sku.title, sku.price, sku.cost, sku.safety_stock) == ("Renamed", "11.50", "4.00", 2)
        assert s.changed_skus() == [ids["A"]]


def test_apply_events_matches_one_by_one_and_twice_changes_nothing(store: Store) -> None:
    ids = _skus(store, "A", "B")
    a, b = ids["A"], ids["B"]
    events = [
        _stock("in:A", a, 10),
        _stock("in:A:north", a, 4, warehouse="north"),
        _stock("in:B", b, 3),
        _reserve("res:A", a, 2),
        _reserve("res:B", b, 1, order_id="O-2"),
        _stock("in:A", a, 10),  # the same key later in the batch: a no-op
    ]
    with store.transaction() as s:
        assert s.apply_events(events, NOW) == [True, True, True, True, True, False]
    with store.transaction() as s:
        assert s.apply_events(events, NOW) == [False] * 6
        positions = s.positions([a, b])
        assert s.on_hand_many([a, b]) == {a: {"": 10, "north": 4}, b: {"": 3}}
        assert s.reservations("tmall", ["O-1", "O-2"]) == {("O-1", a): 2, ("O-2", b): 1}
        assert s.applied_events(["in:A", "nope"]) == {"in:A"}
        assert len(s.ledger()) == 5
    assert (positions[a].on_hand, positions[a].reserved, positions[a].available) == (14, 2, 12)
    assert (positions[b].on_hand, positions[b].reserved, positions[b].available) == (3, 1, 2)


def test_apply_events_releases_in_order_and_deletes_emptied_reservations(store: Store) -> None:
    a = _skus(store, "A")["A"]
    release = LedgerEvent(
        idempotency_key="rel:A",
        kind="order_cancelled",
        sku_id=a,
        reserved_delta=-2,
        channel="tmall",
        order_id="O-1",
    )
    with store.transaction() as s:
        assert s.apply_events([_reserve("res:A", a, 2), release], NOW) == [True, True]
        assert s.reservations("tmall", ["O-1"]) == {}
        assert s.positions([a])[a].reserved == 0


def _apply(store: Store, events: list[LedgerEvent]) -> None:
    with store.transaction() as s:
        s.apply_events(events, NOW)


def test_a_failing_event_rolls_the_whole_batch_back(store: Store) -> None:
    a = _skus(store, "A")["A"]
    over_release = LedgerEvent(
        idempotency_key="rel:A",
        kind="order_cancelled",
        sku_id=a,
        reserved_delta=-5,
        channel="tmall",
        order_id="O-1",
    )
    with pytest.raises(ValueError, match="releases more than order 'O-1' reserved"):
        _apply(store, [_stock("in:A", a, 10), _reserve("res:A", a, 2), over_release])
    with pytest.raises(IntegrityError):
        _apply(store, [_stock("in:A", a, 10), _stock("in:ghost", a + 99, 1)])
    with store.transaction() as s:
        assert s.ledger() == []
        assert s.on_hand_many([a]) == {}
        assert s.reservations("tmall", ["O-1"]) == {}


def _listing(item: str, sku_id: int | None, **kwargs: object) -> ListingBinding:
    return ListingBinding(
        channel="tmall",
        item_id=item,
        listing_sku_id="1",
        sku_id=sku_id,
        merchant_code=None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_upsert_bindings_reports_new_bindings_and_respects_manual_ones(store: Store) -> None:
    ids = _skus(store, "A", "B")
    a, b = ids["A"], ids["B"]
    with store.transaction() as s:
        first = s.upsert_bindings(
            [_listing("i-1", a, channel_quantity=5), _listing("i-2", None, title="Odd")], NOW
        )
        assert first == {a}
        assert s.has_bindings("tmall")
        assert not s.has_bindings("jd")
        s.upsert_binding(
            channel="tmall",
            item_id="i-2",
            listing_sku_id="1",
            sku_id=b,
            merchant_code="B",
            manual=True,
            title=None,
            channel_quantity=None,
            now=NOW,
        )
        found = s.bindings_for_listings("tmall", [("i-1", "1")])
        s.set_planned_many(quantities={found[("i-1", "1")].id: 5}, prices={})
    later = NOW + timedelta(minutes=1)
    with store.transaction() as s:
        # i-1 moves to B (starts from nothing planned); the manual i-2 stays on B.
        again = s.upsert_bindings([_listing("i-1", b), _listing("i-2", None, title="T")], later)
        assert again == {b}
        one = s.bindings_for_listings("tmall", [("i-1", "1"), ("i-2", "1"), ("i-3", None)])
    assert set(one) == {("i-1", "1"), ("i-2", "1")}
    assert (one[("i-1", "1")].sku_id, one[("i-1", "1")].planned_quantity) == (b, None)
    assert one[("i-1", "1")].channel_quantity == 5  # not observed this time: kept
    assert (one[("i-2", "1")].sku_id, one[("i-2", "1")].manual) == (b, True)
    assert (one[("i-2", "1")].title, one[("i-2", "1")].seen_at) == ("T", later)


def test_enqueue_many_coalesces_and_bumps_versions(store: Store) -> None:
    def entry(key: str, quantity: int) -> OutboxEntry:
        return OutboxEntry("tmall", "stock", key, {"quantity": quantity}, 2)

    with store.transaction() as s:
        s.enqueue_many([entry("i-1", 5), entry("i-2", 7), entry("i-1", 4)], NOW)
        s.enqueue_many([entry("i-2", 6)], NOW)
        items = {i.key: i for i in s.outbox()}
    assert (items["i-1"].payload, items["i-1"].version) == ({"quantity": 4}, 1)
    assert (items["i-2"].payload, items["i-2"].version) == ({"quantity": 6}, 2)
    assert {i.state for i in items.values()} == {OutboxState.PENDING}


def test_settle_many_skips_replaced_versions_and_set_sent_many_records(store: Store) -> None:
    a = _skus(store, "A")["A"]
    with store.transaction() as s:
        s.upsert_bindings([_listing("i-1", a), _listing("i-2", a)], NOW)
        bindings = s.bindings_for_listings("tmall", [("i-1", "1"), ("i-2", "1")])
        s.enqueue_many(
            [OutboxEntry("tmall", "stock", k, {"q": 1}, 2) for k in ("a", "b", "c")], NOW
        )
        items = {i.key: i for i in s.outbox()}
        s.enqueue_many([OutboxEntry("tmall", "stock", "b", {"q": 2}, 2)], NOW)  # replaced
    later = NOW + timedelta(seconds=5)
    retry_at = later + timedelta(seconds=30)
    with store.transaction() as s:
        answers = s.settle_many(
            [
                Settlement(items["a"].id, items["a"].version, OutboxState.SENT),
                Settlement(items["b"].id, items["b"].version, OutboxState.SENT),
                Settlement(
                    items["c"].id, 1, OutboxState.PENDING, reason="busy", next_attempt_at=retry_at
                ),
            ],
            later,
        )
        i1, i2 = bindings[("i-1", "1")].id, bindings[("i-2", "1")].id
        s.set_sent_many(quantities={i1: 3}, prices={i2: "9.90"}, now=later)
        after = {i.key: i for i in s.outbox()}
        sent = s.bindings_for_listings("tmall", [("i-1", "1"), ("i-2", "1")])
    assert answers == [True, False, True]
    assert (after["a"].state, after["a"].attempts) == (OutboxState.SENT, 0)
    assert (after["b"].state, after["b"].payload) == (OutboxState.PENDING, {"q": 2})
    assert (after["c"].attempts, after["c"].reason, after["c"].next_attempt_at) == (
        1,
        "busy",
        retry_at,
    )
    one = sent[("i-1", "1")]
    assert (one.sent_quantity, one.channel_quantity, one.sent_at) == (3, 3, later)
    assert sent[("i-2", "1")].sent_price == "9.90"


def test_audit_many_keeps_each_entry(store: Store) -> None:
    with store.transaction() as s:
        s.audit_many(
            [
                AuditEntry(NOW, "tmall", "stock", "i-1", {"q": 1}, ok=True, answer=None),
                AuditEntry(NOW, "tmall", "stock", "i-2", {"q": 0}, ok=False, answer="(7) no"),
            ]
        )
        trail = s.audit_trail(channel="tmall")
    assert [(e.key, e.ok, e.answer) for e in trail] == [
        ("i-1", True, None),
        ("i-2", False, "(7) no"),
    ]


def _order(order_id: str, status: str, version: str) -> StoredOrder:
    return StoredOrder(
        channel="tmall",
        order_id=order_id,
        status=status,
        version=version,
        updated_at=NOW,
        created_at=NOW,
        on_hold=False,
        raw={"order_id": order_id},
        imported_at=NOW,
    )


def test_save_orders_upserts_and_notifications_are_recorded_and_delivered_once(
    store: Store,
) -> None:
    with store.transaction() as s:
        s.save_orders([_order("O-1", "paid", "v1"), _order("O-2", "paid", "v1")])
        s.save_orders([_order("O-1", "shipped", "v2")])
        found = s.orders_by_id("tmall", ["O-1", "O-2", "O-3"])
        assert (
            s.add_notifications([("tmall", "O-1", "v1", None), ("tmall", "O-1", "v2", "paid")]) == 2
        )
        assert (
            s.add_notifications([("tmall", "O-1", "v2", "paid"), ("tmall", "O-2", "v1", None)]) == 1
        )
        pending = s.pending_notifications()
        s.mark_notified_many([("tmall", "O-1", "v1"), ("tmall", "O-2", "v1")])
        left = s.pending_notifications()
    assert left == [("tmall", "O-1", "v2", "paid")]
    assert {k: o.status for k, o in found.items()} == {"O-1": "shipped", "O-2": "paid"}
    assert pending == [
        ("tmall", "O-1", "v1", None),
        ("tmall", "O-1", "v2", "paid"),
        ("tmall", "O-2", "v1", None),
    ]


def _write_with_a_bad_binding(store: Store, sku_id: int) -> None:
    with store.transaction() as s:
        s.save_orders([_order("O-1", "paid", "v1")])
        s.enqueue_many([OutboxEntry("tmall", "stock", "i-1", {"q": 1}, 2)], NOW)
        s.upsert_bindings([_listing("i-1", sku_id), _listing("i-2", sku_id + 99)], NOW)


def test_a_failing_row_rolls_back_the_other_bulk_writes(store: Store) -> None:
    a = _skus(store, "A")["A"]
    with pytest.raises(IntegrityError):
        _write_with_a_bad_binding(store, a)
    with store.transaction() as s:
        assert s.orders_by_id("tmall", ["O-1"]) == {}
        assert s.outbox() == []
        assert not s.has_bindings("tmall")
