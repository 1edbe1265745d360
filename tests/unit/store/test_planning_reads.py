"""A plan's reads per slice give what reads through the column types give, on both stores."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from channelsync.store import LedgerEvent, SkuData, SkuRecord, StockPosition, Store
from channelsync.store import schema as t
from channelsync.store.catalogue import CatalogueSession
from channelsync.store.sql import SqlSession

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def _typed_skus(connection: Connection) -> dict[int, SkuRecord]:
    """Every SKU read through its columns' types, field by field."""
    query = select(t.skus, t.products.c.code.label("product_code")).select_from(
        t.skus.outerjoin(t.products, t.skus.c.product_id == t.products.c.id)
    )
    found: dict[int, SkuRecord] = {}
    for row in connection.execute(query):
        m = row._mapping
        found[m["id"]] = SkuRecord(
            id=m["id"],
            merchant_code=m["merchant_code"],
            product_code=m["product_code"],
            title=m["title"],
            price=m["price"],
            currency=m["currency"],
            cost=m["cost"],
            barcode=m["barcode"],
            attributes=dict(m["attributes"] or {}),
            safety_stock=m["safety_stock"],
            low_stock_alerted=m["low_stock_alerted"],
        )
    return found


def _typed_positions(connection: Connection) -> dict[int, StockPosition]:
    """Every SKU's position from three plain sums."""
    on_hand: dict[int, Any] = dict(
        connection.execute(
            select(t.stock.c.sku_id, func.sum(t.stock.c.on_hand)).group_by(t.stock.c.sku_id)
        ).all()
    )
    reserved: dict[int, Any] = dict(
        connection.execute(
            select(t.reservations.c.sku_id, func.sum(t.reservations.c.quantity)).group_by(
                t.reservations.c.sku_id
            )
        ).all()
    )
    return {
        sku_id: StockPosition(sku_id, on_hand.get(sku_id, 0), reserved.get(sku_id, 0), safety)
        for sku_id, safety in connection.execute(select(t.skus.c.id, t.skus.c.safety_stock))
    }


def _catalogue(store: Store) -> dict[str, int]:
    """SKUs unlike each other in every field a record has, with stock and reservations."""
    with store.transaction() as s:
        product = s.upsert_product("P-1", "Teapots", {"material": "clay"})
        ids = s.upsert_skus(
            [
                SkuData("PLAIN", None, "Plain", "10.00", "CNY"),
                SkuData(
                    "FULL",
                    product,
                    "Teapot «grand» 茶壶",
                    "128.50",
                    "EUR",
                    cost="64.10",
                    barcode="4006381333931",
                    attributes={"colour": "蓝", "size": "L", "note": 'say "hi"\n'},
                ),
                SkuData("EMPTY", product, "Empty", "0", "USD", cost="0", attributes={}),
                SkuData("OVERSOLD", None, "Oversold", "5.00", "CNY"),
            ],
            NOW,
        )
        s.set_low_stock_alerted(ids["FULL"], True)
        s.set_safety_stock(ids["FULL"], 3)
        events = [
            LedgerEvent("in:full:a", "stock_received", ids["FULL"], on_hand_delta=7, warehouse="A"),
            LedgerEvent("in:full:b", "stock_received", ids["FULL"], on_hand_delta=5, warehouse="B"),
            LedgerEvent("in:over", "stock_received", ids["OVERSOLD"], on_hand_delta=1),
            LedgerEvent(
                "res:full",
                "order_reserved",
                ids["FULL"],
                reserved_delta=2,
                warehouse="A",
                channel="tmall",
                order_id="O-1",
            ),
            LedgerEvent(
                "res:over",
                "order_reserved",
                ids["OVERSOLD"],
                reserved_delta=4,
                channel="jd",
                order_id="O-2",
            ),
        ]
        s.apply_events(events, NOW - timedelta(minutes=5))
    return ids


def test_sku_records_equal_reads_through_the_column_types(store: Store) -> None:
    ids = _catalogue(store)
    with store.transaction() as s:
        assert isinstance(s, SqlSession)
        typed = _typed_skus(s._c)
        by_id = s.skus_by_id([*reversed(ids.values()), ids["FULL"], 10**9])
        listed = s.skus()
        some = s.skus(["FULL", "PLAIN", "NONE"])
    assert by_id == typed
    assert listed == sorted(typed.values(), key=lambda r: r.merchant_code)
    assert some == [typed[ids["FULL"]], typed[ids["PLAIN"]]]
    full = by_id[ids["FULL"]]
    # What the comparison covers: each kind of value, not defaults alone.
    assert full.attributes == {"colour": "蓝", "size": "L", "note": 'say "hi"\n'}
    assert full.product_code == "P-1"
    assert full.low_stock_alerted is True
    assert by_id[ids["PLAIN"]].low_stock_alerted is False
    assert by_id[ids["EMPTY"]].attributes == {}
    assert full.safety_stock == 3


def test_positions_equal_plain_sums(store: Store) -> None:
    ids = _catalogue(store)
    wanted = [ids["OVERSOLD"], 10**9, ids["FULL"], ids["PLAIN"], ids["FULL"]]
    with store.transaction() as s:
        assert isinstance(s, SqlSession)
        typed = _typed_positions(s._c)
        positions = s.positions(iter(wanted))
        assert s.positions([]) == {}
    assert positions == {i: typed[i] for i in wanted if i in typed}
    assert list(positions) == [ids["OVERSOLD"], ids["FULL"], ids["PLAIN"]]
    assert positions[ids["FULL"]] == StockPosition(ids["FULL"], 12, 2, 3)
    assert positions[ids["OVERSOLD"]].available == -3
    assert positions[ids["PLAIN"]] == StockPosition(ids["PLAIN"], 0, 0, 0)
    for position in positions.values():
        assert type(position.on_hand) is int
        assert type(position.reserved) is int


def test_the_catalogues_codes_and_ids_read_alone_equal_its_records(store: Store) -> None:
    codes = ["b-2", "A-10", "a-1", "杯-3", "Z"]
    with store.transaction() as s:
        made = s.upsert_skus([SkuData(code, None, code, "1.00", "CNY") for code in codes], NOW)
        # The store's own read, against the default that reads every record.
        assert s.sku_ids() == CatalogueSession.sku_ids(s) == made
        assert list(s.sku_ids()) == [sku.merchant_code for sku in s.skus()]


def test_a_low_stock_claim_answers_whether_it_changed_the_flag(store: Store) -> None:
    with store.transaction() as s:
        sku = s.upsert_skus([SkuData("CUP", None, "Cup", "1.00", "CNY")], NOW)["CUP"]
        assert [s.claim_low_stock_alert(sku, True) for _ in range(2)] == [True, False]
        assert s.skus_by_id([sku])[sku].low_stock_alerted is True
        assert [s.claim_low_stock_alert(sku, False) for _ in range(2)] == [True, False]
        assert s.skus_by_id([sku])[sku].low_stock_alerted is False
        # The default of a store written elsewhere sets the flag and answers yes.
        assert CatalogueSession.claim_low_stock_alert(s, sku, True) is True
        assert s.skus_by_id([sku])[sku].low_stock_alerted is True


def test_of_two_low_stock_claims_at_once_one_wins_on_postgresql(store: Store) -> None:
    if not store.concurrent_writers:
        pytest.skip("SQLite has one writer: two claims cannot overlap")
    with store.transaction() as s:
        sku = s.upsert_skus([SkuData("CUP", None, "Cup", "1.00", "CNY")], NOW)["CUP"]
    second: list[bool] = []
    with store.transaction() as first:
        assert first.claim_low_stock_alert(sku, True) is True
        # The second claim waits for the first's row until it commits, then finds the
        # flag already set.
        other = threading.Thread(target=lambda: second.append(_claim(store, sku)))
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive()
    other.join(timeout=10)
    assert second == [False]


def _claim(store: Store, sku: int) -> bool:
    with store.transaction() as s:
        return s.claim_low_stock_alert(sku, True)
