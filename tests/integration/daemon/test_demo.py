"""The embedded default: ``channelsync demo``, and ``channelsync run`` with no configuration."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from channelsync.engine.composition import kit_availability
from channelsync.store import open_store

CLI = [sys.executable, "-c", "from channelsync.cli.main import main; main()"]


def check_summary(output: str) -> None:
    placed = re.search(r"orders placed by buyers: (\d+), imported: (\d+)", output)
    assert placed is not None, output
    assert int(placed[1]) > 0
    assert placed[1] == placed[2], output
    assert "oversold SKUs: none" in output
    assert "channels showing what the engine sent: all" in output
    assert "daemon exit code: 0" in output
    winners = re.search(r"last unit of \S+: .*; sold on (.+)", output)
    assert winners is not None, output
    assert "," not in winners[1], "the last unit was sold twice"


KIT_LINE = re.compile(
    r"^final (kit|multipack) (\S+) = (.+): components make (\d+); shown on (.+?)"
    r"(?: \(not listed on (.+)\))?$",
    re.MULTILINE,
)


def check_kits(output: str, store: Path) -> None:
    """The gift set and the pack are shown, each channel showing what its components make."""
    found = {m[2]: m for m in KIT_LINE.finditer(output)}
    assert set(found) == {"GIFT", "CUP-3"}, output
    assert found["GIFT"][1] == "kit"
    assert found["GIFT"][3] == "CUP\u00d74 + TEAPOT\u00d71"
    assert (found["CUP-3"][1], found["CUP-3"][3]) == ("multipack", "CUP\u00d73")
    with open_store(f"sqlite:///{store}") as opened, opened.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus()}
        makes = kit_availability(session, [ids["GIFT"], ids["CUP-3"]])
        positions = session.positions([ids["TEAPOT"], ids["CUP"]])
        orders = [line for o in session.orders() for line in o.raw["lines"]]
    # Independently of the engine: the units left, floor-divided by what one kit takes.
    teapots, cups = (positions[ids[c]].available for c in ("TEAPOT", "CUP"))
    assert makes == {ids["GIFT"]: min(teapots, cups // 4), ids["CUP-3"]: cups // 3}
    for code, line in found.items():
        assert int(line[4]) == makes[ids[code]] > 0
        shown = dict(pair.rsplit(" ", 1) for pair in line[5].split(", "))
        assert len(shown) >= 2, line[0]
        # Plenty of stock: every channel listing it shows all its components make.
        assert set(shown.values()) == {line[4]}, line[0]
    sold = re.search(r"kits sold \(each takes its components' units\): (.+)", output)
    assert sold is not None, output
    assert sum(int(pair.rsplit(" ", 1)[1]) for pair in sold[1].split(", ")) > 0
    # The kits' orders were imported as sold, kit codes on their lines.
    assert {"GIFT", "CUP-3"} & {line.get("merchant_code") for line in orders}


def test_the_demo_runs_to_a_correct_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "demo", "--headless", "--duration", "25", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check_summary(result.stdout)
    for name in ("tmall-demo", "jd-demo", "pinduoduo-demo", "amazon-demo"):
        assert name in result.stdout
    check_kits(result.stdout, tmp_path / "demo" / "channelsync.db")


def test_run_without_a_config_runs_the_demo_until_stopped(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [*CLI, "-vv", "run", "--log-format", "json", "--metrics-port", str(port)]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        log = None
        for line in process.stdout:
            found = re.search(r"daemon log: (\S+)\)", line)
            if found:
                log = Path(found[1])
            if "buyers ordering" in line:
                break
            assert time.monotonic() < deadline, "the demo never took orders"
        # The flags reach the demo's daemon: its metrics port, JSON lines, -vv's debug.
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
        assert log is not None
        records = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x]
        assert any(r.get("level") == "debug" for r in records)
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, rest + errors
    assert "running against the demo marketplaces" in errors
    assert "letting the daemon catch up" in rest
    check_summary(rest)
    # The demo made its directory itself, so it leaves nothing behind.
    assert not log.parent.exists()
    assert rest.endswith("\n")
