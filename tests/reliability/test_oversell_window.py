"""The oversell-window benchmark's interface: one JSON object of a fixed shape.

Scripts outside the repository read ``python benchmarks/oversell_window.py --orders N
--json``; a tiny run (a handful of orders and probes) checks the shape and that the
polling figures are measured. Events figures are numbers once the plugins can
listen, ``null`` (with the reason on stderr) until then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "oversell_window.py"
CHANNELS = {"tmall", "jd", "pinduoduo", "amazon"}


def _figures(value: object) -> bool:
    if value is None:
        return True
    assert isinstance(value, dict)
    assert set(value) == {"p50_s", "p99_s"}
    assert all(isinstance(v, float | int) and v >= 0 for v in value.values())
    return bool(value["p50_s"] <= value["p99_s"])


def test_the_benchmark_prints_one_json_object_of_the_agreed_shape(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--orders",
            "6",
            "--probes",
            "2",
            "--warmup",
            "30",
            "--minutes",
            "1",
            "--items",
            "4",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []  # the run's own directory, removed once it is done
    result = json.loads(done.stdout)
    assert set(result) == {"channels", "burst"}
    assert set(result["channels"]) == CHANNELS
    for modes in result["channels"].values():
        assert set(modes) == {"events", "polling"}
        assert modes["polling"] is not None
        assert _figures(modes["polling"])
        assert _figures(modes["events"])
    burst = result["burst"]
    assert set(burst) == {"orders", "oversold_units"}
    assert burst["orders"] == 6
    assert set(burst["oversold_units"]) == {"events", "polling"}
    assert isinstance(burst["oversold_units"]["polling"], int)
    assert burst["oversold_units"]["polling"] >= 0
    if burst["oversold_units"]["events"] is None:
        assert "events figures not measured" in done.stderr
