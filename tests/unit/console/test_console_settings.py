"""The ``[console]`` table, the ``--console`` address and where the token comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from channelsync.config import load_config
from channelsync.console.settings import ConsoleAddress, ConsoleSettings, parse_address
from channelsync.errors import ConfigurationError


def _config(tmp_path: Path, console: str) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(f'[store]\nurl = "sqlite:///state.db"\n\n[console]\n{console}\n')
    return path


def test_an_address_is_host_and_port_and_loopback_is_recognised() -> None:
    assert parse_address("127.0.0.1:8765") == ConsoleAddress("127.0.0.1", 8765)
    assert parse_address("[::1]:0") == ConsoleAddress("::1", 0)
    assert parse_address("localhost:80").loopback
    assert parse_address("[::1]:8765").loopback
    assert parse_address("[::1]:8765").url() == "http://[::1]:8765/"
    assert not parse_address("0.0.0.0:8765").loopback
    assert not parse_address("console.example:8765").loopback
    for bad in ("8765", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ":8765"):
        with pytest.raises(ConfigurationError, match="HOST:PORT"):
            parse_address(bad, field="--console")


def test_the_console_table_is_read_and_checked(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, 'address = "127.0.0.1:9000"\nrefresh_seconds = 5'))
    assert config.console.listen == ConsoleAddress("127.0.0.1", 9000)
    assert config.console.refresh_seconds == 5
    assert load_config(_config(tmp_path, "")).console.listen is None
    with pytest.raises(ConfigurationError, match=r"field 'console\.address'.*HOST:PORT"):
        load_config(_config(tmp_path, 'address = "nowhere"'))
    with pytest.raises(ConfigurationError, match=r"field 'console\.colour'"):
        load_config(_config(tmp_path, 'colour = "blue"'))


def test_a_token_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config(_config(tmp_path, 'token = "hunter2-secret-value"'))
    message = str(caught.value)
    assert "field 'console.token'" in message
    assert "CHANNELSYNC_CONSOLE_TOKEN" in message
    assert "hunter2" not in message


def test_the_token_comes_from_the_environment_or_the_credentials_directory(
    tmp_path: Path,
) -> None:
    settings = ConsoleSettings(token_env="MY_CONSOLE_TOKEN")
    assert settings.token({"MY_CONSOLE_TOKEN": " abc123 "}) == "abc123"
    assert settings.token({}) is None
    (tmp_path / "console_token").write_text("from-systemd\n")
    assert settings.token({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-systemd"
    # The environment wins over the credential.
    both = {"CREDENTIALS_DIRECTORY": str(tmp_path), "MY_CONSOLE_TOKEN": "env"}
    assert settings.token(both) == "env"


def test_listening_beyond_loopback_needs_a_token() -> None:
    settings = ConsoleSettings()
    settings.check_exposure(parse_address("127.0.0.1:1"), None)
    settings.check_exposure(parse_address("0.0.0.0:1"), "a-token")
    with pytest.raises(ConfigurationError, match=r"0\.0\.0\.0:1, beyond this machine"):
        settings.check_exposure(parse_address("0.0.0.0:1"), None)
