"""Canary secrets: a unique value in every credential field of every channel, for a whole run.

The four marketplace fakes accept only the canaries. A run then does what an
operator's day does: engine cycles with buyers' orders arriving while 30% of calls
fail (throttles, 5xx, timeouts, resets, malformed and truncated bodies, partial
batches, expired tokens that force a token refresh), over real HTTP to the fakes
served on loopback; marketplace refusals quoting the request; then ``channelsync
status --json``, ``channelsync channels --check`` and ``channelsync credentials
list`` with the canaries in the environment.

Every log record (DEBUG and up, httpx and httpcore included, exception text
rendered), every exception's text, repr and traceback, every CLI output, the
metrics exposition and the bytes of the SQLite store are searched for each canary,
its URL-encoded spellings and its base64 spellings (at every alignment). None may
appear.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import logging
import sqlite3
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner
from prometheus_client import generate_latest

from channelsync.bootstrap import build_engine, load_channels, open_state
from channelsync.cli.main import cli
from channelsync.clock import FakeClock
from channelsync.config import load_config
from channelsync.credentials import CredentialStore, env_var_name
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.daemon.metrics import DaemonMetrics
from channelsync.engine.catalogue import import_catalogue, read_catalogue_file
from channelsync.errors import ChannelSyncError
from channelsync.http import TransportMetrics
from channelsync.models import StockUpdate
from channelsync.testing.fakes import FakeMarketplace, Fault, FaultInjector

pytestmark = pytest.mark.reliability

START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # midnight of double eleven in Beijing
CHANNELS = {
    "tmall-main": ("tmall", "channelsync_tmall.fake"),
    "jd-pop": ("jd", "channelsync_jd.fake"),
    "pdd-shop": ("pinduoduo", "channelsync_pinduoduo.fake"),
    "amazon-us": ("amazon", "channelsync_amazon.fake"),
}
CYCLES = 6


def canary(channel: str, field: str) -> str:
    """A unique, recognisable secret for one credential field of one channel."""
    tag = f"{channel}{field}".replace("-", "").replace("_", "")
    return f"CANARY{tag[:18]}x9Q7/z+K=Lw"


def spellings(secret: str) -> set[bytes]:
    """The secret as it could travel: plain, URL-encoded, base64 at every alignment."""
    forms = {secret.encode(), quote(secret, safe="").encode(), quote_plus(secret).encode()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret.encode())
        # Drop the characters that mix in the padding or the neighbours.
        start = (shift * 4 + 2) // 3 + 1 if shift else 0
        forms.add(encoded[start:-4])
        forms.add(base64.urlsafe_b64encode(b"\0" * shift + secret.encode())[start:-4])
    return {form for form in forms if len(form) >= 12}


class _Capture(logging.Handler):
    """Every record of the run, fully rendered (message, exception and stack)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.texts.append(self.format(record))
        self.texts.append(repr(record.__dict__))


@pytest.fixture
def capture() -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _fakes(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock | None, seed: int, rate: float
) -> dict[str, FakeMarketplace]:
    fakes: dict[str, FakeMarketplace] = {}
    for index, (name, (_, module_name)) in enumerate(CHANNELS.items()):
        module = importlib.import_module(module_name)
        secrets = {field: canary(name, field) for field in module.DEMO_CREDENTIALS}
        # demo_fake reads the module's credentials: the fake then accepts only the canaries.
        monkeypatch.setattr(module, "DEMO_CREDENTIALS", secrets)
        faults = FaultInjector(rate, seed=seed + index)
        fakes[name] = module.demo_fake(clock=clock, faults=faults, seed=seed + index)
    return fakes


def _write_config(folder: Path, urls: dict[str, str | None]) -> Path:
    lines = [f'[store]\nurl = "sqlite:///{folder.as_posix()}/state.db"\n']
    for name, (kind, module_name) in CHANNELS.items():
        module = importlib.import_module(module_name)
        lines.append(f'[[channels]]\nname = "{name}"\ntype = "{kind}"')
        for key, value in module.DEMO_SETTINGS.items():
            lines.append(f"{key} = {json.dumps(value)}")
        if urls.get(name):
            lines.append(f'base_url = "{urls[name]}"')
        lines.append("")
    path = folder / "channelsync.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    catalogue = folder / "catalogue.csv"
    catalogue.write_text(
        "sku,title,price,currency,quantity\n"
        + "".join(f"CS-{i:04d},Item {i},{10 + i}.90,CNY,{5 + i}\n" for i in range(1, 9)),
        encoding="utf-8",
    )
    return path


def _environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for name, (_, module_name) in CHANNELS.items():
        module = importlib.import_module(module_name)
        for field in module.DEMO_CREDENTIALS:
            env[env_var_name(name, field)] = canary(name, field)
    return env


def _all_canaries() -> dict[str, set[bytes]]:
    return {value: spellings(value) for value in _environment().values()}


def _record_exception(texts: list[str], error: BaseException) -> None:
    texts.append(str(error))
    texts.append(repr(error))
    texts.append("".join(traceback.format_exception(error)))


async def _in_process_run(folder: Path, monkeypatch: pytest.MonkeyPatch, texts: list[str]) -> bytes:
    """Engine cycles against in-process fakes on a fake clock; return the metrics exposition."""
    clock = FakeClock(START)
    fakes = _fakes(monkeypatch, clock, seed=11, rate=0.3)
    for fake in fakes.values():
        fake.faults.force(Fault.EXPIRED_TOKEN, times=1)  # a token refresh on every channel
    servers = [fake.serve() for fake in fakes.values()]
    path = _write_config(folder, {name: srv.url for name, srv in zip(fakes, servers, strict=True)})
    config = load_config(path)
    credentials = CredentialStore(backend=MemorySecretBackend({}), environ=_environment())
    metrics = TransportMetrics()
    # Real HTTP over loopback (httpx and httpcore log as in production); the shared fake
    # clock makes every backoff and rate-limit wait instant.
    channels = load_channels(path, credentials=credentials, clock=clock, metrics=metrics)
    store = open_state(config)
    try:
        import_catalogue(store, read_catalogue_file(folder / "catalogue.csv"), now=clock.now())
        engine = build_engine(config, store, channels=channels, clock=clock)
        for channel in channels:
            await channel.open()
        try:
            for _cycle in range(CYCLES):
                for fake in fakes.values():
                    fake.generate_orders(3)  # type: ignore[attr-defined]
                clock.advance(timedelta(minutes=7).total_seconds())
                try:
                    summary = await engine.run_cycle()
                except ChannelSyncError as error:
                    _record_exception(texts, error)
                else:
                    texts.append(json.dumps(summary.to_dict(), default=str))
                    texts.append(repr(summary))
            # Refusals that quote the request: a SKU the marketplace does not have.
            for channel in channels:
                texts.append(repr(channel))
                texts.append(repr(channel.credentials))
                texts.append(repr(channel.http))
                try:
                    await channel.set_stock(  # type: ignore[attr-defined]
                        [StockUpdate(item_id="999999999", sku_id="888888", quantity=1)]
                    )
                except ChannelSyncError as error:
                    _record_exception(texts, error)
                try:
                    await channel.get_order("NO-SUCH-ORDER-42")  # type: ignore[attr-defined]
                except ChannelSyncError as error:
                    _record_exception(texts, error)
        finally:
            for channel in channels:
                await channel.close()
    finally:
        store.close()
        for server in servers:
            server.stop()
    daemon_metrics = DaemonMetrics([metrics.registry])
    return generate_latest(daemon_metrics.registry)


def _cli_run(folder: Path, monkeypatch: pytest.MonkeyPatch, texts: list[str]) -> list[str]:
    """The operator's commands on the run's configuration and store; return their outputs."""
    path = folder / "channelsync.toml"
    for variable, value in _environment().items():
        monkeypatch.setenv(variable, value)
    runner = CliRunner()
    outputs = []
    for command in (
        ["status", "--json"],
        ["status"],
        ["channels", "--check"],
        ["channels", "--json"],
        ["credentials", "list", "--json"],
    ):
        result = runner.invoke(cli, [*command, "--config", str(path)], catch_exceptions=True)
        outputs.append(f"{command} -> {result.exit_code}\n{result.output}")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            _record_exception(texts, result.exception)
    return outputs


def _store_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("state.db*")))


@pytest.mark.usefixtures("memory_keyring")  # where the CLI keeps refreshed tokens
def test_no_canary_leaks_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture: _Capture
) -> None:
    texts: list[str] = []
    exposition = asyncio.run(_in_process_run(tmp_path, monkeypatch, texts))
    outputs = _cli_run(tmp_path, monkeypatch, texts)

    # The run really happened: traffic, faults, token refreshes, orders imported with
    # the canaries (the fakes accept nothing else), stored state and CLI commands.
    assert capture.count > 100
    assert b"channelsync_http" in exposition
    with sqlite3.connect(tmp_path / "state.db") as db:
        (orders,) = db.execute("SELECT COUNT(*) FROM orders").fetchone()
    assert orders > 0
    stored = _store_bytes(tmp_path)
    assert all(" -> 0" in output for output in outputs[:4]), outputs

    haystacks: dict[str, bytes] = {
        "logs": "\n".join(capture.texts).encode(),
        "exceptions and reprs": "\n".join(texts).encode(),
        "cli output": "\n".join(outputs).encode(),
        "metrics": exposition,
        "store": stored,
    }
    leaks = [
        f"{where}: {secret}"
        for secret, forms in _all_canaries().items()
        for where, haystack in haystacks.items()
        if any(form in haystack for form in forms)
    ]
    assert not leaks, leaks


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"Authorization: Basic "])
def test_the_search_finds_a_planted_canary(prefix: bytes) -> None:
    secret = canary("jd-pop", "app_secret")
    forms = spellings(secret)
    for text in (
        prefix + secret.encode(),
        prefix + quote(secret, safe="").encode() + b"&x=1",
        prefix + base64.b64encode(prefix + f"client:{secret}".encode()),
    ):
        assert any(form in text for form in forms), text
    assert not any(form in b"an innocent log line about jd-pop" for form in forms)
