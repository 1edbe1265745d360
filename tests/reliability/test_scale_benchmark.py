"""The scale benchmark runs end to end at a tiny size and prints its figures as JSON.

``benchmarks/scale.py --json`` is an interface scripts read: one JSON object on stdout
with at least ``jobs_per_s``, ``p50_s``, ``p99_s`` and ``connections``. This runs it for
real (a worker process on the plugin fakes, a schema of its own on the test server),
so it runs only when ``CHANNELSYNC_SCALE_BENCHMARK`` is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


@pytest.mark.skipif(
    "CHANNELSYNC_SCALE_BENCHMARK" not in os.environ,
    reason="runs when CHANNELSYNC_SCALE_BENCHMARK is set: it starts a worker process",
)
def test_scale_benchmark_prints_its_figures_as_one_json_object(postgres_url: str) -> None:
    # The fixture skips (or under CI fails) without a server; the benchmark makes schemas
    # of its own on the same server (CHANNELSYNC_TEST_DATABASE_URL), and drops them.
    del postgres_url
    argv = ["--workspaces", "2", "--workers", "1", "--duration", "8", "--rate", "4"]
    argv += ["--pull-interval", "2", "--flush-interval", "2", "--json"]
    done = subprocess.run(
        [sys.executable, str(_SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    figures = json.loads(done.stdout)  # nothing but the one object on stdout
    assert done.returncode == 0, (figures["problems"], done.stderr[-2000:])
    assert figures["ok"] is True
    for key in ("jobs_per_s", "p50_s", "p99_s", "connections"):
        assert isinstance(figures[key], int | float), key
    assert figures["workspaces"] == 2
    assert figures["workers"] == 1
    assert figures["orders_placed"] > 0
    assert figures["orders_measured"] > 0
    assert figures["jobs_per_s"] > 0
    assert 0 <= figures["p50_s"] <= figures["p99_s"]
    assert figures["connections"] >= 1
    assert figures["setup_s"] > 0
    # Every call the workers make is paced by the shared schedule: no limit is spent.
    assert figures["throttles"] == sum(figures["throttles_by_operation"].values()) == 0
    assert "p99_s" in figures["definitions"]
