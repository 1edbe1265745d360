"""The SQL store's engines and its migrations, for the URL's own schema or a workspace's.

SQLite runs in WAL mode with foreign keys on and a busy timeout, in one file created
readable by its owner only; PostgreSQL runs on psycopg 3 at READ COMMITTED. A
workspace's engine on PostgreSQL is the base engine with a ``schema_translate_map``
(``{None: "cs_acme"}``): every table of :mod:`channelsync.store.schema`, defined without
a schema, is then read and written in the workspace's schema. :func:`migrate` follows
the same map, and keeps the workspace's migration version in its schema too.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

from channelsync.errors import ConfigurationError
from channelsync.store.sql.checkpoint import Checkpointer

__all__ = [
    "CONNECT_TIMEOUT_S",
    "PING_AFTER_IDLE_S",
    "POSTGRES_SCHEMES",
    "build_engine",
    "current_revision",
    "is_memory",
    "is_postgres",
    "migrate",
    "newest_revision",
    "release_engine",
    "shared_postgres_engine",
    "translated_schema",
]

_MIGRATIONS = Path(__file__).parent.parent / "migrations"
#: How long a new PostgreSQL connection may take, unless the URL's own
#: ``connect_timeout`` says otherwise: a server that accepts and never answers (a
#: half-dead host, a firewall that drops) would otherwise hold a command for ever.
CONNECT_TIMEOUT_S = 10
#: SQLite's log checkpoint interval for writers, in pages (the background thread
#: checkpoints far sooner), and the size the log is cut back to.
_WAL_CHECKPOINT_PAGES = 50_000
_WAL_SIZE_LIMIT = 64 * 1024 * 1024
#: How long a PostgreSQL connection may rest in the pool and still be handed out
#: without a ping first. Transactions follow one another within milliseconds in a
#: busy cycle (one per batch sent); a round trip before each cost 6 % of a first
#: cycle. A connection that rested longer (the server may have restarted meanwhile)
#: is pinged, and replaced if the ping fails.
PING_AFTER_IDLE_S = 1.0
#: The planner's cost of a page read out of order, set on the store's PostgreSQL
#: connections where the server keeps PostgreSQL's default (4): see ``_custom_plans``.
RANDOM_PAGE_COST = 1.1
#: URL prefixes of a PostgreSQL store.
POSTGRES_SCHEMES = ("postgresql:", "postgres:", "postgresql+psycopg:")


def is_postgres(url: str) -> bool:
    """Whether a store URL names a PostgreSQL database."""
    return url.startswith(POSTGRES_SCHEMES)


def is_memory(url: str) -> bool:
    """Whether a store URL names an in-memory SQLite database."""
    return url in {"sqlite://", "sqlite:///:memory:"}


def translated_schema(connection: Connection | Engine) -> str | None:
    """Return the schema the store's tables are bound to on ``connection`` (``None``: its own)."""
    found = connection.get_execution_options().get("schema_translate_map") or {}
    schema = found.get(None)
    return schema if isinstance(schema, str) else None


def migrate(connection: Connection, revision: str = "head") -> None:
    """Bring the database on ``connection`` to ``revision`` with the packaged migrations.

    On a workspace's connection (a ``schema_translate_map``), the workspace's schema is
    migrated, with its own version table. Its schema is also first on the search path
    while the migrations run, for the few statements Alembic writes with a bare table
    name (``ALTER TABLE ... ADD COLUMN``); the search path is put back afterwards. A
    store already at the newest revision is left as it is without starting Alembic,
    which would load every migration's module only to find nothing to run.
    """
    if revision == "head" and current_revision(connection) == newest_revision():
        return
    schema = translated_schema(connection)
    restore: str | None = None
    if schema is not None and connection.dialect.name == "postgresql":
        restore = connection.execute(text("SELECT current_setting('search_path')")).scalar_one()
        quoted = connection.dialect.identifier_preparer.quote_schema(schema)
        connection.execute(text("SELECT set_config('search_path', :path, true)"), {"path": quoted})
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["version_table_schema"] = schema
    command.upgrade(config, revision)
    if restore is not None:
        connection.execute(text("SELECT set_config('search_path', :path, true)"), {"path": restore})


@functools.cache
def newest_revision() -> str:
    """Return the revision of the newest packaged migration (what opening a store reaches).

    Read once per process: the packaged migrations do not change while it runs.
    """
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the packaged migrations have {len(heads)} heads: {heads}")
    return str(heads[0])


def current_revision(connection: Connection) -> str | None:
    """Return the migration revision of the store (or workspace) on ``connection``."""
    opts = {"version_table_schema": translated_schema(connection)}
    return MigrationContext.configure(connection, opts=opts).get_current_revision()


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
    address = make_url(f"postgresql+psycopg://{url.partition('://')[2]}")
    engine = create_engine(
        address,
        connect_args={}
        if "connect_timeout" in address.query
        else {"connect_timeout": CONNECT_TIMEOUT_S},
        isolation_level="READ COMMITTED",
        # A failed statement's values (a buyer's name, phone, address) stay out of its
        # error's message, and so out of every log line and traceback that prints it.
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _custom_plans(dbapi_connection: Any, _record: object) -> None:
        # psycopg prepares a statement run five times; PostgreSQL may then plan it once
        # for any values. A lookup of many keys (``IN`` a few hundred values, as the
        # ledger's idempotency check is) planned without its values walks the table
        # comparing each row with every value: 57 ms instead of 2 on 20,000 events.
        # Planned with its values, it hashes them or probes the index.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
            # No JIT compilation: it pays off for long analytic queries, and a store's
            # statements are short ones over a few thousand keys whose estimated cost
            # (many rows of a large table) still passes jit_above_cost. Compiling then
            # takes longer than running: 59 of 73 ms for one page's stock positions on
            # 100,000 SKUs.
            cursor.execute("SET jit = off")
            # An index probe priced as a random read from a disk (PostgreSQL's default
            # cost of 4 pages) makes a keyed write of a slice (4,000 listings by id,
            # joined to the rows given) hash the whole table instead: 258 ms a slice
            # against 48 on 400,000 listings, and more as the table grows. The store's
            # tables are read by key and mostly cached; 1.1 is the usual figure for
            # that (and for SSDs). A server whose administrator set it keeps theirs.
            cursor.execute("SELECT source FROM pg_settings WHERE name = 'random_page_cost'")
            row = cursor.fetchone()
            if row is not None and row[0] == "default":
                cursor.execute(f"SET random_page_cost = {RANDOM_PAGE_COST}")
        dbapi_connection.commit()

    _ping_after_rest(engine)
    return engine


def _ping_after_rest(engine: Engine) -> None:
    """Ping a pooled connection before use when it rested past :data:`PING_AFTER_IDLE_S`.

    SQLAlchemy's ``pool_pre_ping`` pings before every use. A failed ping makes the
    pool discard the connection and open another (``DisconnectionError``).
    """

    @event.listens_for(engine, "checkin")
    def _rested_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: object) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_S:
            return  # just opened (its session settings were set), or busy a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the pooled connection is gone") from exc


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


# One PostgreSQL engine (one connection pool) per URL in a process, however many of its
# workspaces are open: a worker serving two hundred merchants holds a pool's worth of
# connections, not two hundred pools. Counted, so the last store to close disposes it.
_shared: dict[str, tuple[Engine, int]] = {}
_shared_lock = threading.Lock()


def shared_postgres_engine(url: str) -> Engine:
    """Return this process's engine of PostgreSQL ``url``; pair with :func:`release_engine`."""
    with _shared_lock:
        engine, users = _shared.get(url) or (None, 0)
        if engine is None:
            engine = _postgres_engine(url)
        _shared[url] = (engine, users + 1)
        return engine


def release_engine(url: str) -> None:
    """Give back a :func:`shared_postgres_engine`; the last user's release disposes it."""
    with _shared_lock:
        found = _shared.get(url)
        if found is None:
            return
        engine, users = found
        if users > 1:
            _shared[url] = (engine, users - 1)
            return
        del _shared[url]
    engine.dispose()


def build_engine(url: str) -> Engine:
    """Return the engine of a store URL (creating a SQLite file, owner-only, if missing)."""
    if is_postgres(url):
        return _postgres_engine(url)
    if not url.startswith("sqlite"):
        return create_engine(url, hide_parameters=True)
    memory = is_memory(url)
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
        hide_parameters=True,  # as on PostgreSQL: no buyer's data in an error's message
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: object) -> None:
        # Python's sqlite3 opens transactions implicitly; SQLAlchemy's begin() then
        # issues BEGIN itself, which keeps every multi-row change in one transaction.
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # The checkpoint thread (checkpoint.py) copies the log into the database
            # shortly after commits; a writer checkpoints itself only past ~200 MB of
            # log (SQLite's default: 4 MB), so a large commit (an order page touching
            # 10,000 outbox rows) is not followed by tens of megabytes of copying and
            # two syncs. It still bounds the log should the thread fall behind.
            # Durability is the same; the log is cut back to 64 MB after a checkpoint.
            cursor.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    if not memory:
        _checkpoint_in_background(engine, path)
    return engine


def _checkpoint_in_background(engine: Engine, path: Path) -> None:
    """Have a :class:`Checkpointer` follow ``engine``'s commits until it is disposed."""
    checkpointer = Checkpointer(path)
    event.listen(engine, "commit", lambda _connection: checkpointer.committed())
    event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
