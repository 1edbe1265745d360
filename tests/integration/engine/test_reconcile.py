"""Reconciliation: hand edits in a back office are found, reported and corrected."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.engine.order_page import IngestReport
from channelsync.engine.orders import apply_order
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.sync import SyncEngine
from channelsync.models import Money
from channelsync.plugins import build_plugin_manager
from channelsync.store import BindingRecord, OutboxState, Store, open_store
from channelsync.store.sql.bindings import SqlBindings
from channelsync.testing import MemoryChannel

from .conftest import stocked_store


async def test_a_raised_quantity_and_a_changed_price_are_corrected_and_reported(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    tmall.listing("MUG").quantity = 50
    tmall.listing("MUG").price = Money.of("9.90", "CNY")
    async with tmall:
        report = await reconcile_channel(sync.context, tmall)
    assert report.compared == 2
    assert {(d.merchant_code, d.field, d.shown, d.expected, d.action) for d in report.drift} == {
        ("MUG", "quantity", "50", "10", "queued"),
        ("MUG", "price", "9.90", "20.00", "queued"),
    }
    with store.transaction() as s:
        trail = [e for e in s.audit_trail(channel="tmall") if e.kind == "reconcile"]
    assert len(trail) == 2
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == 10
    assert tmall.listing("MUG").price == Money.of("20.00", "CNY")
    # Nothing drifts any more.
    async with tmall:
        assert (await reconcile_channel(sync.context, tmall)).drift == []


async def test_a_lowered_quantity_waits_for_a_second_look_before_it_is_raised(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    tmall.listing("MUG").quantity = 4
    async with tmall:
        report = await reconcile_channel(sync.context, tmall)
    assert [(d.field, d.action) for d in report.drift] == [("quantity", "held")]
    await sync.run_cycle()  # the same moment: it could still be an order in flight
    assert tmall.listing("MUG").quantity == 4
    clock.advance(60)
    await sync.run_cycle()  # orders read past the first look, none explains the drop
    assert tmall.listing("MUG").quantity == 10


async def test_a_drop_explained_by_an_imported_order_is_no_drift(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    sync = SyncEngine(store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    tmall.place_order([("MUG", 3)])
    clock.advance(60)
    await sync.run_cycle()
    clock.advance(60)
    tmall.place_order([("MUG", 1)])
    async with tmall:
        # Not imported yet: an order in flight, so the drop is held, not overwritten.
        early = await reconcile_channel(sync.context, tmall)
    assert [(d.shown, d.expected, d.action) for d in early.drift] == [("6", "7", "held")]
    clock.advance(60)
    await sync.run_cycle()  # imports it: 6 is what should be shown
    async with tmall:
        report = await reconcile_channel(sync.context, tmall)
    assert report.drift == []
    assert tmall.listing("MUG").quantity == jd.listing("MUG").quantity == 6


def test_the_reconcile_command_reports_and_corrects(tmp_path: Path) -> None:
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
    result = runner.invoke(cli, ["sync", "--once", *args], obj=overrides)
    assert result.exit_code == 0, result.output
    b.listing("MUG").quantity = 99
    result = runner.invoke(
        cli, ["reconcile", "--channel", "shop-b", "--json", *args], obj=overrides
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [c["channel"] for c in data["channels"]] == ["shop-b"]
    (drift,) = data["channels"][0]["drift"]
    assert (drift["merchant_code"], drift["shown"], drift["expected"]) == ("MUG", "99", "10")
    assert b.listing("MUG").quantity == 10
    result = runner.invoke(cli, ["reconcile", *args], obj=overrides)
    assert result.exit_code == 0, result.output
    assert "shop-a: 1 listings compared, 0 drifted, 0 missing" in result.output
    result = runner.invoke(cli, ["reconcile", "--channel", "nope", *args], obj=overrides)
    assert result.exit_code == 2


async def test_a_price_drift_on_a_channel_in_another_currency_is_corrected_in_it(
    store: Store, clock: FakeClock
) -> None:
    # An Amazon-like channel sells in USD, converted from the catalogue's CNY. A price
    # changed by hand to 9.99 is corrected to the converted price, labelled USD: not
    # the converted amount labelled CNY, which the planner parks as a mismatch.
    from channelsync.config import ChannelSyncSettings, PriceRule  # noqa: PLC0415
    from channelsync.engine.reconcile import correction_outcome  # noqa: PLC0415

    us = MemoryChannel("amazon-us", clock=clock)
    us.add_listing("B0MUG", "MUG", sku_id="MUG-US")
    rule = PriceRule(currency="USD", rates={"CNY": Decimal("0.14")})
    sync = SyncEngine(
        store, [us], clock=clock, settings={"amazon-us": ChannelSyncSettings(price=rule)}
    )
    await sync.run_cycle()
    assert us.listing("MUG").price == Money.of("2.80", "USD")

    clock.advance(60)
    us.listing("MUG").price = Money.of("9.99", "USD")  # a hand edit in Seller Central
    async with us:
        report = await reconcile_channel(sync.context, us)
    assert [(d.field, d.shown, d.expected) for d in report.drift] == [("price", "9.99", "2.80")]
    with store.transaction() as s:
        (drift,) = [e for e in s.audit_trail(channel="amazon-us") if e.kind == "reconcile"]
        (queued,) = [i for i in s.outbox(channel="amazon-us") if i.kind == "price"]
        assert (queued.payload["amount"], queued.payload["currency"]) == ("2.80", "USD")
        assert correction_outcome(s, drift) == "correction queued"

    clock.advance(60)
    await sync.run_cycle()
    assert us.listing("MUG").price == Money.of("2.80", "USD")
    with store.transaction() as s:
        assert correction_outcome(s, drift) == "corrected"
        assert s.parked(channel="amazon-us") == []
        assert s.outbox(channel="amazon-us", state=OutboxState.PARKED) == []


@pytest.fixture
def pg_store(postgres_url: str, clock: FakeClock) -> Iterator[Store]:
    yield from stocked_store(postgres_url, clock)


@pytest.mark.postgres
async def test_a_correction_queues_the_plan_committed_while_the_listings_were_compared(
    pg_store: Store,
    postgres_url: str,
    clock: FakeClock,
    tmall: MemoryChannel,
    jd: MemoryChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another writer (a worker importing a Jingdong order) commits a plan of MUG after
    # reconcile read Tmall's bindings and before it queued the correction of a hand
    # edit. The correction must send that plan's quantity, not the one read before it:
    # queued over the plan's entry, the old quantity would be sent and never replaced.
    sync = SyncEngine(pg_store, [tmall, jd], clock=clock)
    await sync.run_cycle()
    before = tmall.listing("MUG").quantity
    clock.advance(60)
    tmall.listing("MUG").quantity = 50  # raised by hand: corrected at once
    order = jd.place_order([("MUG", 7)])
    read = SqlBindings.bindings
    armed = True

    def bindings(
        self: SqlBindings, *, channel: str | None = None, sku_ids: Iterable[int] | None = None
    ) -> list[BindingRecord]:
        nonlocal armed
        found = read(self, channel=channel, sku_ids=sku_ids)
        if armed and channel == "tmall":
            armed = False
            other = open_store(postgres_url)
            try:
                with other.transaction() as session:
                    assert apply_order(session, sync.context, order, IngestReport(channel="jd"))
            finally:
                other.close()
        return found

    monkeypatch.setattr(SqlBindings, "bindings", bindings)
    async with tmall:
        report = await reconcile_channel(sync.context, tmall)
    monkeypatch.undo()
    assert not armed
    (drift,) = report.drift
    planned = _planned(pg_store, "tmall", "MUG")
    assert planned is not None
    assert planned < before  # the order's plan lowered Tmall
    assert (drift.shown, drift.expected) == ("50", str(planned))
    clock.advance(60)
    await sync.run_cycle()
    assert tmall.listing("MUG").quantity == planned
    # What both shops show never exceeds the 3 units left.
    assert tmall.listing("MUG").quantity + jd.listing("MUG").quantity <= 3


def _planned(store: Store, channel: str, code: str) -> Any:
    with store.transaction() as session:
        (binding,) = [b for b in session.bindings(channel=channel) if b.merchant_code == code]
        return binding.planned_quantity
