"""Work parked because the credentials were refused goes again once the channel authenticates.

A Tmall shop's session is refused for every stock write (a revoked authorisation),
so the stock change is parked "waiting for credentials". Once the merchant has
authorised again, the next successful call proves it, and the parked change is sent
on its own: nobody runs ``outbox retry``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.sync import SyncEngine
from channelsync.plugins import build_plugin_manager
from channelsync.store import OutboxState, Store, open_store
from channelsync.testing.fakes import Fault

from .fake_shops import START, import_demo_catalogue, open_shop

STOCK_WRITE = "taobao.skus.quantity.update"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


async def test_a_change_parked_for_credentials_is_sent_once_the_channel_authenticates(
    state: Store, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    codes = import_demo_catalogue(state, clock, 30)
    shop = open_shop("tmall", clock)
    sync = SyncEngine(state, [shop.channel], clock=clock)
    await sync.run_cycle()
    code = codes[0]

    clock.advance(60)
    adjust_stock(state, code, 5, key="count-1", now=clock.now())
    # The session is refused for writes, however often it is refreshed.
    shop.fake.faults.force(Fault.EXPIRED_TOKEN, times=20, operation=STOCK_WRITE)
    await sync.run_cycle()
    with state.transaction() as session:
        (parked,) = session.outbox(state=OutboxState.PARKED)
    assert (parked.reason or "").startswith(f"{WAITING_FOR_CREDENTIALS}: ")
    assert shop.stock()[code] == 30

    # status tells it apart from other parked work.
    config = tmp_path / "channelsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n\n'
        '[[channels]]\nname = "tmall"\ntype = "tmall"\n',
        encoding="utf-8",
    )
    overrides = CliOverrides(
        clock=clock, channels={"tmall": shop.channel}, host=build_plugin_manager(autoload=False)
    )
    result = CliRunner().invoke(cli, ["status", "--config", str(config)], obj=overrides)
    assert result.exit_code == 0, result.output
    assert "1 parked (1 waiting for credentials)" in result.output

    # The merchant authorises again; the next cycle's pull succeeds, and the parked
    # change goes with it.
    shop.fake.faults._forced.clear()
    clock.advance(60)
    summary = await sync.run_cycle()
    assert summary.channels["tmall"].sent >= 1
    assert shop.stock()[code] == 35
    with state.transaction() as session:
        assert session.outbox(state=OutboxState.PARKED) == []


async def test_a_change_refused_again_after_the_last_success_stays_parked(
    state: Store,
) -> None:
    clock = FakeClock(START)
    codes = import_demo_catalogue(state, clock, 30)
    shop = open_shop("tmall", clock)
    sync = SyncEngine(state, [shop.channel], clock=clock)
    await sync.run_cycle()
    clock.advance(60)
    adjust_stock(state, codes[0], 5, key="count-1", now=clock.now())
    shop.fake.faults.force(Fault.EXPIRED_TOKEN, times=1000, operation=STOCK_WRITE)
    writes = []
    for _ in range(3):
        await sync.run_cycle()
        writes.append(shop.fake.calls[STOCK_WRITE])
        clock.advance(60)
    # Each cycle's pull succeeds, so the change is sent again once per cycle after it
    # was parked (the same attempts each time), never in a loop within one cycle.
    per_cycle = [b - a for a, b in pairwise(writes)]
    assert writes[0] > 0
    assert per_cycle[0] > 0
    assert per_cycle == [per_cycle[0]] * 2
    with state.transaction() as session:
        (parked,) = session.outbox(state=OutboxState.PARKED)
    assert (parked.reason or "").startswith(WAITING_FOR_CREDENTIALS)
