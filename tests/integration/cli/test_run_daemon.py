"""``channelsync run`` as a real process against a fake marketplace served on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from channelsync.cli.main import cli
from channelsync.daemon.service import EXIT_FORCED
from channelsync.demo import catalogue_csv, config_toml, demo_environment, start_marketplaces
from channelsync.demo.marketplaces import DemoMarketplace
from channelsync.demo.stream import backdate
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.plugins import build_plugin_manager
from channelsync.store import OutboxState, open_store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tmall() -> Iterator[DemoMarketplace]:
    (market,) = start_marketplaces(build_plugin_manager(), types=["tmall"])
    yield market
    market.stop()


@pytest.fixture
def config(tmp_path: Path, tmall: DemoMarketplace) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(config_toml([tmall]), encoding="utf-8")
    with open_store(f"sqlite:///{tmp_path / 'channelsync.db'}") as store:
        rows = parse_catalogue(catalogue_csv(), "csv")
        import_catalogue(store, rows, now=datetime.now(UTC))
    return path


def start(config: Path, tmall: DemoMarketplace, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **demo_environment([tmall])}
    command = [sys.executable, "-m", "channelsync.daemon", "--config", str(config), *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@contextmanager
def held_answers(market: DemoMarketplace) -> Iterator[threading.Event]:
    """Hold every answer of ``market`` until the block ends; the event is set once one waits."""
    waiting, release = threading.Event(), threading.Event()
    answer = market.server._handler

    def held(request: httpx.Request) -> httpx.Response:
        waiting.set()
        release.wait(timeout=60)
        return answer(request)

    market.server._handler = held
    try:
        yield waiting
    finally:
        release.set()
        market.server._handler = answer


def sent(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "channelsync_updates_sent_total"
    )


def health(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
    except httpx.HTTPError:
        return 0


def test_run_syncs_refuses_a_second_daemon_and_stops_cleanly_on_sigterm(
    config: Path, tmall: DemoMarketplace
) -> None:
    port = free_port()
    daemon = start(config, tmall, "--log-format", "json", "--metrics-port", str(port))
    try:
        deadline = time.monotonic() + 20
        while sent(port) == 0:
            assert daemon.poll() is None, daemon.communicate()
            assert time.monotonic() < deadline, "the daemon sent nothing"
            time.sleep(0.1)
        assert tmall.stock()["CS-0001-1"] <= 1  # the catalogue's last unit, pushed

        second = start(config, tmall)
        _, refused = second.communicate(timeout=20)
        assert second.returncode == 1
        assert "another channelsync daemon is working on the store" in refused
        assert f"pid {daemon.pid}" in refused

        status = CliRunner().invoke(
            cli, ["status", "--config", str(config)], env=demo_environment([tmall])
        )
        assert status.exit_code == 0, status.output
        assert f"daemon: {socket.gethostname()} pid {daemon.pid} since" in status.output
        assert "tmall-demo: orders pulled up to" in status.output
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["ok"] is True

        daemon.send_signal(signal.SIGTERM)
        _, log = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert any("SIGTERM received" in m for m in messages)
    assert messages[-1] == "daemon stopped"
    assert any(r.get("channel") == "tmall-demo" for r in records)
    for secret in tmall.credentials.values():
        assert secret not in log

    # The lock was released: a new run starts at once where this one stopped.
    port = free_port()
    again = start(config, tmall, "--metrics-port", str(port))
    try:
        deadline = time.monotonic() + 20
        while health(port) != 200:
            assert again.poll() is None, again.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=15)
    assert again.returncode == 0


def imported(database: Path) -> list[str]:
    with open_store(f"sqlite:///{database}") as store, store.transaction() as session:
        return [order.order_id for order in session.orders(channel="tmall-demo")]


def test_a_second_signal_exits_at_once_and_loses_nothing(
    config: Path, tmall: DemoMarketplace
) -> None:
    database = config.parent / "channelsync.db"
    port = free_port()
    daemon = start(config, tmall, "--log-format", "json", "--metrics-port", str(port))
    try:
        deadline = time.monotonic() + 20
        while sent(port) == 0:
            assert daemon.poll() is None, daemon.communicate()
            assert time.monotonic() < deadline, "the daemon sent nothing"
            time.sleep(0.1)
        placed = tmall.fake.generate_orders(6)  # type: ignore[attr-defined]
        backdate(tmall, placed)
        assert placed
        # Hold the marketplace's next answer, so the graceful stop is still waiting for
        # work in flight when the second signal arrives (otherwise it may finish first).
        with held_answers(tmall) as waiting:
            assert waiting.wait(timeout=20), "the daemon made no call to hold"
            daemon.send_signal(signal.SIGTERM)
            # A second signal of the same kind sent before the first is handled would
            # merge with it in the kernel; wait until the daemon says it is stopping.
            assert daemon.stderr is not None
            for line in daemon.stderr:
                if "SIGTERM received" in line:
                    break
            daemon.send_signal(signal.SIGINT)
            _, log = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == EXIT_FORCED, log
    assert "SIGINT received again: exiting now" in log

    # The forced exit gave the store lock up, and a new run finishes the work exactly once.
    port = free_port()
    again = start(config, tmall, "--metrics-port", str(port))
    try:
        deadline = time.monotonic() + 30
        while sorted(imported(database)) != sorted(o.order_id for o in placed):
            assert again.poll() is None, again.communicate()
            assert time.monotonic() < deadline, imported(database)
            time.sleep(0.2)
        with open_store(f"sqlite:///{database}") as store:
            while True:
                with store.transaction() as session:
                    pending = session.outbox(channel="tmall-demo", state=OutboxState.PENDING)
                    bindings = session.bindings(channel="tmall-demo")
                if not pending:
                    break
                assert time.monotonic() < deadline, pending
                time.sleep(0.2)
    finally:
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=15)
    assert again.returncode == 0
    shown = tmall.stock()
    for binding in bindings:
        assert binding.merchant_code is not None
        assert shown[binding.merchant_code] == binding.sent_quantity, binding


def test_a_metrics_port_in_use_is_a_clear_error(config: Path, tmall: DemoMarketplace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = start(config, tmall, "--metrics-port", str(port))
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 2, err
    assert f"cannot serve metrics on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
