"""Fixtures every suite shares: the state store's database, SQLite and PostgreSQL alike.

``store_url`` runs a test once on a SQLite file and once on PostgreSQL (marker
``postgres``; ``python -m pytest -m postgres`` runs only those). The server is read from
``CHANNELSYNC_TEST_DATABASE_URL`` (default ``postgresql://127.0.0.1:5432/test``); each test
gets a schema of its own, dropped afterwards. Without a server the PostgreSQL runs are
skipped with the reason, except under ``CI=true``, where a missing server fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from channelsync.store import Store, open_store

POSTGRES_URL = os.environ.get("CHANNELSYNC_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")


@cache
def postgres_unavailable() -> str | None:
    """Return why the test server cannot be used, or ``None`` when it can."""
    try:
        import psycopg  # noqa: PLC0415 - optional: only the PostgreSQL runs need it
    except ImportError:
        return "psycopg is not installed (pip install 'channelsync[postgres]')"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


def require_postgres() -> None:
    """Skip (or under ``CI=true`` fail) the calling test when no server can be used."""
    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true and unavailable: {reason}")
    pytest.skip(f"no PostgreSQL server for the store tests: {reason}")


def postgres_schema_url(schema: str) -> str:
    """Return the test server's URL with ``schema`` first on the search path."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Return a URL of the test server whose tables live in a fresh schema of their own."""
    require_postgres()
    import psycopg  # noqa: PLC0415

    schema = f"cs_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_url(schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """Return the URL of a database of its own on the test server (base schema ``public``).

    For what a schema cannot hold apart: workspaces are schemas beside the URL's own.
    Dropped after the test, whatever is still connected.
    """
    import psycopg  # noqa: PLC0415

    parts = urlsplit(postgres_url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "options"])
    server = urlunsplit(parts._replace(query=query))
    name = f"cs_ws_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}", query=query))
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a fresh store URL: a SQLite file, then (marker ``postgres``) a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Return a fresh store of ``store_url`` (each test runs on both databases), closed after.

    Suites whose store needs more (a clock, a catalogue) define their own.
    """
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
