"""``channelsync events enable`` and ``events status`` on a Pinduoduo shop."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from channelsync.channels.events import ChannelEvent, EventKind
from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.engine.inbox import receive_event
from channelsync.engine.sync import SyncEngine
from channelsync.plugins import build_plugin_manager
from channelsync.store import open_store
from channelsync.testing import MemoryChannel

from .conftest import MakeChannel


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "channelsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n\n'
        '[[channels]]\nname = "shop"\ntype = "pinduoduo"\n\n'
        '[[channels]]\nname = "mem"\ntype = "memory"\n',
        encoding="utf-8",
    )
    return config


def _invoke(overrides: CliOverrides, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=overrides)


def _overrides(make_channel: MakeChannel, clock: FakeClock, *, events: bool) -> CliOverrides:
    return CliOverrides(
        clock=clock,
        channels={
            "shop": make_channel(settings={"events": events}),
            "mem": MemoryChannel("mem", clock=clock),
        },
        host=build_plugin_manager(autoload=False),
    )


def test_enable_opts_the_shop_in_and_says_what_is_left(
    tmp_path: Path, make_channel: MakeChannel, clock: FakeClock
) -> None:
    config = _config(tmp_path)
    result = _invoke(
        _overrides(make_channel, clock, events=False),
        "events",
        "enable",
        "shop",
        "--config",
        str(config),
    )
    assert result.exit_code == 0, result.output
    assert "pdd.pmc.user.permit: shop opted in" in result.output
    assert "set `events = true`" in result.output

    on = _invoke(
        _overrides(make_channel, clock, events=True),
        "events",
        "enable",
        "shop",
        "--config",
        str(config),
    )
    assert on.exit_code == 0, on.output
    assert "set `events = true`" not in on.output


def test_enable_refuses_a_channel_without_push_by_name(
    tmp_path: Path, make_channel: MakeChannel, clock: FakeClock
) -> None:
    config = _config(tmp_path)
    overrides = _overrides(make_channel, clock, events=False)
    result = _invoke(overrides, "events", "enable", "mem", "--config", str(config))
    assert result.exit_code == 2
    assert "channel 'mem' (memory) has no push service" in result.output
    result = _invoke(overrides, "events", "enable", "nope", "--config", str(config))
    assert result.exit_code == 2
    assert "unknown channel 'nope'" in result.output
    assert "Traceback" not in result.output


def test_status_counts_the_inbox(
    tmp_path: Path, make_channel: MakeChannel, clock: FakeClock
) -> None:
    config = _config(tmp_path)
    overrides = _overrides(make_channel, clock, events=True)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        engine = SyncEngine(store, [overrides.channels["shop"]], clock=clock)
        event = ChannelEvent(
            kind=EventKind.ORDER, message_id="1", key="240301-1", topic="pdd_trade_TradeConfirmed"
        )
        assert receive_event(engine.context, "shop", event)
    finally:
        store.close()
    result = _invoke(overrides, "events", "status", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "shop: events on; 1 received in the last hour, 1 unanswered" in result.output
    rows = json.loads(
        _invoke(overrides, "events", "status", "--json", "--config", str(config)).output
    )
    assert rows["shop"]["unanswered"] == 1
    assert "mem" not in rows
    # The main status shows it too, for the channel that listens only.
    shown = _invoke(overrides, "status", "--config", str(config))
    assert shown.exit_code == 0, shown.output
    assert "  events: 1 received in the last hour, 1 unanswered, last at 2024-03-01" in shown.output
    assert shown.output.count("  events: ") == 1
