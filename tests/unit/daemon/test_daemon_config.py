from __future__ import annotations

from pathlib import Path

import pytest

from channelsync.config import DaemonConfig, load_config
from channelsync.errors import ConfigurationError

CHANNEL = '\n[[channels]]\nname = "tmall-main"\ntype = "tmall"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_daemon_table_is_optional_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CHANNEL))
    assert config.daemon == DaemonConfig()
    assert config.daemon.pull_interval_of("tmall-main") == 60


def test_intervals_per_channel(tmp_path: Path) -> None:
    text = "[daemon]\npull_interval = 30\npull_intervals = { tmall-main = 10 }\n" + CHANNEL
    daemon = load_config(write(tmp_path, text)).daemon
    assert daemon.pull_interval_of("tmall-main") == 10
    assert daemon.pull_interval_of("other") == 30


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        ("pull_interval = 0", "daemon.pull_interval", "greater than 0"),
        ("flush_interval = 'fast'", "daemon.flush_interval", "valid number"),
        ("lock_ttl = 1", "daemon.lock_ttl", "greater than or equal to 3"),
        ("pulse = 3", "daemon.pulse", "unknown key"),
        ("pull_intervals = { nowhere = 5 }", "daemon.pull_intervals", "'nowhere'"),
        ("pull_intervals = { tmall-main = -1 }", "daemon.pull_intervals", "greater than 0"),
        ("stale_after = 30\npull_interval = 60", "daemon", "stale_after (30)"),
    ],
)
def test_bad_daemon_settings_are_refused_by_field(
    tmp_path: Path, table: str, field: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_config(write(tmp_path, f"[daemon]\n{table}\n{CHANNEL}"))
    message = str(refused.value)
    assert field in message
    assert words in message


def test_daemon_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"\[daemon\]"):
        load_config(write(tmp_path, "daemon = 3\n"))
