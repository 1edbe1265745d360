"""Tests marked ``network`` are deselected unless asked for, as the marker's description says."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[3] / "conftest.py"

INI = """[pytest]
asyncio_default_fixture_loop_scope = function
markers =
    network: needs a live marketplace
"""

TESTS = """
import pytest

@pytest.mark.network
def test_needs_a_live_marketplace():
    pass

def test_offline():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(ROOT_CONFTEST.read_text(encoding="utf-8"))
    (pytester.path / "pytest.ini").write_text(INI, encoding="utf-8")
    pytester.makepyfile(test_suite=TESTS)
    return pytester


def test_network_tests_are_deselected_by_default(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHANNELSYNC_NETWORK", raising=False)
    suite.runpytest_subprocess().assert_outcomes(passed=1, deselected=1)


def test_asking_for_them_runs_them(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHANNELSYNC_NETWORK", raising=False)
    suite.runpytest_subprocess("-m", "network").assert_outcomes(passed=1, deselected=1)
    monkeypatch.setenv("CHANNELSYNC_NETWORK", "1")
    suite.runpytest_subprocess().assert_outcomes(passed=2)
