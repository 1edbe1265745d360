"""Auto-delist and relist, low-stock alerts per crossing, and raises held by the guard."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from click.testing import CliRunner

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, EngineConfig
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.planner import plan_changes
from channelsync.engine.sync import SyncEngine
from channelsync.models import ListingStatus
from channelsync.plugins import LowStockAlert, build_plugin_manager, hookimpl
from channelsync.store import SkuRecord, Store, StoreSession
from channelsync.testing import MemoryChannel


class Alerts:
    def __init__(self) -> None:
        self.seen: list[LowStockAlert] = []

    @hookimpl
    def channelsync_low_stock(self, alert: LowStockAlert) -> None:
        self.seen.append(alert)


async def test_auto_delist_at_zero_and_relist_is_per_channel(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(
        store,
        [tmall, jd],
        settings={"tmall": ChannelSyncSettings(auto_delist=True)},
        clock=clock,
    )
    await sync.run_cycle()
    assert tmall.listing("MUG").status is ListingStatus.ON_SALE

    adjust_stock(store, "MUG", -10, key="stocktake-1", now=clock.now())
    clock.advance(60)
    await sync.run_cycle()
    assert (tmall.listing("MUG").quantity, jd.listing("MUG").quantity) == (0, 0)
    assert tmall.listing("MUG").status is ListingStatus.DELISTED
    assert jd.listing("MUG").status is ListingStatus.ON_SALE  # jd does not auto-delist

    adjust_stock(store, "MUG", 4, key="delivery-1", now=clock.now())
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 4
    assert tmall.listing("MUG").status is ListingStatus.ON_SALE
    assert [c for c in jd.calls if c[0] == "listings.set_status"] == []


async def test_stock_returning_before_a_delist_was_sent_keeps_the_listing_on_sale(
    store: Store, clock: FakeClock, tmall: MemoryChannel
) -> None:
    sync = SyncEngine(
        store, [tmall], settings={"tmall": ChannelSyncSettings(auto_delist=True)}, clock=clock
    )
    await sync.run_cycle()
    adjust_stock(store, "MUG", -10, key="stocktake-1", now=clock.now())
    sync.replan()  # zero and delist queued, not sent yet
    adjust_stock(store, "MUG", 6, key="delivery-1", now=clock.now())
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 6
    assert tmall.listing("MUG").status is ListingStatus.ON_SALE


def _alerting(
    store: Store, clock: FakeClock, *channels: MemoryChannel
) -> tuple[SyncEngine, Alerts]:
    """An engine whose low-stock threshold is 5, and the alerts its hook is given."""
    alerts = Alerts()
    sync = SyncEngine(
        store,
        list(channels),
        config=EngineConfig(low_stock_threshold=5),
        host=build_plugin_manager(autoload=False, extra_plugins=[alerts]),
        clock=clock,
    )
    return sync, alerts


async def test_the_low_stock_alert_fires_once_per_crossing(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync, alerts = _alerting(store, clock, tmall, jd)
    first = await sync.run_cycle()
    # CUP starts with one unit: below the threshold from the first cycle.
    assert [a.merchant_code for a in alerts.seen] == ["CUP"]
    assert first.low_stock == ["CUP"]

    steps = [(-6, "MUG"), (-1, "MUG"), (-1, "MUG"), (5, "MUG"), (-4, "MUG")]
    lows = []
    for number, (delta, code) in enumerate(steps):
        adjust_stock(store, code, delta, key=f"step-{number}", now=clock.now())
        clock.advance(60)
        lows.append((await sync.run_cycle()).low_stock)
    # 10 -> 4 crosses; 3 and 2 stay below; 7 is back above; 3 crosses again.
    assert lows == [["MUG"], [], [], [], ["MUG"]]
    assert [(a.merchant_code, a.available) for a in alerts.seen] == [
        ("CUP", 1),
        ("MUG", 4),
        ("MUG", 3),
    ]
    assert all(a.threshold == 5 for a in alerts.seen)


class _StaleFlags:
    """A session whose SKU reads show no low-stock flag, as read before another plan set it."""

    def __init__(self, session: StoreSession) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def skus_by_id(self, sku_ids: Iterable[int]) -> dict[int, SkuRecord]:
        found = self._session.skus_by_id(sku_ids)
        return {i: replace(sku, low_stock_alerted=False) for i, sku in found.items()}


async def test_a_plan_that_read_the_flag_before_another_plan_set_it_raises_no_second_alert(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync, alerts = _alerting(store, clock, tmall, jd)
    await sync.run_cycle()
    assert [a.merchant_code for a in alerts.seen] == ["CUP"]
    with store.transaction() as session:
        cup = session.skus(["CUP"])[0].id
        # Two plans of CUP at once: this one read it unflagged, the other flagged it.
        report = plan_changes(cast(StoreSession, _StaleFlags(session)), sync.context, [cup])
    assert report.alerts == []
    with store.transaction() as session:
        assert session.skus(["CUP"])[0].low_stock_alerted is True


async def test_raises_held_by_the_guard_are_counted_per_channel(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    order = tmall.place_order([("MUG", 2)])
    tmall.hidden_orders.add(order.order_id)  # bought, but not readable yet
    adjust_stock(store, "MUG", 5, key="delivery-1", now=clock.now())
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].held == 1
    assert summary.channels["jd"].held == 0
    assert summary.to_dict()["held"] == 1
    assert tmall.listing("MUG").quantity == 8  # not raised over the order in flight
    assert jd.listing("MUG").quantity == 15


def test_sync_once_json_reports_held(tmp_path: Path) -> None:
    config = tmp_path / "channelsync.toml"
    config.write_text(
        '[[channels]]\nname = "shop-a"\ntype = "memory"\n\n'
        '[[channels]]\nname = "shop-b"\ntype = "memory"\n',
        encoding="utf-8",
    )
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n", encoding="utf-8"
    )
    clock = FakeClock()
    a, b = MemoryChannel("shop-a", clock=clock), MemoryChannel("shop-b", clock=clock)
    a.add_listing("a1", "MUG")
    b.add_listing("b1", "MUG")
    overrides = CliOverrides(
        clock=clock, channels={"shop-a": a, "shop-b": b}, host=build_plugin_manager(autoload=False)
    )
    runner = CliRunner()
    args = ["--config", str(config)]
    assert runner.invoke(cli, ["catalogue", "import", str(catalogue), *args]).exit_code == 0
    first = runner.invoke(cli, ["sync", "--once", *args], obj=overrides)
    assert first.exit_code == 0, first.output
    assert "parked: 0, held: 0" in first.output
    assert "shop-a: 0 orders, 2 sent, 0 to retry, 0 parked, 0 held" in first.output
    order = a.place_order([("MUG", 1)])
    a.hidden_orders.add(order.order_id)
    catalogue.write_text(
        "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,12\n", encoding="utf-8"
    )
    assert runner.invoke(cli, ["catalogue", "import", str(catalogue), *args]).exit_code == 0
    clock.advance(60)
    result = runner.invoke(cli, ["sync", "--once", "--json", *args], obj=overrides)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["held"] == 1
    assert data["channels"]["shop-a"]["held"] == 1
    assert data["channels"]["shop-b"]["held"] == 0
