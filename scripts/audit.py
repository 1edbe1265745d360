"""Audit the installed environment for known vulnerabilities with pip-audit.

Usage: ``python scripts/audit.py`` (from the repository, in the environment to audit).

Exit status:

* 0 when every installed distribution was checked and none has a known
  vulnerability;
* 3 with ``audit not performed: <reason>`` when the vulnerability service could not
  be reached or knows none of the installed distributions (a private package mirror
  without vulnerability data): an audit that did not happen is not a pass;
* 0 with ``audit skipped: <reason>`` in that same case when ``CHANNELSYNC_AUDIT_OFFLINE=1``
  is set: the explicit, documented opt-out for machines that cannot reach any
  vulnerability data (the line still says the audit did not happen);
* 1 when a vulnerability is found (each one is printed with its fix versions);
* 2 when pip-audit is missing or fails for any other reason.

Distributions installed in editable mode (channelsync and its plugins) are skipped:
they are this repository, not dependencies. When only some distributions could be
checked, the unchecked ones are counted and named, and the exit status follows the
vulnerabilities found in the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# Phrases pip-audit prints when the vulnerability service (PyPI's JSON API or OSV)
# cannot be reached; anything else that goes wrong is a real failure.
_UNREACHABLE = (
    "connectionerror",
    "connection refused",
    "max retries exceeded",
    "name or service not known",
    "temporary failure in name resolution",
    "timed out",
    "network is unreachable",
    "failed to establish a new connection",
)
_NOT_FOUND = "Dependency not found on PyPI"


#: Exit status when the audit could not be performed (and no opt-out is set).
NOT_PERFORMED = 3
#: The opt-out: set to 1 where no vulnerability data can be reached.
OFFLINE = "CHANNELSYNC_AUDIT_OFFLINE"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _not_performed(reason: str) -> int:
    """Fail closed, unless the offline opt-out is set; either way, say it did not happen."""
    if os.environ.get(OFFLINE) == "1":
        _say(f"audit skipped ({OFFLINE}=1): {reason}")
        return 0
    _say(f"audit not performed: {reason}; set {OFFLINE}=1 to skip it knowingly")
    return NOT_PERFORMED


def _pip_audit() -> list[str]:
    beside = Path(sys.executable).with_name("pip-audit")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pip-audit")
    return [found] if found else []


def main() -> int:
    """Run pip-audit, print a verdict and return the exit status described above."""
    command = _pip_audit()
    if not command:
        _say("audit failed: pip-audit is not installed (pip install -r requirements-dev.txt)")
        return 2
    result = subprocess.run(  # noqa: S603 - a fixed command line, no shell
        [*command, "--format", "json", "--skip-editable", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        check=False,
    )
    if not result.stdout.strip():
        error = result.stderr.strip().splitlines()
        reason = error[-1] if error else f"pip-audit exited with status {result.returncode}"
        if any(phrase in result.stderr.lower() for phrase in _UNREACHABLE):
            return _not_performed(f"vulnerability service unreachable ({reason})")
        _say(f"audit failed: {reason}")
        return 2
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        _say(f"audit failed: pip-audit printed no JSON report (status {result.returncode})")
        return 2
    dependencies: list[dict[str, Any]] = [
        d for d in report.get("dependencies", []) if "editable" not in str(d.get("skip_reason", ""))
    ]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    if dependencies and not audited:
        reasons = {str(d["skip_reason"]).split(":", 1)[0] for d in skipped}
        why = "; ".join(sorted(reasons))
        if all(r.startswith(_NOT_FOUND) for r in reasons):
            why = f"the package index holds no vulnerability data for any of them ({why})"
        return _not_performed(f"none of {len(dependencies)} distributions could be checked: {why}")
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version"
            _say(
                f"VULNERABLE {dependency['name']} {dependency.get('version', '?')}: "
                f"{vuln.get('id', '?')} (fixed in: {fixes})"
            )
    if skipped:
        names = ", ".join(sorted(str(d["name"]) for d in skipped))
        _say(f"not checked ({len(skipped)}): {names}")
    _say(
        f"audited {len(audited)} of {len(dependencies)} distributions: "
        f"{len(vulnerable)} with known vulnerabilities"
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
