"""Installing the job queue's tables in the store's PostgreSQL database, once.

procrastinate's schema (tables, types, functions and triggers) is plain SQL that
fails if run twice, so :func:`install_queue_schema` looks first and applies it only
where it is missing, holding a PostgreSQL advisory lock meanwhile: two ``channelsync
store migrate`` started at once install it once. It goes where the store's tables
are (the connection's ``search_path``).

Upgrading procrastinate to a release that changes its schema needs that release's
migration scripts applied; this only installs the schema where there is none.
"""

from __future__ import annotations

import zlib

import psycopg
from procrastinate import App, PsycopgConnector

__all__ = ["install_queue_schema", "queue_schema_installed"]

# One key for "installing the queue schema", whatever the database.
_LOCK = zlib.crc32(b"channelsync: procrastinate schema")


async def queue_schema_installed(app: App) -> bool:
    """Whether the queue's tables exist where ``app`` (open) connects."""
    return await app.check_connection_async()


async def install_queue_schema(conninfo: str) -> bool:
    """Install the queue schema unless it is there; return whether it was installed now."""
    app = App(connector=PsycopgConnector(conninfo=conninfo, min_size=1, max_size=2))
    # The lock is held on a connection of its own, for as long as it takes to apply.
    async with (
        await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as locked,
        app.open_async(),
    ):
        await locked.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            if await queue_schema_installed(app):
                return False
            await app.schema_manager.apply_schema_async()
            return True
        finally:
            await locked.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
