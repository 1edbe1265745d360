from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from channelsync.cli import cli
from channelsync.cli.engine_cmd import CliOverrides
from channelsync.clock import FakeClock
from channelsync.engine.pausing import paused_channels
from channelsync.plugins import build_plugin_manager
from channelsync.store import open_store
from channelsync.testing import MemoryChannel

CONFIG = """
[[channels]]
name = "shop-a"
type = "memory"

[[channels]]
name = "shop-b"
type = "memory"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def overrides() -> CliOverrides:
    clock = FakeClock()
    return CliOverrides(
        clock=clock,
        channels={name: MemoryChannel(name, clock=clock) for name in ("shop-a", "shop-b")},
        host=build_plugin_manager(autoload=False),
    )


def invoke(overrides: CliOverrides, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=overrides)


def _store_url(config: Path) -> str:
    return f"sqlite:///{config.parent / 'channelsync.db'}"


def test_pause_shows_in_status_and_resume_clears_it(config: Path, overrides: CliOverrides) -> None:
    at = str(config)
    result = invoke(
        overrides, "channels", "pause", "shop-a", "--reason", "stocktake", "--config", at
    )
    assert result.exit_code == 0, result.output
    assert result.output == "paused shop-a: stocktake\n"

    status = invoke(overrides, "status", "--config", at)
    assert status.exit_code == 0, status.output
    since = "2026-01-01T00:00:00+00:00"  # the fake clock's start
    assert f"  PAUSED since {since} by {getpass.getuser()}: stocktake" in status.output
    shown = json.loads(invoke(overrides, "status", "--json", "--config", at).output)
    assert shown["channels"]["shop-a"]["paused"] == {
        "since": since,
        "by": getpass.getuser(),
        "reason": "stocktake",
    }
    assert shown["channels"]["shop-b"]["paused"] is None

    again = invoke(overrides, "channels", "pause", "shop-a", "--reason", "other", "--config", at)
    assert again.exit_code == 0, again.output
    assert "shop-a is already paused" in again.output
    assert "stocktake" in again.output

    result = invoke(overrides, "channels", "resume", "shop-a", "--config", at)
    assert result.exit_code == 0, result.output
    assert result.output == "resumed shop-a\n"
    shown = json.loads(invoke(overrides, "status", "--json", "--config", at).output)
    assert shown["channels"]["shop-a"]["paused"] is None
    assert "PAUSED" not in invoke(overrides, "status", "--config", at).output
    result = invoke(overrides, "channels", "resume", "shop-a", "--config", at)
    assert result.exit_code == 0
    assert result.output == "shop-a is not paused\n"

    with open_store(_store_url(config)) as store, store.transaction() as session:
        trail = session.audit_trail(channel="shop-a")
    assert [(e.kind, e.sent["by"], e.sent["reason"]) for e in trail] == [
        ("pause", getpass.getuser(), "stocktake"),
        ("resume", getpass.getuser(), "stocktake"),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["pause", "shop-c", "--reason", "typo"],
        ["resume", "shop-c"],
    ],
)
def test_an_unknown_channel_is_named_and_nothing_is_written(
    config: Path, overrides: CliOverrides, args: list[str]
) -> None:
    result = invoke(overrides, "channels", *args, "--config", str(config))
    assert result.exit_code == 2
    assert "no channel named 'shop-c' (configured: shop-a, shop-b)" in result.output
    assert "nothing was changed" in result.output
    assert "Traceback" not in result.output
    assert not (config.parent / "channelsync.db").exists()


@pytest.mark.parametrize("reason", ["", "  "])
def test_a_pause_without_a_reason_is_refused(
    config: Path, overrides: CliOverrides, reason: str
) -> None:
    result = invoke(
        overrides, "channels", "pause", "shop-a", "--reason", reason, "--config", str(config)
    )
    assert result.exit_code == 2
    assert "--reason" in result.output
    assert "a reason is required" in result.output
    assert not (config.parent / "channelsync.db").exists()
    result = invoke(overrides, "channels", "pause", "shop-a", "--config", str(config))
    assert result.exit_code == 2  # click's own usage error: the option is required
    assert "--reason" in result.output


def test_the_config_may_be_named_before_the_subcommand(
    config: Path, overrides: CliOverrides
) -> None:
    result = invoke(
        overrides, "channels", "--config", str(config), "pause", "shop-b", "--reason", "audit"
    )
    assert result.exit_code == 0, result.output
    with open_store(_store_url(config)) as store, store.transaction() as session:
        assert set(paused_channels(session)) == {"shop-b"}


def test_channels_still_lists_and_its_help_names_pause_and_resume(
    config: Path, overrides: CliOverrides
) -> None:
    result = invoke(overrides, "channels", "--help")
    assert result.exit_code == 0
    assert "pause" in result.output
    assert "resume" in result.output
    for command in ("pause", "resume"):
        result = invoke(overrides, "channels", command, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output
