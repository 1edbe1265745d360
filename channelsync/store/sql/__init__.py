"""The state store on SQLAlchemy Core: SQLite by default, PostgreSQL by URL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, in one file. The
schema is brought to the newest revision with the packaged Alembic migrations when
the store is opened. Statements are built with SQLAlchemy expressions only, so the
same code serves every database SQLAlchemy supports. A session is composed of one
part per aggregate (catalogue, ledger, bindings, outbox, orders, journal), each in
its own module here.

A store holds one workspace per merchant (:mod:`~channelsync.store.sql.workspaces`):
a :class:`SqlStore` is opened on one of them, and every statement it runs reads and
writes that workspace's tables only (its own SQLite file, or its PostgreSQL schema
through the engine's ``schema_translate_map``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from typing_extensions import override

from channelsync.config import DEFAULT_WORKSPACE, check_workspace_name
from channelsync.errors import ConfigurationError
from channelsync.store.base import Store, StoreSession
from channelsync.store.sql._common import SqlPart
from channelsync.store.sql.bindings import SqlBindings
from channelsync.store.sql.budgets import SqlBudgets
from channelsync.store.sql.catalogue import SqlCatalogue
from channelsync.store.sql.engine import (
    build_engine,
    current_revision,
    is_postgres,
    migrate,
    release_engine,
    shared_postgres_engine,
)
from channelsync.store.sql.errors import StoreUnavailableError
from channelsync.store.sql.inbox import SqlInbox
from channelsync.store.sql.journal import SqlJournal
from channelsync.store.sql.ledger import SqlLedger
from channelsync.store.sql.orders import SqlOrders
from channelsync.store.sql.outbox import SqlOutbox
from channelsync.store.sql.statistics import forget_written, refresh_statistics
from channelsync.store.sql.summary import SqlSummary
from channelsync.store.sql.visibility import SqlVisibility
from channelsync.store.sql.workspaces import (
    choose_workspace,
    create_schema,
    postgres_workspaces,
    sqlite_path,
    sqlite_workspaces,
    workspace_file,
    workspace_schema,
)

__all__ = ["WORKSPACE_OPTION", "SqlStore", "current_revision", "migrate", "workspace_of"]

#: The engine execution option naming the workspace an engine works on (for messages).
WORKSPACE_OPTION = "channelsync_workspace"


def workspace_of(engine: Engine) -> str:
    """Return the workspace a store's engine works on."""
    found = engine.get_execution_options().get(WORKSPACE_OPTION)
    return found if isinstance(found, str) else DEFAULT_WORKSPACE


class SqlStore(Store):
    """The state store on a SQLAlchemy engine (see :func:`channelsync.store.open_store`).

    ``workspace`` names the merchant's workspace to open (``None``: the store's only
    one, or ``default`` while it has none). A workspace that does not exist is created
    only with ``create``; otherwise it is refused with
    :class:`~channelsync.errors.ConfigurationError`, and nothing is created.
    """

    def __init__(self, url: str, *, workspace: str | None = None, create: bool = False) -> None:
        requested = None if workspace is None else check_workspace_name(workspace)
        self.base_url = url
        """The URL the store was opened with (``url`` is the workspace's database)."""
        self.url = url
        self.workspace = DEFAULT_WORKSPACE
        self.created = False
        """Whether opening created the workspace (a new schema or file, or a fresh store)."""
        self._closed = False
        if is_postgres(url):
            self._engine = self._open_postgres(url, requested, create=create)
            return
        path = sqlite_path(url)
        existing = [] if path is None else sqlite_workspaces(path)
        self.workspace = choose_workspace(requested, existing, create=create)
        if path is None and self.workspace != DEFAULT_WORKSPACE:
            raise ConfigurationError(
                "workspaces need PostgreSQL or a SQLite file; this store has only 'default'",
                field="store.workspace",
            )
        if path is not None:
            self.url = f"sqlite:///{workspace_file(path, self.workspace)}"
        self.created = self.workspace not in existing
        self._engine = build_engine(self.url)
        if self.workspace != DEFAULT_WORKSPACE:
            self._engine = self._engine.execution_options(**{WORKSPACE_OPTION: self.workspace})
        try:
            with self._engine.begin() as connection:
                migrate(connection)
        except BaseException:
            self._engine.dispose()
            raise

    def _open_postgres(self, url: str, requested: str | None, *, create: bool) -> Engine:
        """Open workspace ``requested`` of a PostgreSQL store, creating its schema if asked."""
        base = shared_postgres_engine(url)
        try:
            try:
                connection = base.connect()
            except OperationalError as error:
                raise StoreUnavailableError(url, error) from None
            with connection:
                existing = postgres_workspaces(connection)
            self.workspace = choose_workspace(requested, existing, create=create)
            schema = workspace_schema(self.workspace)
            # A store of its own on the shared pool: what listens to this engine's
            # transactions (the workers' hooks) hears this workspace's alone.
            engine = base.execution_options(**{WORKSPACE_OPTION: self.workspace})
            if schema is not None:
                engine = base.execution_options(
                    schema_translate_map={None: schema}, **{WORKSPACE_OPTION: self.workspace}
                )
            with engine.begin() as connection:
                self.created = self.workspace not in existing
                if schema is not None and self.created:
                    # False when another process created it meanwhile.
                    self.created = create_schema(connection, self.workspace)
                migrate(connection)
        except BaseException:
            release_engine(url)
            raise
        return engine

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools), bound to the workspace's tables."""
        return self._engine

    @property
    def schema(self) -> str | None:
        """The workspace's own PostgreSQL schema (``None``: the URL's, or not PostgreSQL)."""
        return workspace_schema(self.workspace) if is_postgres(self.base_url) else None

    @property
    def location(self) -> str:
        """Where the workspace's tables are, for messages: a schema, or a file."""
        if is_postgres(self.base_url):
            schema = self.schema
            return f"schema {schema}" if schema else "the URL's own schema"
        path = sqlite_path(self.url)
        return f"file {path}" if path is not None else "the URL's database"

    @property
    @override
    def concurrent_writers(self) -> bool:
        return is_postgres(self.base_url)

    @override
    @contextmanager
    def transaction(self) -> Iterator[StoreSession]:
        with self._engine.begin() as connection:
            forget_written(connection)  # what a transaction outside this one counted
            yield SqlSession(connection)
            written = forget_written(connection)
        if written:
            refresh_statistics(self._engine, written, self.schema)

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
        if self._closed:
            return
        self._closed = True
        if is_postgres(self.base_url):
            release_engine(self.base_url)  # the pool is shared with the URL's other stores
        else:
            self._engine.dispose()


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
