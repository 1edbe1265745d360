"""A PostgreSQL store that cannot be reached: a clear error in bounded time, no secret.

No PostgreSQL server is needed: the tests point the store at a port where nothing
listens (refused at once) and at a socket that accepts connections and never answers
(what a half-dead host or a dropping firewall looks like to a client).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import make_url

from channelsync.cli import cli
from channelsync.store import SqlStore, StoreUnavailableError
from channelsync.store.sql import engine as engine_module
from channelsync.store.sql.engine import CONNECT_TIMEOUT_S
from channelsync.workers.extra import conninfo

SECRET = "s3cret-pw"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose connections the kernel accepts and nothing ever answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_refused_store_is_named_without_its_password() -> None:
    url = f"postgresql://owner:{SECRET}@127.0.0.1:{_free_port()}/test"

    with pytest.raises(StoreUnavailableError) as raised:
        SqlStore(url)

    message = str(raised.value)
    assert message.startswith("cannot reach the store's database at postgresql://owner:***@")
    assert "refused" in message.lower()
    assert SECRET not in message
    assert SECRET not in repr(raised.value)
    assert raised.value.__cause__ is None


def test_a_store_that_never_answers_fails_within_its_connect_timeout(silent_server: int) -> None:
    url = f"postgresql://127.0.0.1:{silent_server}/test?connect_timeout=2"

    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="timeout"):
        SqlStore(url)
    # Without a timeout the connect waits for an answer that never comes.
    assert time.monotonic() - started < 15


def test_the_store_waits_no_longer_than_its_connect_timeout_by_default(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default, shortened so the test is quick: the URL says nothing of a timeout.
    monkeypatch.setattr(engine_module, "CONNECT_TIMEOUT_S", 2)

    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="timeout"):
        SqlStore(f"postgresql://127.0.0.1:{silent_server}/test")
    assert time.monotonic() - started < 15


def test_the_workers_connections_carry_the_connect_timeout_unless_the_url_sets_one() -> None:
    assert make_url(conninfo("postgresql://h:5432/test")).query["connect_timeout"] == str(
        CONNECT_TIMEOUT_S
    )
    assert (
        make_url(conninfo("postgresql://h/test?connect_timeout=3")).query["connect_timeout"] == "3"
    )
    assert conninfo("postgresql+psycopg://h/db?sslmode=require") == (
        f"postgresql://h/db?sslmode=require&connect_timeout={CONNECT_TIMEOUT_S}"
    )


def test_the_command_line_says_so_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "channelsync.toml"
    config.write_text(
        f'[store]\nurl = "postgresql://owner:{SECRET}@127.0.0.1:{_free_port()}/test"\n',
        encoding="utf-8",
    )

    result = CliRunner().invoke(cli, ["status", "--config", str(config)])

    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot reach the store's database at postgresql://")
    assert "Traceback" not in result.output
    assert SECRET not in result.output
