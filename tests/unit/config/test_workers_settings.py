"""The ``[workers]`` table: the job queue's timings, checked field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from channelsync.config import WorkersConfig, load_config
from channelsync.errors import ConfigurationError

CHANNEL = '\n[[channels]]\nname = "tmall-main"\ntype = "tmall"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_workers_table_is_optional_with_the_queues_defaults(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, CHANNEL)).workers
    assert settings == WorkersConfig()
    assert (settings.heartbeat_every, settings.stalled_after, settings.sweep_every) == (10, 60, 15)
    assert (settings.poll_every, settings.retries) == (5, 5)


def test_the_timings_are_read(tmp_path: Path) -> None:
    text = "[workers]\nheartbeat_every = 2\nstalled_after = 10\nsweep_every = 5\nretries = 0\n"
    settings = load_config(write(tmp_path, text + CHANNEL)).workers
    assert settings == WorkersConfig(heartbeat_every=2, stalled_after=10, sweep_every=5, retries=0)


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        ("heartbeat_every = 0", "workers.heartbeat_every", "greater than 0"),
        ("sweep_every = 7", "workers.sweep_every", "divide a minute"),
        ("stalled_after = 20", "workers", "at least three heartbeats (30"),
        ("retries = -1", "workers.retries", "greater than or equal to 0"),
        ("poll_every = 'often'", "workers.poll_every", "valid number"),
        ("lease = 3", "workers.lease", "unknown key"),
    ],
)
def test_bad_timings_are_refused_by_field(
    tmp_path: Path, table: str, field: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_config(write(tmp_path, f"[workers]\n{table}\n{CHANNEL}"))
    message = str(refused.value)
    assert field in message
    assert words in message


def test_a_workers_entry_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"\[workers\]"):
        load_config(write(tmp_path, f"workers = 3\n{CHANNEL}"))
