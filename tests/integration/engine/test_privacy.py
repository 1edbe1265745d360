"""Buyers' personal data is erased once no shipment needs it, and never logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from channelsync.clock import FakeClock
from channelsync.engine.orders import IngestReport, apply_order
from channelsync.engine.privacy import erase_personal_data
from channelsync.engine.sync import SyncEngine
from channelsync.models import Address, Money, Order, OrderLine, OrderStatus
from channelsync.store import Store, open_store
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
    engine = SyncEngine(state, [MemoryChannel("tmall", clock=clock)], clock=clock)
    with state.transaction() as session:
        order = _order("shipped", OrderStatus.SHIPPED, clock)
        apply_order(session, engine.context, order, IngestReport("tmall"))
    clock.advance(timedelta(days=31).total_seconds())
    retention = timedelta(days=30)
    assert erase_personal_data(engine.context, retention, incremental=True) == 1
    clock.advance(3600)
    assert erase_personal_data(engine.context, retention, incremental=True) == 0
    # The marketplace sends the order again (completed), address and all.
    with state.transaction() as session:
        again = _order("shipped", OrderStatus.COMPLETED, clock)
        apply_order(session, engine.context, again, IngestReport("tmall"))
    assert _raw(state, "shipped")["shipping_address"] is not None
    clock.advance(timedelta(days=31).total_seconds())
    assert erase_personal_data(engine.context, retention, incremental=True) == 1
    assert _raw(state, "shipped")["shipping_address"] is None
