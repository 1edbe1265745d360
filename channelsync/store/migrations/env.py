"""Alembic environment: migrations run on the connection the store hands over.

The store calls Alembic programmatically (:func:`channelsync.store.migrate`) with an
open connection in ``config.attributes["connection"]``; there is no ``alembic.ini`` and
no URL here, so nothing is read from the environment. A workspace's schema keeps its
own version table (``config.attributes["version_table_schema"]``), so each workspace
is migrated on its own.
"""

from __future__ import annotations

from alembic import context

from channelsync.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the state store migrations run only through channelsync.store")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table_schema=context.config.attributes.get("version_table_schema"),
)
with context.begin_transaction():
    context.run_migrations()
