"""Order completeness: the marketplace's own count against the orders imported."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.engine.completeness import CURSOR_KIND, SETTLE
from channelsync.engine.sync import SyncEngine
from channelsync.errors import TransientError
from channelsync.plugins import build_plugin_manager
from channelsync.store import Store
from channelsync.testing import MemoryChannel

HOUR = 3600


def counts(channel: MemoryChannel) -> int:
    return sum(1 for operation, _ in channel.calls if operation == "orders.count")


async def test_counts_that_agree_report_nothing_and_each_window_is_counted_once(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    tmall.place_order([("MUG", 1)])
    tmall.place_order([("CUP", 1)])
    clock.advance(3 * HOUR)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].completeness == []
    assert summary.channels["tmall"].errors == []
    with store.transaction() as session:
        watermark = session.cursor("tmall", "orders")
        checked = session.cursor("tmall", CURSOR_KIND)
        assert session.audit_trail(channel="tmall", kind="completeness") == []
    assert watermark is not None
    assert checked is not None
    assert watermark[0] - SETTLE - checked[0] < SETTLE  # counted up to the settled horizon
    before = counts(tmall)
    await sync.run_cycle()
    assert counts(tmall) == before  # nothing new has settled: no count asked


async def test_an_order_the_pull_never_returned_is_reported_as_missing(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    seen = tmall.place_order([("MUG", 1)])
    lost = tmall.place_order([("MUG", 2)])
    tmall.hidden_orders.add(lost.order_id)
    clock.advance(3 * HOUR)
    summary = await sync.run_cycle()

    [mismatch] = summary.channels["tmall"].completeness
    assert (mismatch["counted"], mismatch["imported"]) == (2, 1)
    assert mismatch["start"] <= lost.created_at.isoformat() < mismatch["end"]
    assert mismatch["message"].startswith("1 order(s) missing: marketplace counts 2, 1 imported")
    with store.transaction() as session:
        [entry] = session.audit_trail(channel="tmall", kind="completeness")
        assert session.order("tmall", seen.order_id) is not None
    assert not entry.ok
    assert entry.answer == mismatch["message"]
    # Reported once: the window is not counted again.
    clock.advance(60)
    again = await sync.run_cycle()
    assert again.channels["tmall"].completeness == []


async def test_a_failing_count_is_a_channel_error_and_is_retried(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    with store.transaction() as session:
        checked_before = session.cursor("tmall", CURSOR_KIND)
    tmall.place_order([("MUG", 1)])
    clock.advance(3 * HOUR)

    async def broken(window: object) -> int:
        raise TransientError("count service unavailable", channel="tmall")

    original = tmall.count_orders
    tmall.count_orders = broken  # type: ignore[method-assign]
    summary = await sync.run_cycle()
    [error] = summary.channels["tmall"].errors
    assert error.startswith("counting orders: ")
    assert "count service unavailable" in error
    with store.transaction() as session:
        assert session.cursor("tmall", CURSOR_KIND) == checked_before
    assert summary.channels["jd"].errors == []
    tmall.count_orders = original  # type: ignore[method-assign]
    clock.advance(60)
    retried = await sync.run_cycle()
    assert retried.channels["tmall"].errors == []
    assert retried.channels["tmall"].completeness == []


def test_status_shows_the_order_count_mismatches(tmp_path: Path) -> None:
    config = tmp_path / "channelsync.toml"
    config.write_text('[[channels]]\nname = "shop-a"\ntype = "memory"\n', encoding="utf-8")
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n", encoding="utf-8"
    )
    clock = FakeClock()
    shop = MemoryChannel("shop-a", clock=clock)
    shop.add_listing("a1", "MUG")
    overrides = CliOverrides(
        clock=clock, channels={"shop-a": shop}, host=build_plugin_manager(autoload=False)
    )
    runner = CliRunner()
    args = ["--config", str(config)]
    assert runner.invoke(cli, ["catalogue", "import", str(catalogue), *args]).exit_code == 0
    assert runner.invoke(cli, ["sync", "--once", *args], obj=overrides).exit_code == 0
    clock.advance(60)
    shop.hidden_orders.add(shop.place_order([("MUG", 1)]).order_id)
    clock.advance(3 * HOUR)
    result = runner.invoke(cli, ["sync", "--once", *args], obj=overrides)
    assert "ORDER COUNT MISMATCH: 1 order(s) missing" in result.output

    status = runner.invoke(cli, ["status", "--json", *args], obj=overrides)
    assert status.exit_code == 0, status.output
    info = json.loads(status.output)["channels"]["shop-a"]
    assert info["orders_counted_until"] is not None
    [answer] = info["order_count_mismatches"]
    assert answer.startswith("1 order(s) missing: marketplace counts 1, 0 imported")
    text = runner.invoke(cli, ["status", *args], obj=overrides)
    assert "1 mismatch" in text.output
    assert "1 order(s) missing" in text.output
