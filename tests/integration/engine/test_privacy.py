"""Buyers' personal data is erased once no shipment needs it, and never logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from channelsync.clock import FakeClock
from channelsync.engine.orders import IngestReport, apply_order
from channelsync.engine.privacy import erase_personal_data
from channelsync.engine.sync import SyncEngine
from channelsync.models import Address, Money, Order, OrderLine, OrderStatus
from channelsync.store import Store, open_store, schema
from channelsync.store.sql import SqlStore, migrate
from channelsync.testing import MemoryChannel

NAME, PHONE = "张三 Zhang San", "13800138000"


@pytest.fixture
def state(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def _order(order_id: str, status: OrderStatus, clock: FakeClock) -> Order:
    return Order(
        channel="tmall",
        order_id=order_id,
        status=status,
        raw_status=status.value,
        created_at=clock.now(),
        updated_at=clock.now(),
        lines=(
            OrderLine(
                item_id="1", merchant_code="MUG", quantity=1, unit_price=Money.of("20", "CNY")
            ),
        ),
        total=Money.of("20", "CNY"),
        shipping_address=Address(name=NAME, phone=PHONE, city="杭州", street="文一西路 1 号"),
        buyer_note="请在门口放下",
        buyer_id="buyer-7",
    )


def _engine(state: Store, clock: FakeClock) -> SyncEngine:
    return SyncEngine(state, [MemoryChannel("tmall", clock=clock)], clock=clock)


def _import(state: Store, engine: SyncEngine, order: Order) -> None:
    with state.transaction() as session:
        apply_order(session, engine.context, order, IngestReport("tmall"))


def _raw(state: Store, order_id: str) -> dict[str, object]:
    with state.transaction() as session:
        stored = session.order("tmall", order_id)
        assert stored is not None
        return dict(stored.raw)


def test_personal_data_is_erased_after_retention_only_from_orders_that_are_done(
    state: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    engine = SyncEngine(state, [MemoryChannel("tmall", clock=clock)], clock=clock)
    with state.transaction() as session:
        for order_id, status in (
            ("old-shipped", OrderStatus.SHIPPED),
            ("old-paid", OrderStatus.PAID),
        ):
            apply_order(
                session, engine.context, _order(order_id, status, clock), IngestReport("tmall")
            )
    clock.advance(timedelta(days=20).total_seconds())
    with state.transaction() as session:
        order = _order("new-shipped", OrderStatus.SHIPPED, clock)
        apply_order(session, engine.context, order, IngestReport("tmall"))
    clock.advance(timedelta(days=15).total_seconds())

    with caplog.at_level(logging.DEBUG, logger="channelsync"):
        assert erase_personal_data(engine.context, timedelta(days=30)) == 1
    erased = _raw(state, "old-shipped")
    assert erased["shipping_address"] is None
    assert erased["buyer_note"] is None
    assert erased["buyer_id"] == "buyer-7"  # pseudonymous: the repeat-buyer report counts it
    assert erased["lines"]
    assert erased["total"]
    # Still needed by a shipment, or not past retention: kept.
    assert _raw(state, "old-paid")["shipping_address"] is not None
    assert _raw(state, "new-shipped")["shipping_address"] is not None
    # Audited by count, and no personal value in the log or the audit trail.
    with state.transaction() as session:
        (entry,) = session.audit_trail(kind="privacy_erase")
    assert entry.sent["orders"] == 1
    for text in (caplog.text, repr(entry)):
        assert NAME not in text
        assert PHONE not in text
    # Idempotent.
    assert erase_personal_data(engine.context, timedelta(days=30)) == 0


def test_privacy_purge_erases_on_demand(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path  # noqa: PLC0415

    from click.testing import CliRunner  # noqa: PLC0415

    from channelsync.cli import cli  # noqa: PLC0415
    from channelsync.cli.engine_cmd import CliOverrides  # noqa: PLC0415
    from channelsync.plugins import build_plugin_manager  # noqa: PLC0415

    where = Path(str(tmp_path))
    config = where / "channelsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{where / "state.db"}"\n\n'
        '[[channels]]\nname = "tmall"\ntype = "memory"\n',
        encoding="utf-8",
    )
    clock = FakeClock()
    shop = MemoryChannel("tmall", clock=clock)
    store = open_store(f"sqlite:///{where / 'state.db'}")
    try:
        engine = SyncEngine(store, [shop], clock=clock)
        with store.transaction() as session:
            order = _order("shipped-today", OrderStatus.SHIPPED, clock)
            apply_order(session, engine.context, order, IngestReport("tmall"))
    finally:
        store.close()
    overrides = CliOverrides(
        clock=clock, channels={"tmall": shop}, host=build_plugin_manager(autoload=False)
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["privacy", "purge", "--config", str(config)], obj=overrides)
    assert result.exit_code == 0, result.output
    assert "personal data erased from 0 orders" in result.output  # within retention
    args = ["privacy", "purge", "--older-than", "0", "--config", str(config)]
    clock.advance(1)
    result = runner.invoke(cli, args, obj=overrides)
    assert result.exit_code == 0, result.output
    assert "personal data erased from 1 order" in result.output
    assert NAME not in result.output


def test_the_daemons_hourly_run_reads_only_what_changed_and_still_finds_a_resent_order(
    state: Store,
) -> None:
    clock = FakeClock()
    engine = _engine(state, clock)
    order = _order("shipped", OrderStatus.SHIPPED, clock)
    _import(state, engine, order)
    clock.advance(timedelta(days=31).total_seconds())
    retention = timedelta(days=30)
    assert erase_personal_data(engine.context, retention, incremental=True) == 1
    clock.advance(3600)
    assert erase_personal_data(engine.context, retention, incremental=True) == 0
    # The marketplace sends the order again (completed), address and all.
    _import(state, engine, _order("shipped", OrderStatus.COMPLETED, clock))
    assert _raw(state, "shipped")["shipping_address"] is not None
    clock.advance(timedelta(days=31).total_seconds())
    assert erase_personal_data(engine.context, retention, incremental=True) == 1
    assert _raw(state, "shipped")["shipping_address"] is None


def test_personal_data_is_kept_apart_from_the_order_facts_and_erasing_deletes_it(
    state: Store,
) -> None:
    clock = FakeClock()
    engine = _engine(state, clock)
    order = _order("shipped", OrderStatus.SHIPPED, clock)
    _import(state, engine, order)
    assert isinstance(state, SqlStore)
    with state.engine.connect() as connection:
        (facts,) = connection.execute(select(schema.orders.c.raw)).scalars()
        (personal,) = connection.execute(select(schema.order_personal.c.data)).scalars()
    assert NAME not in json.dumps(facts, ensure_ascii=False)
    assert facts["shipping_address"] is None  # the JSON keeps its shape
    assert facts["buyer_note"] is None
    assert personal["shipping_address"]["name"] == NAME
    assert personal["buyer_note"] == "请在门口放下"
    # Read back whole, as the marketplace gave it.
    assert Order.model_validate(_raw(state, "shipped")) == order

    clock.advance(timedelta(days=31).total_seconds())
    assert erase_personal_data(engine.context, timedelta(days=30)) == 1
    with state.engine.connect() as connection:
        assert connection.execute(select(schema.order_personal)).all() == []
        (facts_after,) = connection.execute(select(schema.orders.c.raw)).scalars()
    assert facts_after == facts  # the order facts are untouched
    erased = _raw(state, "shipped")
    assert erased["shipping_address"] is None
    assert erased["buyer_note"] is None


def test_an_order_read_again_without_its_address_keeps_none(state: Store) -> None:
    clock = FakeClock()
    engine = _engine(state, clock)
    _import(state, engine, _order("o-1", OrderStatus.PAID, clock))
    clock.advance(60)
    masked = _order("o-1", OrderStatus.SHIPPED, clock).model_copy(
        update={"shipping_address": None, "buyer_note": None, "version": "2"}
    )
    _import(state, engine, masked)
    assert _raw(state, "o-1")["shipping_address"] is None
    assert _raw(state, "o-1")["status"] == OrderStatus.SHIPPED.value
    assert isinstance(state, SqlStore)
    with state.engine.connect() as connection:
        assert connection.execute(select(schema.order_personal)).all() == []


def test_migrating_an_older_store_moves_the_personal_data_out_of_the_orders(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    clock = FakeClock()
    order = _order("old", OrderStatus.SHIPPED, clock)
    raw = order.model_dump(mode="json")
    engine = create_engine(url)
    with engine.begin() as connection:
        migrate(connection, "0010")
        connection.execute(
            insert(schema.orders).values(
                channel="tmall",
                order_id="old",
                status="shipped",
                version="1",
                updated_at=clock.now(),
                created_at=clock.now(),
                on_hold=False,
                raw=raw,
                imported_at=clock.now(),
            )
        )
    engine.dispose()
    migrated = open_store(url)
    try:
        assert isinstance(migrated, SqlStore)
        with migrated.engine.connect() as connection:
            (facts,) = connection.execute(select(schema.orders.c.raw)).scalars()
        assert NAME not in json.dumps(facts, ensure_ascii=False)
        assert _raw(migrated, "old") == raw
    finally:
        migrated.close()
