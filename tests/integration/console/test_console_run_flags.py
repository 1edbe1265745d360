"""``channelsync run --console``: an address that cannot work stops the daemon at start."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from channelsync.cli.main import cli
from channelsync.demo import config_toml, demo_environment, start_marketplaces
from channelsync.demo.marketplaces import DemoMarketplace
from channelsync.plugins import build_plugin_manager


@pytest.fixture
def tmall() -> Iterator[DemoMarketplace]:
    (market,) = start_marketplaces(build_plugin_manager(), types=["tmall"])
    yield market
    market.stop()


@pytest.fixture
def config(tmp_path: Path, tmall: DemoMarketplace, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in demo_environment([tmall]).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CHANNELSYNC_CONSOLE_TOKEN", raising=False)
    path = tmp_path / "channelsync.toml"
    path.write_text(config_toml([tmall]), encoding="utf-8")
    return path


def test_a_console_beyond_loopback_without_a_token_is_refused_before_anything_starts(
    config: Path,
) -> None:
    result = CliRunner().invoke(cli, ["run", "--config", str(config), "--console", "0.0.0.0:0"])
    assert result.exit_code == 2
    assert "0.0.0.0:0, beyond this machine, without a token" in result.output
    assert "CHANNELSYNC_CONSOLE_TOKEN" in result.output
    assert "Traceback" not in result.output
    assert not (config.parent / "channelsync.db").exists()


def test_a_console_address_in_use_is_named(config: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["run", "--config", str(config), "--console", f"127.0.0.1:{port}"]
        )
    assert result.exit_code == 2
    assert f"the console address 127.0.0.1:{port} is in use" in result.output
    assert not (config.parent / "channelsync.db").exists()


def test_a_malformed_console_address_is_a_usage_error(config: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--config", str(config), "--console", "8765"])
    assert result.exit_code == 2
    assert "field '--console'" in result.output
    assert "HOST:PORT" in result.output
