"""Keyed reads of any size and the bulk writes of orders and the ledger, on both stores."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest

from channelsync.store import LedgerEvent, SkuData, SqlStore, Store, StoredOrder
from channelsync.store import schema as t
from channelsync.store.sql import SqlSession
from channelsync.store.sql._common import CHUNK
from channelsync.store.sql._fast import (
    delete_rows,
    insert_rows,
    stored_json,
    stored_time,
    update_rows,
)

NOW = datetime(2026, 1, 1, 8, 30, 15, 123456, tzinfo=UTC)
#: More keys than one ``IN`` list of the chunked reads held.
MANY = 2 * CHUNK + 7


def _skus(store: Store, count: int) -> dict[str, int]:
    codes = [f"S-{i:05d}" for i in range(count)]
    with store.transaction() as s:
        return s.upsert_skus([SkuData(code, None, code, "10.00", "CNY") for code in codes], NOW)


def _reserve(order_id: str, sku_id: int, quantity: int = 1) -> LedgerEvent:
    return LedgerEvent(
        idempotency_key=f"reserve:tmall:{order_id}:{sku_id}",
        kind="order_reserved",
        sku_id=sku_id,
        reserved_delta=quantity,
        channel="tmall",
        order_id=order_id,
    )


def test_keyed_reads_of_many_keys_find_each_once(store: Store) -> None:
    ids = _skus(store, MANY)
    codes = sorted(ids)
    events = [_reserve(f"O-{i}", ids[code]) for i, code in enumerate(codes) if i % 2 == 0]
    with store.transaction() as s:
        s.apply_events(events, NOW)
    wanted = [ids[code] for code in codes]
    with store.transaction() as s:
        found = s.skus([*codes, codes[0], "S-none"])
        by_id = s.skus_by_id([*wanted, 10**9])
        positions = s.positions(wanted)
        counts = s.change_counts(wanted)
        applied = s.applied_events([f"reserve:tmall:O-{i}:{ids[c]}" for i, c in enumerate(codes)])
        reserved = s.reservations("tmall", [f"O-{i}" for i in range(MANY)])
        held = s.reservation_warehouses("tmall", [f"O-{i}" for i in range(MANY)])
        stock = s.warehouse_stock(wanted)
        sales = s.recent_sales(wanted, NOW - timedelta(days=1))
    assert [sku.merchant_code for sku in found] == codes
    assert set(by_id) == set(wanted)
    assert len(positions) == MANY
    assert sum(p.reserved for p in positions.values()) == len(events)
    assert set(counts) == set(wanted)
    assert applied == {e.idempotency_key for e in events}
    assert reserved == {(e.order_id, e.sku_id): 1 for e in events}
    assert set(held) == set(reserved)
    assert sum(w.reserved for per in stock.values() for w in per.values()) == len(events)
    assert sales == {(e.sku_id, "tmall"): 1 for e in events}


def test_a_key_recorded_meanwhile_is_not_applied_twice(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _skus(store, 2)
    first, second = (_reserve("O-1", sku_id, 2) for sku_id in ids.values())
    with store.transaction() as s:
        assert s.apply_events([first], NOW) == [True]
    # As if another writer had committed the first key after this one read the keys.
    monkeypatch.setattr(SqlSession, "applied_events", lambda self, keys: set())
    with store.transaction() as s:
        assert s.apply_events([first, second], NOW) == [False, True]
    monkeypatch.undo()
    with store.transaction() as s:
        positions = s.positions(ids.values())
        ledger = s.ledger()
    assert {p.reserved for p in positions.values()} == {2}
    assert [e.idempotency_key for e in ledger] == [first.idempotency_key, second.idempotency_key]


def _order(order_id: str, status: str, raw: Mapping[str, object]) -> StoredOrder:
    east = NOW.astimezone(timezone(timedelta(hours=8)))
    return StoredOrder("tmall", order_id, status, status, east, NOW, False, raw, NOW)


def test_saved_orders_read_back_as_written_with_personal_data_apart(store: Store) -> None:
    raw = {"order_id": "O-1", "quote": 'a "b" \\ c', "shipping_address": {"city": "Hangzhou"}}
    with store.transaction() as s:
        s.save_orders([_order(f"O-{i}", "paid", raw) for i in range(MANY)])
        s.save_orders([_order("O-1", "shipped", {**raw, "shipping_address": None})])
    with store.transaction() as s:
        found = s.orders_by_id("tmall", [f"O-{i}" for i in range(MANY)])
    assert len(found) == MANY
    assert found["O-0"].raw == raw
    assert found["O-0"].updated_at == NOW
    assert found["O-0"].updated_at.tzinfo is UTC
    assert found["O-1"].status == "shipped"
    assert found["O-1"].raw["shipping_address"] is None


def _order_row(
    order_id: str, status: str, at: object, raw: Mapping[str, object], *, on_hold: bool
) -> dict[str, object]:
    """Return a row of ``orders`` of channel jd, in stored form (``at``: a stored time)."""
    return {
        "channel": "jd",
        "order_id": order_id,
        "status": status,
        "version": "1",
        "updated_at": at,
        "created_at": at,
        "on_hold": on_hold,
        "raw": stored_json(raw),
        "imported_at": at,
    }


def test_row_sets_are_inserted_updated_and_deleted_alike_on_both_stores(store: Store) -> None:
    assert isinstance(store, SqlStore)
    with store.engine.begin() as c:
        at = stored_time(c)(NOW)
        rows = [_order_row(f"O-{i}", "paid", at, {"i": i}, on_hold=i == 0) for i in range(3)]
        inserted = insert_rows(c, "test.orders", t.orders, rows)
        personal = [{"channel": "jd", "order_id": "O-0", "data": stored_json({"x": 1})}]
        insert_rows(c, "test.personal", t.order_personal, personal)
        notes: list[dict[str, object]] = [
            {"channel": "jd", "order_id": f"O-{i}", "version": "1", "delivered": False}
            for i in range(3)
        ]
        notes = [{**n, "previous_status": None} for n in notes]
        insert_rows(c, "test.notes", t.notifications, notes)
        where = {"_c": "channel", "_o": "order_id", "_v": "version"}
        updated = update_rows(
            c,
            "test.delivered",
            t.notifications,
            [{"_c": "jd", "_o": "O-1", "_v": "1", "_d": True}],
            where=where,
            values={"_d": "delivered"},
        )
        deleted = delete_rows(
            c, "test.forget", t.notifications, [{"_c": "jd", "_o": "O-2", "_v": "1"}], where=where
        )
        assert insert_rows(c, "test.none", t.orders, []) is None
    assert inserted is not None
    assert inserted.rowcount == 3
    assert updated is not None
    assert updated.rowcount == 1
    assert deleted is not None
    assert deleted.rowcount == 1
    with store.transaction() as s:
        orders = s.orders_by_id("jd", ["O-0", "O-1", "O-2"])
        pending = s.pending_notifications()
    assert [o.on_hold for o in orders.values()] == [True, False, False]
    assert orders["O-0"].raw == {"i": 0, "x": 1}
    assert {o.imported_at for o in orders.values()} == {NOW}
    assert pending == [("jd", "O-0", "1", None)]


#: Texts a statement's text form would have to quote or escape, and a JSON document.
AWKWARD = [
    "",
    "NULL",
    "null",
    " padded ",
    'a "quoted" word',
    "back\\slash\\",
    "{braces},commas",
    "淘宝 订单",
    stored_json({"sku": 'A"1', "path": "C:\\x", "n": [1, 2]}),
]


def test_awkward_texts_are_written_and_found_alike_on_both_stores(store: Store) -> None:
    assert isinstance(store, SqlStore)
    with store.engine.begin() as c:
        at = stored_time(c)(NOW)
        rows = [
            _order_row(text, text[:16], at, {"text": text}, on_hold=i % 2 == 0)
            for i, text in enumerate(AWKWARD)
        ]
        insert_rows(c, "test.awkward", t.orders, rows)
        moved = [{"_c": "jd", "_o": text, "_s": f"{text[:16]}!"} for text in AWKWARD]
        update_rows(
            c,
            "test.awkward_status",
            t.orders,
            moved,
            where={"_c": "channel", "_o": "order_id"},
            values={"_s": "status"},
        )
    with store.transaction() as s:
        found = s.orders_by_id("jd", [*AWKWARD, "absent"])
    assert sorted(found) == sorted(AWKWARD)
    assert {o.order_id: o.status for o in found.values()} == {a: f"{a[:16]}!" for a in AWKWARD}
    assert {o.order_id: o.raw for o in found.values()} == {a: {"text": a} for a in AWKWARD}
