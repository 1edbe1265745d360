"""Workspaces: one store holding many merchants' catalogues, each apart from the others.

A workspace is one merchant's whole state (channels' bindings, catalogue, ledger,
orders, outbox, journal, the daemon's lock): a set of the store's tables of its own,
so nothing crosses workspaces.

* **PostgreSQL**: the URL's own schema (the first of its search path, normally
  ``public``) is the workspace ``default``, so a store one merchant already uses is
  that workspace, unchanged. Workspace ``acme`` lives in the schema ``cs_acme`` beside
  it (:func:`workspace_schema`), which carries a comment naming the schema it belongs
  to: another store's workspaces in the same database (another base schema) are never
  taken for this store's, and a schema of that name that is not this store's
  workspace is refused rather than written into.
* **SQLite**: the URL's file (``state.db``) is ``default``; workspace ``acme`` is the
  file ``state.acme.db`` beside it (:func:`workspace_file`).

:func:`choose_workspace` decides which workspace a command works on: the one named,
else the store's only one, else (none yet) ``default``. A named workspace that does
not exist is refused unless the caller creates it (``channelsync workspaces create``,
``channelsync store migrate``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, String, distinct, func, literal, select, text

from channelsync.config import DEFAULT_WORKSPACE, WORKSPACE_PATTERN
from channelsync.errors import ConfigurationError
from channelsync.store import schema as t
from channelsync.store.sql.engine import build_engine, is_memory, is_postgres

__all__ = [
    "SCHEMA_PREFIX",
    "WorkspaceFigures",
    "base_schema",
    "choose_workspace",
    "create_schema",
    "list_workspaces",
    "postgres_workspaces",
    "sqlite_path",
    "sqlite_workspaces",
    "workspace_figures",
    "workspace_file",
    "workspace_schema",
]

#: What a workspace's PostgreSQL schema is called: this, then the workspace's name.
SCHEMA_PREFIX = "cs_"
_VERSION_TABLE = "alembic_version"
# The first bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class WorkspaceFigures:
    """One workspace of a store as ``channelsync workspaces list`` shows it."""

    name: str
    location: str
    """Where its tables are: ``schema cs_acme``, ``file /srv/state.acme.db``."""
    skus: int
    channels: int
    """Channels with at least one listing bound to a SKU."""


def workspace_schema(name: str) -> str | None:
    """Return the PostgreSQL schema of workspace ``name`` (``None``: the URL's own)."""
    return None if name == DEFAULT_WORKSPACE else f"{SCHEMA_PREFIX}{name}"


def sqlite_path(url: str) -> Path | None:
    """Return the file of a ``sqlite:///`` store URL (``None``: not a SQLite file)."""
    if not url.startswith("sqlite:///") or is_memory(url):
        return None
    return Path(url.removeprefix("sqlite:///"))


def workspace_file(path: Path, name: str) -> Path:
    """Return the SQLite file of workspace ``name`` of the store whose file is ``path``."""
    if name == DEFAULT_WORKSPACE:
        return path
    return path.with_name(f"{path.stem}.{name}{path.suffix}")


def sqlite_workspaces(path: Path) -> list[str]:
    """Return the workspaces of the SQLite store whose ``default`` file is ``path``.

    ``default`` when the file exists; every other SQLite database beside it named
    ``<stem>.<workspace><suffix>``.
    """
    found = [DEFAULT_WORKSPACE] if path.exists() else []
    if not path.parent.is_dir():
        return found
    start, end = f"{path.stem}.", path.suffix
    for candidate in sorted(path.parent.iterdir()):
        name = candidate.name
        if not (name.startswith(start) and name.endswith(end) and len(name) > len(start + end)):
            continue
        workspace = name[len(start) : len(name) - len(end)]
        if WORKSPACE_PATTERN.fullmatch(workspace) and _is_sqlite(candidate):
            found.append(workspace)
    return found


def _is_sqlite(path: Path) -> bool:
    # SQLite's own companion files (-wal, -shm, -journal) are not databases.
    try:
        with path.open("rb") as file:
            return file.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


def base_schema(connection: Connection) -> str:
    """Return the URL's own schema on PostgreSQL: the workspace ``default``."""
    schema = connection.execute(select(func.current_schema())).scalar()
    if not isinstance(schema, str):
        raise ConfigurationError(
            "the store's search path names no schema that exists: create it, or fix the "
            "URL's search_path option",
            field="store.url",
        )
    return schema


def _mark(name: str, base: str) -> str:
    """Return the comment on a workspace's schema that says whose workspace it is."""
    return f"channelsync workspace {name} of schema {base}"


def postgres_workspaces(connection: Connection) -> list[str]:
    """Return the workspaces of the PostgreSQL store on ``connection`` (its base schema's)."""
    base = base_schema(connection)
    found = []
    migrated = connection.execute(
        text("SELECT 1 FROM pg_tables WHERE schemaname = :schema AND tablename = :table"),
        {"schema": base, "table": _VERSION_TABLE},
    ).first()
    if migrated is not None:
        found.append(DEFAULT_WORKSPACE)
    rows = connection.execute(
        text(
            "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
            "WHERE left(nspname, :length) = :prefix ORDER BY nspname"
        ),
        {"length": len(SCHEMA_PREFIX), "prefix": SCHEMA_PREFIX},
    ).all()
    for schema, comment in rows:
        name = schema[len(SCHEMA_PREFIX) :]
        if WORKSPACE_PATTERN.fullmatch(name) and comment == _mark(name, base):
            found.append(name)
    return found


def create_schema(connection: Connection, name: str) -> bool:
    """Create workspace ``name``'s schema in the open transaction; ``False`` if it is there.

    Two processes creating one workspace at once queue on an advisory lock held to the
    end of the transaction; the second finds the first's. A schema of that name that
    is not this store's workspace is refused, naming it.
    """
    schema = workspace_schema(name)
    assert schema is not None  # the default workspace is the URL's own schema
    base = base_schema(connection)
    key = zlib.crc32(f"channelsync workspace {schema}".encode())
    connection.execute(select(func.pg_advisory_xact_lock(key)))
    existing = connection.execute(
        text("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :s"),
        {"s": schema},
    ).first()
    mark = _mark(name, base)
    if existing is not None:
        if existing[0] == mark:
            return False
        raise ConfigurationError(
            f"the schema {schema} exists in this database but is not workspace {name!r} of "
            f"this store (schema {base}): nothing was created; choose another name",
            field="store.workspace",
        )
    quoted = connection.dialect.identifier_preparer.quote_schema(schema)
    # A literal, not a bound value: COMMENT takes none. ':' would read as a bound name.
    comment = _literal(connection, mark).replace(":", r"\:")
    connection.execute(text(f"CREATE SCHEMA {quoted}"))
    connection.execute(text(f"COMMENT ON SCHEMA {quoted} IS {comment}"))
    return True


def _literal(connection: Connection, value: str) -> str:
    """Return ``value`` as a string literal of the connection's SQL dialect."""
    return str(
        literal(value, String()).compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )
    )


def choose_workspace(requested: str | None, existing: Sequence[str], *, create: bool) -> str:
    """Return the workspace to open: ``requested``, else the only one, else ``default``.

    Raises :class:`~channelsync.errors.ConfigurationError` (nothing is created) when
    none is named and the store has several, listing them, and when the named one does
    not exist and ``create`` is not set. A store with no workspace yet opens (and so
    creates) ``default``, named or not, as a store always did.
    """
    if requested is None:
        if not existing:
            return DEFAULT_WORKSPACE
        if len(existing) == 1:
            return existing[0]
        raise ConfigurationError(
            f"this store holds {len(existing)} workspaces ({', '.join(existing)}): choose "
            'one with --workspace NAME (or workspace = "NAME" under [store])',
            field="store.workspace",
        )
    if requested in existing or create or (requested == DEFAULT_WORKSPACE and not existing):
        return requested
    held = ", ".join(existing) if existing else "none yet"
    raise ConfigurationError(
        f"this store has no workspace {requested!r} (it has: {held}); nothing was "
        f"created. Create it with `channelsync workspaces create {requested}`",
        field="store.workspace",
    )


def list_workspaces(url: str) -> list[str]:
    """Return the workspaces the store at ``url`` holds (``default`` first), creating nothing.

    An in-memory store, or a database other than PostgreSQL and a SQLite file, holds
    none before it is opened, and only ever ``default``.
    """
    if is_postgres(url):
        engine = build_engine(url)
        try:
            with engine.connect() as connection:
                return postgres_workspaces(connection)
        finally:
            engine.dispose()
    path = sqlite_path(url)
    return [] if path is None else sqlite_workspaces(path)


def workspace_figures(url: str) -> list[WorkspaceFigures]:
    """Return each workspace of the store at ``url`` with its SKUs and bound channels.

    Read as the workspaces are: nothing is migrated or created.
    """
    names = list_workspaces(url)
    if is_postgres(url):
        engine = build_engine(url)
        try:
            return [
                _figures(
                    engine.execution_options(schema_translate_map={None: schema})
                    if (schema := workspace_schema(name))
                    else engine,
                    name,
                    f"schema {schema}" if schema else "the URL's own schema",
                )
                for name in names
            ]
        finally:
            engine.dispose()
    path = sqlite_path(url)
    found = []
    for name in names:
        assert path is not None  # only a SQLite file store lists workspaces here
        file = workspace_file(path, name)
        engine = build_engine(f"sqlite:///{file}")
        try:
            found.append(_figures(engine, name, f"file {file}"))
        finally:
            engine.dispose()
    return found


def _figures(engine: Engine, name: str, location: str) -> WorkspaceFigures:
    with engine.connect() as connection:
        skus = connection.execute(select(func.count()).select_from(t.skus)).scalar_one()
        channels = connection.execute(
            select(func.count(distinct(t.bindings.c.channel))).where(
                t.bindings.c.sku_id.is_not(None)
            )
        ).scalar_one()
    return WorkspaceFigures(name, location, int(skus), int(channels))
