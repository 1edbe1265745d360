from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import keyring
import keyring.errors
import pytest
from click.testing import CliRunner

from channelsync import __version__
from channelsync.cli import cli
from channelsync.plugins import build_plugin_manager, hookimpl
from channelsync.testing import InMemoryKeyring

CANARY = "CANARY-cli-secret-41a7"

CONFIG = """
[[channels]]
name = "jd-pop"
type = "jd"
app_key = "K1"

[[channels]]
name = "pdd-1"
type = "pinduoduo"
client_id = "C1"
"""


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, memory_keyring: InMemoryKeyring) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("CHANNELSYNC_"):
            monkeypatch.delenv(name)
    return CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["plugins"],
        ["channels"],
        ["credentials"],
        ["credentials", "set"],
        ["credentials", "list"],
        ["credentials", "delete"],
    ],
)
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_plugins_lists_the_four_marketplaces_with_what_they_declare(
    runner: CliRunner,
) -> None:
    result = runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    types = {ct["type"]: ct for plugin in data["plugins"] for ct in plugin["channel_types"]}
    assert {"tmall", "jd", "pinduoduo", "amazon"} <= set(types)
    registry = build_plugin_manager().registry
    for name in ("tmall", "jd", "pinduoduo", "amazon"):
        declared = sorted(c.value for c in registry.get(name).capabilities())
        assert sorted(types[name]["capabilities"]) == declared
    assert types["tmall"]["credentials"] == ["app_secret", "session"]
    assert data["failures"] == []


def test_channels_reports_missing_credentials_and_check_fails(
    runner: CliRunner, config: Path
) -> None:
    result = runner.invoke(cli, ["channels", "--config", str(config), "--check"])
    assert result.exit_code == 1
    assert "jd-pop (jd): NOT READY" in result.output
    assert "CHANNELSYNC_JD_POP_APP_SECRET" in result.output


def test_environment_credentials_make_a_channel_ready(
    runner: CliRunner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANNELSYNC_JD_POP_APP_SECRET", CANARY)
    monkeypatch.setenv("CHANNELSYNC_JD_POP_ACCESS_TOKEN", CANARY)
    result = runner.invoke(cli, ["channels", "--config", str(config), "--json"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)["channels"]}
    assert rows["jd-pop"]["missing_credentials"] == []
    assert rows["jd-pop"]["credentials"]["app_secret"] == "environment"
    assert CANARY not in result.output


def test_a_config_error_exits_2_with_the_file_named_and_no_traceback(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[channels]]\nname = "x"\ntype = "jd"\napp_secret = "' + CANARY + '"\n')
    result = runner.invoke(cli, ["channels", "--config", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.output
    assert "app_secret" in result.output
    assert CANARY not in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["channels", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml" in result.output


def test_credentials_set_list_delete_round_trip(
    runner: CliRunner, config: Path, memory_keyring: InMemoryKeyring
) -> None:
    args = ["--config", str(config)]
    result = runner.invoke(
        cli, ["credentials", "set", "jd-pop", "app_secret", "--stdin", *args], input=CANARY + "\n"
    )
    assert result.exit_code == 0, result.output
    assert memory_keyring.get_password("channelsync", "jd-pop/app_secret") == CANARY

    result = runner.invoke(cli, ["credentials", "list", "jd-pop", *args])
    assert "app_secret (required): keyring" in result.output
    assert "access_token (required): not set" in result.output
    assert result.exit_code == 1  # a required field is still missing
    assert CANARY not in result.output

    result = runner.invoke(cli, ["credentials", "delete", "jd-pop", "app_secret", *args])
    assert result.exit_code == 0
    assert memory_keyring.get_password("channelsync", "jd-pop/app_secret") is None
    result = runner.invoke(cli, ["credentials", "delete", "jd-pop", "app_secret"])
    assert result.exit_code == 1
    # With the configuration, a field the channel's plugin does not have is named.
    result = runner.invoke(cli, ["credentials", "delete", "jd-pop", "app_secrt", *args])
    assert result.exit_code == 2
    assert "'jd' channels have no credential 'app_secrt'" in result.output


def test_credentials_set_prompts_without_echo(runner: CliRunner, config: Path) -> None:
    result = runner.invoke(
        cli,
        ["credentials", "set", "jd-pop", "access_token", "--config", str(config)],
        input=f"{CANARY}\n{CANARY}\n",
    )
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output


def test_credentials_set_refuses_a_field_the_channel_does_not_have(
    runner: CliRunner, config: Path
) -> None:
    result = runner.invoke(
        cli,
        ["credentials", "set", "jd-pop", "app_sercet", "--stdin", "--config", str(config)],
        input="x\n",
    )
    assert result.exit_code == 2
    assert "app_sercet" in result.output
    assert "app_secret" in result.output


class _BrokenKeyring(InMemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.NoKeyringError("no backend")


def test_channels_still_reports_every_channel_without_a_keyring(
    runner: CliRunner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(_BrokenKeyring())  # the memory_keyring fixture restores the real one
    monkeypatch.setenv("CHANNELSYNC_PDD_1_CLIENT_SECRET", CANARY)
    result = runner.invoke(cli, ["channels", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)["channels"]}
    assert "keyring is unavailable" in rows["pdd-1"]["problems"][0]
    assert rows["pdd-1"]["credentials"]["client_secret"] == "environment"
    assert [m["field"] for m in rows["pdd-1"]["missing_credentials"]] == ["access_token"]
    assert CANARY not in result.output


def test_plugins_fails_when_a_plugin_did_not_load(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = SimpleNamespace(__name__="broken_plugin")

    @hookimpl
    def channelsync_register_chanels(registry: object) -> None:
        raise AssertionError("never called")

    broken.channelsync_register_chanels = channelsync_register_chanels  # type: ignore[attr-defined]
    monkeypatch.setattr(
        "channelsync.cli.plugins_cmd.build_plugin_manager",
        lambda: build_plugin_manager(extra_plugins=[broken]),
    )
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 1
    assert "FAILED broken_plugin" in result.output
    result = runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["failures"][0]["name"] == "broken_plugin"


@pytest.mark.parametrize(
    "channel",
    [
        'name = "x"\ntype = "no-such-marketplace"\n',
        'name = "jd-pop"\ntype = "jd"\n',  # its secrets are set nowhere
    ],
    ids=["unknown-type", "missing-secret"],
)
@pytest.mark.parametrize("command", [["status"], ["sync", "--once"], ["run"]])
def test_a_configuration_that_cannot_work_creates_no_store(
    runner: CliRunner, tmp_path: Path, channel: str, command: list[str]
) -> None:
    path = tmp_path / "channelsync.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "channelsync.db"}"\n\n[[channels]]\n{channel}',
        encoding="utf-8",
    )
    result = runner.invoke(cli, [*command, "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "channelsync.db").exists()


@pytest.mark.parametrize(
    "command",
    [["status"], ["status", "--json"], ["plan"], ["bindings"], ["events", "status"]],
)
def test_reading_the_store_needs_no_secret_and_no_keyring(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    keyring.set_keyring(_BrokenKeyring())  # the memory_keyring fixture restores the real one
    path = tmp_path / "channelsync.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "channelsync.db"}"\n{CONFIG}', encoding="utf-8"
    )
    result = runner.invoke(cli, [*command, "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    # Commands that talk to the marketplaces still say what is missing.
    result = runner.invoke(cli, ["sync", "--once", "--config", str(path)])
    assert result.exit_code != 0
    assert "jd-pop" in result.output
    assert "Traceback" not in result.output


def test_a_missing_keyring_is_no_problem_when_the_environment_holds_every_required_secret(
    runner: CliRunner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(_BrokenKeyring())  # the memory_keyring fixture restores the real one
    for name in ("APP_SECRET", "ACCESS_TOKEN"):
        monkeypatch.setenv(f"CHANNELSYNC_JD_POP_{name}", CANARY)
    for name in ("CLIENT_SECRET", "ACCESS_TOKEN"):
        monkeypatch.setenv(f"CHANNELSYNC_PDD_1_{name}", CANARY)
    result = runner.invoke(cli, ["channels", "--config", str(config), "--check"])
    assert result.exit_code == 0, result.output
    assert "jd-pop (jd): ready" in result.output
    assert "note: " in result.output
    assert "refresh_token: not set" in result.output  # optional: reported, never blocking
    assert CANARY not in result.output
