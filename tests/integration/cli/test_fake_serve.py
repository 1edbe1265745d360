"""``channelsync fake serve``: fake marketplaces a channel can be pointed at, until SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from channelsync.cli.main import cli


def _free_ports(count: int) -> int:
    """Return the first of ``count`` consecutive free ports (best effort)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            held = []
            for port in range(base, base + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return base
    raise AssertionError("no run of free ports")


def test_serves_the_fakes_prints_one_json_line_and_stops_on_sigterm() -> None:
    base = _free_ports(2)
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    command = [sys.executable, "-c", "from channelsync.cli.main import main; main()"]
    command += ["fake", "serve", "tmall", "jd"]
    process = subprocess.Popen(
        [*command, "--port-base", str(base), "--no-events"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert set(ready) == {"tmall", "jd"}
        assert {ready["tmall"]["base_url"], ready["jd"]["base_url"]} == {
            f"http://127.0.0.1:{base}",
            f"http://127.0.0.1:{base + 1}",
        }
        assert ready["tmall"]["credentials"]["app_secret"]
        # The fake answers as the marketplace does: an unsigned call is refused by TOP.
        answer = httpx.post(ready["tmall"]["base_url"], data={"method": "taobao.time.get"})
        assert "error_response" in answer.text
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert 'type = "tmall"' in err
    assert "indexing lag has passed" in err


def test_an_unknown_plugin_is_named() -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    result = CliRunner().invoke(cli, ["fake", "serve", "no-such-shop"])
    assert result.exit_code == 2
    assert "'no-such-shop'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["fake", "--help"], ["fake", "serve", "--help"]])
def test_help(args: list[str]) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
