"""Alembic environment: migrations run on the connection the store hands over.

The store calls Alembic programmatically (:func:`channelsync.store.migrate.upgrade`)
with an open connection in ``config.attributes["connection"]``; there is no
``alembic.ini`` and no URL here, so nothing is read from the environment.
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
)
with context.begin_transaction():
    context.run_migrations()
