"""The collector thresholds channelsync's commands set (see ``channelsync.gc_tuning``)."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from channelsync.cli.main import cli
from channelsync.gc_tuning import GC_THRESHOLDS, start_up_frozen, tune_garbage_collection


@pytest.fixture(autouse=True)
def restored_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def test_importing_the_library_leaves_the_collector_alone() -> None:
    # A fresh interpreter: in this one the modules are imported already.
    code = (
        "import gc; before = gc.get_threshold(); "
        "import channelsync, channelsync.cli.main, channelsync.engine.sync; "
        "print(before == gc.get_threshold(), before)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.startswith("True"), done.stdout


def test_a_command_collects_at_channelsyncs_thresholds() -> None:
    result = CliRunner().invoke(cli, ["plugins"])

    assert result.exit_code == 0, result.output
    assert gc.get_threshold() == GC_THRESHOLDS


def test_larger_thresholds_a_program_set_are_kept() -> None:
    gc.set_threshold(200_000, 5, 50)

    tune_garbage_collection()

    assert gc.get_threshold() == (200_000, GC_THRESHOLDS[1], 50)


def test_what_exists_at_start_up_is_out_of_the_collectors_reach_then_given_back() -> None:
    built = [object()]  # a start-up object the collector tracks (a list)
    with start_up_frozen() as frozen:
        assert frozen > 0
        assert gc.get_freeze_count() > 0
        made = [object()]  # the work's own
        tracked = {id(o) for o in gc.get_objects()}
        assert id(made) in tracked
        assert id(built) not in tracked
    assert gc.get_freeze_count() == 0
    assert id(built) in {id(o) for o in gc.get_objects()}


def test_a_process_that_froze_objects_itself_is_left_as_it_is() -> None:
    marker: list[object] = []  # a container the collector tracks
    gc.freeze()
    try:
        with start_up_frozen() as frozen:
            assert frozen == 0
        # Still frozen: out of every generation the collector walks. (The frozen count
        # itself is no measure: a frozen object another thread frees leaves it.)
        assert gc.get_freeze_count() > 0
        assert not any(found is marker for found in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(found is marker for found in gc.get_objects())
