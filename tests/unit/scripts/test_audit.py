"""The dependency audit fails closed: an audit that could not run is not a pass."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "audit.py"


@pytest.fixture
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pip_audit_answers(
    monkeypatch: pytest.MonkeyPatch, audit: ModuleType, *, stdout: str, stderr: str = ""
) -> None:
    monkeypatch.setattr(audit, "_pip_audit", lambda: ["pip-audit"])

    def run(*_args: Any, **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(["pip-audit"], 1, stdout=stdout, stderr=stderr)

    monkeypatch.setattr(audit.subprocess, "run", run)


NOTHING_CHECKED = json.dumps(
    {"dependencies": [{"name": "httpx", "skip_reason": "Dependency not found on PyPI"}]}
)


def test_nothing_checked_fails(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHANNELSYNC_AUDIT_OFFLINE", raising=False)
    _pip_audit_answers(monkeypatch, audit, stdout=NOTHING_CHECKED)
    assert audit.main() == 3
    assert "audit not performed: none of 1 distributions" in capsys.readouterr().out


def test_an_unreachable_service_fails(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHANNELSYNC_AUDIT_OFFLINE", raising=False)
    _pip_audit_answers(monkeypatch, audit, stdout="", stderr="ConnectionError: timed out")
    assert audit.main() == 3
    assert "vulnerability service unreachable" in capsys.readouterr().out


def test_the_explicit_opt_out_skips_and_says_so(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHANNELSYNC_AUDIT_OFFLINE", "1")
    _pip_audit_answers(monkeypatch, audit, stdout=NOTHING_CHECKED)
    assert audit.main() == 0
    assert capsys.readouterr().out.startswith("audit skipped (CHANNELSYNC_AUDIT_OFFLINE=1)")


def test_a_vulnerability_fails_even_with_the_opt_out(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHANNELSYNC_AUDIT_OFFLINE", "1")
    report = {
        "dependencies": [
            {"name": "httpx", "version": "0.1", "vulns": [{"id": "X-1", "fix_versions": ["0.2"]}]}
        ]
    }
    _pip_audit_answers(monkeypatch, audit, stdout=json.dumps(report))
    assert audit.main() == 1
    assert "VULNERABLE httpx 0.1: X-1 (fixed in: 0.2)" in capsys.readouterr().out
