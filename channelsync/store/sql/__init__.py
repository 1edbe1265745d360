"""The state store on SQLAlchemy Core: SQLite by default, PostgreSQL by URL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, in one file. The
schema is brought to the newest revision with the packaged Alembic migrations when
the store is opened. Statements are built with SQLAlchemy expressions only, so the
same code serves every database SQLAlchemy supports. A session is composed of one
part per aggregate (catalogue, ledger, bindings, outbox, orders, journal), each in
its own module here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import StaticPool
from typing_extensions import override

from channelsync.errors import ConfigurationError
from channelsync.store.base import Store, StoreSession
from channelsync.store.sql._common import SqlPart
from channelsync.store.sql.bindings import SqlBindings
from channelsync.store.sql.budgets import SqlBudgets
from channelsync.store.sql.catalogue import SqlCatalogue
from channelsync.store.sql.inbox import SqlInbox
from channelsync.store.sql.journal import SqlJournal
from channelsync.store.sql.ledger import SqlLedger
from channelsync.store.sql.orders import SqlOrders
from channelsync.store.sql.outbox import SqlOutbox
from channelsync.store.sql.summary import SqlSummary
from channelsync.store.sql.visibility import SqlVisibility

__all__ = ["SqlStore", "migrate"]

_MIGRATIONS = Path(__file__).parent.parent / "migrations"


def _postgres_engine(url: str) -> Engine:
    try:
        import psycopg  # noqa: F401, PLC0415 - optional: only a PostgreSQL store needs it
    except ImportError:
        raise ConfigurationError(
            "a PostgreSQL store needs the psycopg driver: pip install 'channelsync[postgres]'",
            field="store.url",
        ) from None
    # psycopg 3 is the driver (SQLAlchemy would pick psycopg2 for a bare postgresql://).
    # READ COMMITTED whatever the server's default: the writes lock rows, then read again
    # (each statement sees what was committed before it), which a snapshot taken at the
    # transaction's start (REPEATABLE READ) would turn into serialization failures.
    return create_engine(
        f"postgresql+psycopg://{url.partition('://')[2]}",
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
    )


def migrate(connection: Connection, revision: str = "head") -> None:
    """Bring the database on ``connection`` to ``revision`` with the packaged migrations."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class SqlStore(Store):
    """The state store on a SQLAlchemy engine (see :func:`channelsync.store.open_store`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = _build_engine(url)
        with self._engine.begin() as connection:
            migrate(connection)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools)."""
        return self._engine

    @override
    @contextmanager
    def transaction(self) -> Iterator[StoreSession]:
        with self._engine.begin() as connection:
            yield SqlSession(connection)

    @override
    @contextmanager
    def preview(self) -> Iterator[StoreSession]:
        with self._engine.connect() as connection:
            transaction = connection.begin()
            try:
                yield SqlSession(connection)
            finally:
                transaction.rollback()

    @override
    def close(self) -> None:
        self._engine.dispose()


def _create_owner_only(path: Path) -> None:
    """Create a new database file readable by its owner only (it holds orders' data).

    SQLite creates the WAL and shared-memory files with the database file's
    permissions. An existing file is left as its owner set it.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigurationError(
            f"the state database cannot be created at {path}: {exc.strerror}", field="store.url"
        ) from None
    os.close(descriptor)


def _build_engine(url: str) -> Engine:
    if url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        return _postgres_engine(url)
    if not url.startswith("sqlite"):
        return create_engine(url)
    memory = url in {"sqlite://", "sqlite:///:memory:"}
    if not memory:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.parent.is_dir():
            raise ConfigurationError(
                f"the directory of the state database does not exist: {path.parent}",
                field="store.url",
            )
        _create_owner_only(path)
    engine = create_engine(
        url,
        poolclass=StaticPool if memory else None,
        connect_args={"check_same_thread": False} if memory else {},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: object) -> None:
        # Python's sqlite3 opens transactions implicitly; SQLAlchemy's begin() then
        # issues BEGIN itself, which keeps every multi-row change in one transaction.
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


class SqlSession(
    SqlCatalogue,
    SqlLedger,
    SqlBindings,
    SqlOutbox,
    SqlOrders,
    SqlJournal,
    SqlVisibility,
    SqlInbox,
    SqlSummary,
    SqlBudgets,
    SqlPart,
    StoreSession,
):
    """The store operations on one open transaction, one part per aggregate."""
