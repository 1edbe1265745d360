"""A chaos run's own temporary directory: removed when the run passed, kept when it failed."""

from __future__ import annotations

from pathlib import Path

from channelsync.testing.chaos_world import ChaosResult, _tidy


def _made(tmp_path: Path) -> Path:
    directory = tmp_path / "channelsync-chaos-run"
    directory.mkdir()
    (directory / "daemon.log").write_text("started\n", encoding="utf-8")
    return directory


def test_a_passed_run_leaves_no_directory_behind(tmp_path: Path) -> None:
    directory = _made(tmp_path)
    _tidy(directory, ChaosResult(suite="chaos", seed=0))
    assert not directory.exists()


def test_a_failed_run_keeps_the_logs_its_problems_name(tmp_path: Path) -> None:
    directory = _made(tmp_path)
    failed = ChaosResult(suite="chaos", seed=0, problems=["tmall: 1 order lost (see daemon.log)"])
    _tidy(directory, failed)
    assert (directory / "daemon.log").read_text(encoding="utf-8") == "started\n"
