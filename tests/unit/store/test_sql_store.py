from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from channelsync.errors import ConfigurationError
from channelsync.store import (
    LedgerEvent,
    OutboxState,
    ParkedRecord,
    SqlStore,
    Store,
    StoredOrder,
    open_store,
)
from channelsync.store.base import LedgerSession
from channelsync.store.schema import UPDATED_FILLFACTOR, metadata
from channelsync.store.sql.engine import build_engine, migrate, newest_revision

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _sku(store: Store, code: str = "A-1", price: str = "12.30") -> int:
    with store.transaction() as s:
        return s.upsert_sku(
            merchant_code=code,
            product_id=None,
            title="Mug",
            price=price,
            currency="CNY",
            cost=None,
            barcode=None,
            attributes={"colour": "red"},
            now=NOW,
        )


def test_migrated_schema_matches_the_metadata(store: Store) -> None:
    assert isinstance(store, SqlStore)
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_the_most_rewritten_tables_leave_room_on_their_pages_on_postgresql(store: Store) -> None:
    assert isinstance(store, SqlStore)
    if store.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting (SQLite has none)")
    with store.engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT relname, reloptions FROM pg_class WHERE oid IN"
                " (to_regclass('skus'), to_regclass('bindings'), to_regclass('audit'))"
            )
        ).all()
    options = dict(found)
    assert options["skus"] == options["bindings"] == [f"fillfactor={UPDATED_FILLFACTOR}"]
    assert options["audit"] is None  # written once, never updated: pages filled


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_large_checkpoints(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(store, SqlStore)
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        # Writers checkpoint only past ~200 MB of log (SQLite's default is 1,000 pages):
        # the checkpoint thread copies it long before; the log is cut to 64 MB.
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 50_000
        assert connection.execute(text("PRAGMA journal_size_limit")).scalar() == 64 * 1024 * 1024
    store.close()


def test_the_store_is_migrated_to_the_newest_revision(store: Store) -> None:
    assert isinstance(store, SqlStore)
    with store.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == newest_revision()


def test_only_a_store_behind_the_newest_revision_starts_the_migrations(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(store_url).close()
    older = build_engine(f"sqlite:///{tmp_path / 'older.db'}")
    with older.begin() as connection:
        migrate(connection, "0010")
    older.dispose()
    started: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda _config, revision: started.append(revision))
    open_store(store_url).close()
    assert started == []
    open_store(f"sqlite:///{tmp_path / 'older.db'}").close()
    assert started == ["head"]


def test_reopening_keeps_the_data_and_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = open_store(url)
    _sku(first)
    first.close()
    second = open_store(url)
    with second.transaction() as s:
        assert [sku.merchant_code for sku in s.skus()] == ["A-1"]
    second.close()


def test_a_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"store\.url"):
        open_store(f"sqlite:///{tmp_path / 'nowhere' / 'state.db'}")


def test_a_failing_transaction_changes_nothing(store: Store) -> None:
    sku_id = _sku(store)

    def fail_midway() -> None:
        with store.transaction() as s:
            s.apply_event(LedgerEvent("k1", "manual_adjustment", sku_id, on_hand_delta=5), NOW)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    with store.transaction() as s:
        assert s.on_hand(sku_id) == {}
        assert s.ledger() == []


def test_an_event_applied_twice_changes_nothing(store: Store) -> None:
    sku_id = _sku(store)
    event = LedgerEvent("adj-1", "manual_adjustment", sku_id, on_hand_delta=7, warehouse="SH")
    with store.transaction() as s:
        assert s.apply_event(event, NOW) is True
        assert s.apply_event(event, NOW) is False
        assert s.on_hand(sku_id) == {"SH": 7}
        assert len(s.ledger(sku_id)) == 1


def test_sales_since_sums_each_window_from_one_read(store: Store) -> None:
    sku_id, other = _sku(store), _sku(store, "B-1")

    with store.transaction() as s:
        for key, sku, units, channel, ago in [
            ("r1", sku_id, 3, "c", timedelta(hours=3)),
            ("r2", sku_id, 2, "c", timedelta(minutes=30)),
            ("r3", sku_id, 1, "d", timedelta(minutes=10)),
            ("r4", other, 4, "c", timedelta(days=3)),
        ]:
            event = LedgerEvent(
                key, "order_reserved", sku, reserved_delta=units, channel=channel, order_id=key
            )
            s.apply_event(event, NOW - ago)
        # A release is no sale; an adjustment has no channel.
        s.apply_event(
            LedgerEvent(
                "x1", "order_cancelled", sku_id, reserved_delta=-1, channel="c", order_id="r1"
            ),
            NOW,
        )
        s.apply_event(LedgerEvent("in", "manual_adjustment", sku_id, on_hand_delta=9), NOW)
        since = [NOW - timedelta(days=1), NOW - timedelta(hours=1), NOW - timedelta(minutes=15)]
        expected = [
            {(sku_id, "c"): 5, (sku_id, "d"): 1},
            {(sku_id, "c"): 2, (sku_id, "d"): 1},
            {(sku_id, "d"): 1},
        ]
        assert s.sales_since([sku_id, other], since) == expected
        # The store's one read answers as the protocol's window-by-window default does.
        assert LedgerSession.sales_since(s, [sku_id, other], since) == expected
        assert s.sales_since([sku_id, other], [NOW + timedelta(seconds=1)]) == [{}]
        assert s.sales_since([other], [NOW - timedelta(days=4)]) == [{(other, "c"): 4}]
        assert s.sales_since([], since) == [{}, {}, {}]


def test_skus_sold_on_channels_since_a_time(store: Store) -> None:
    sku_id, other, third = _sku(store), _sku(store, "B-1"), _sku(store, "C-1")
    with store.transaction() as s:
        for key, sku, channel, ago in [
            ("r1", sku_id, "c", timedelta(minutes=5)),
            ("r2", other, "c", timedelta(hours=2)),
            ("r3", third, "d", timedelta(minutes=1)),
        ]:
            event = LedgerEvent(
                key, "order_reserved", sku, reserved_delta=1, channel=channel, order_id=key
            )
            s.apply_event(event, NOW - ago)
        # A release is no sale, even a recent one.
        s.apply_event(
            LedgerEvent(
                "x2", "order_cancelled", other, reserved_delta=-1, channel="c", order_id="r2"
            ),
            NOW,
        )
        hour_ago = NOW - timedelta(hours=1)
        assert s.skus_sold_on(["c"], hour_ago) == {sku_id}
        assert s.skus_sold_on(["c", "d"], hour_ago) == {sku_id, third}
        assert s.skus_sold_on(["c"], NOW - timedelta(hours=3)) == {sku_id, other}
        # A span: sales before ``until`` only (a sale at ``until`` is after it).
        assert s.skus_sold_on(["c"], NOW - timedelta(hours=3), hour_ago) == {other}
        assert s.skus_sold_on(["c", "d"], hour_ago, NOW - timedelta(minutes=1)) == {sku_id}
        assert s.skus_sold_on(["e"], hour_ago) == set()
        assert s.skus_sold_on([], hour_ago) == set()
        # The protocol's default, without the events' times, answers every SKU ever sold there.
        assert LedgerSession.skus_sold_on(s, ["c"], hour_ago) == {sku_id, other}


def test_reservations_add_up_and_release(store: Store) -> None:
    sku_id = _sku(store)
    with store.transaction() as s:
        s.apply_event(LedgerEvent("in", "manual_adjustment", sku_id, on_hand_delta=10), NOW)
        s.apply_event(
            LedgerEvent(
                "r1", "order_reserved", sku_id, reserved_delta=3, channel="c", order_id="1"
            ),
            NOW,
        )
        position = s.positions([sku_id])[sku_id]
        assert (position.on_hand, position.reserved, position.available) == (10, 3, 7)
        assert s.recent_sales([sku_id], NOW - timedelta(days=1)) == {(sku_id, "c"): 3}
        s.apply_event(
            LedgerEvent(
                "x1", "order_cancelled", sku_id, reserved_delta=-3, channel="c", order_id="1"
            ),
            NOW,
        )
        assert s.positions([sku_id])[sku_id].reserved == 0


def test_releasing_more_than_reserved_is_refused(store: Store) -> None:
    sku_id = _sku(store)
    with pytest.raises(ValueError, match="releases more"), store.transaction() as s:
        s.apply_event(
            LedgerEvent(
                "x", "order_cancelled", sku_id, reserved_delta=-1, channel="c", order_id="9"
            ),
            NOW,
        )


def test_changed_skus_are_tracked_until_cleared(store: Store) -> None:
    a, b = _sku(store, "A"), _sku(store, "B")
    with store.transaction() as s:
        assert s.changed_skus() == [a, b]
        s.clear_changed([a, b])
        assert s.changed_skus() == []
        s.apply_event(LedgerEvent("e", "manual_adjustment", b, on_hand_delta=1), NOW)
        assert s.changed_skus() == [b]


def test_outbox_coalesces_to_the_latest_value_and_versions_it(store: Store) -> None:
    with store.transaction() as s:
        first = s.enqueue(
            channel="c", kind="stock", key="A", payload={"quantity": 5}, urgency=2, now=NOW
        )
        second = s.enqueue(
            channel="c", kind="stock", key="A", payload={"quantity": 4}, urgency=1, now=NOW
        )
        items = s.due("c", "stock", NOW, 10)
    assert (first, second) == (1, 2)
    assert [(i.payload["quantity"], i.version) for i in items] == [(4, 2)]
    with store.transaction() as s:
        # An answer for the older version must not mark the newer one sent.
        assert s.settle(items[0].id, 1, OutboxState.SENT, now=NOW) is False
        assert s.settle(items[0].id, 2, OutboxState.SENT, now=NOW) is True
        assert s.due("c", "stock", NOW, 10) == []


def test_outbox_orders_by_urgency_and_respects_backoff(store: Store) -> None:
    with store.transaction() as s:
        for key, urgency in [("inc", 2), ("zero", 0), ("dec", 1)]:
            s.enqueue(channel="c", kind="stock", key=key, payload={}, urgency=urgency, now=NOW)
        items = s.due("c", "stock", NOW, 10)
        assert [i.key for i in items] == ["zero", "dec", "inc"]
        later = NOW + timedelta(minutes=1)
        s.settle(items[0].id, 1, OutboxState.PENDING, now=NOW, reason="busy", next_attempt_at=later)
        s.settle(items[1].id, 1, OutboxState.PARKED, now=NOW, reason="bad sku")
        assert [i.key for i in s.due("c", "stock", NOW, 10)] == ["inc"]
        assert [i.key for i in s.due("c", "stock", later, 10)] == ["zero", "inc"]
        assert s.requeue_parked(NOW) == 1
        parked_again = s.outbox(state=OutboxState.PARKED)
    assert parked_again == []


def test_channels_with_work_are_those_with_entries_due_or_waiting_for_credentials(
    store: Store,
) -> None:
    later = NOW + timedelta(minutes=1)
    with store.transaction() as s:
        for channel in ("due", "later", "credentials", "parked", "sent", "shipment"):
            kind = "shipment" if channel == "shipment" else "stock"
            s.enqueue(channel=channel, kind=kind, key="k", payload={}, urgency=0, now=NOW)
        entries = {i.channel: i for i in s.outbox()}
        s.settle(entries["later"].id, 1, OutboxState.PENDING, now=NOW, next_attempt_at=later)
        waiting = "waiting for credentials: the token was refused"
        s.settle(entries["credentials"].id, 1, OutboxState.PARKED, now=NOW, reason=waiting)
        s.settle(entries["parked"].id, 1, OutboxState.PARKED, now=NOW, reason="bad sku")
        s.settle(entries["sent"].id, 1, OutboxState.SENT, now=NOW)
        found = s.channels_with_work(NOW, "waiting for credentials")
        assert found == {"due", "credentials", "shipment"}
        assert "later" in s.channels_with_work(later, "waiting for credentials")
        # The reason is a prefix, not a pattern.
        assert s.channels_with_work(NOW, "waiting%") == {"due", "shipment"}


def test_due_carrying_picks_the_due_entries_whose_payload_has_the_field_set(
    store: Store,
) -> None:
    later = NOW + timedelta(minutes=1)
    payloads: dict[str, dict[str, object]] = {
        "zero": {"previous": 0},
        "set": {"previous": 7, "quantity": 9},
        "text": {"previous": "x"},
        "null": {"previous": None},
        "absent": {"quantity": 9},
        "later": {"previous": 3},
        "sent": {"previous": 3},
        "urgent": {"previous": 1},
    }
    with store.transaction() as s:
        for key, payload in payloads.items():
            s.enqueue(
                channel="c",
                kind="stock",
                key=key,
                payload=payload,
                urgency=-1 if key == "urgent" else 0,
                now=NOW,
            )
        s.enqueue(channel="c", kind="price", key="p", payload={"previous": 1}, urgency=0, now=NOW)
        s.enqueue(channel="d", kind="stock", key="d", payload={"previous": 1}, urgency=0, now=NOW)
        entries = {i.key: i for i in s.outbox()}
        s.settle(entries["later"].id, 1, OutboxState.PENDING, now=NOW, next_attempt_at=later)
        s.settle(entries["sent"].id, 1, OutboxState.SENT, now=NOW)

        found = s.due_carrying("c", "stock", NOW, "previous")
        assert [i.key for i in found] == ["urgent", "zero", "set", "text"]
        assert found[2].payload == {"previous": 7, "quantity": 9}
        assert found == [
            i for i in s.due("c", "stock", NOW, 100) if i.key in {i.key for i in found}
        ]
        assert [i.key for i in s.due_carrying("c", "stock", later, "previous")][-1] == "later"
        assert s.due_carrying("c", "stock", NOW, "missing") == []


def test_manual_bindings_are_not_replaced_by_automatic_ones(store: Store) -> None:
    a, b = _sku(store, "A"), _sku(store, "B")
    with store.transaction() as s:
        s.upsert_binding(
            channel="c",
            item_id="1",
            listing_sku_id=None,
            sku_id=a,
            merchant_code="A",
            manual=True,
            title="t",
            channel_quantity=3,
            now=NOW,
        )
        s.upsert_binding(
            channel="c",
            item_id="1",
            listing_sku_id=None,
            sku_id=b,
            merchant_code="B",
            manual=False,
            title="t2",
            channel_quantity=2,
            now=NOW,
        )
        binding = s.binding_for_listing("c", "1", None)
    assert binding is not None
    assert (binding.sku_id, binding.manual, binding.channel_quantity) == (a, True, 2)


def test_orders_notifications_shipments_audit_and_parked(store: Store) -> None:
    order = StoredOrder(
        channel="c",
        order_id="o1",
        status="paid",
        version="v1",
        updated_at=NOW,
        created_at=NOW,
        on_hold=False,
        raw={"x": 1},
        imported_at=NOW,
    )
    with store.transaction() as s:
        s.save_order(order)
        assert s.order("c", "o1") == order
        assert s.orders(status="paid", since=NOW) == [order]
        assert s.orders(status="shipped") == []
        assert s.add_notification("c", "o1", "v1", None) is True
        assert s.add_notification("c", "o1", "v1", None) is False
        s.mark_notified("c", "o1", "v1")
        assert s.pending_notifications() == []
        assert s.add_shipment(
            key="k",
            channel="c",
            order_id="o1",
            carrier="sf",
            tracking_number="T",
            payload={},
            now=NOW,
        )
        assert not s.add_shipment(
            key="k",
            channel="c",
            order_id="o1",
            carrier="sf",
            tracking_number="T",
            payload={},
            now=NOW,
        )
        s.set_shipment_state("k", "sent", NOW, marketplace_ref="R")
        shipment = s.shipment("k")
        assert shipment is not None
        assert (shipment.state, shipment.marketplace_ref) == ("sent", "R")
        s.audit(channel="c", kind="stock", key="A", sent={"q": 1}, ok=True, answer=None, now=NOW)
        assert [e.at for e in s.audit_trail(channel="c")] == [NOW]
        s.park(ParkedRecord("c", "order", "o2", "unreadable"), NOW)
        s.park(ParkedRecord("c", "order", "o2", "still unreadable"), NOW)
        assert [p.reason for p in s.parked()] == ["still unreadable"]
        s.unpark("c", "order", "o2")
        assert s.parked() == []


def test_cursors_round_trip_aware_times(store: Store) -> None:
    with store.transaction() as s:
        assert s.cursor("c", "orders") is None
        s.set_cursor("c", "orders", NOW, None)
        s.set_cursor("c", "orders", NOW + timedelta(hours=1), "t")
        assert s.cursor("c", "orders") == (NOW + timedelta(hours=1), "t")


def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = open_store(f"sqlite:///{path}")
    try:
        with store.transaction() as session:
            session.set_cursor("x", "orders", datetime(2026, 1, 1, tzinfo=UTC), None)
        for file in tmp_path.iterdir():  # the database, its WAL and shared-memory files
            assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file.name
    finally:
        store.close()
