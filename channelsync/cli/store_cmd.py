"""``channelsync store``: the state store's schema (and the job queue's, for workers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from alembic.runtime.migration import MigrationContext

from channelsync.bootstrap import open_state
from channelsync.cli._common import config_option, read_config, reports_errors
from channelsync.store import SqlStore, migrate
from channelsync.workers.extra import INSTALL_HINT, conninfo, has_procrastinate, is_postgres

__all__ = ["store_group"]


@click.group("store")
def store_group() -> None:
    """Manage the state store's database schema."""


@store_group.command("migrate")
@config_option
@reports_errors
def migrate_command(config_path: Path | None) -> None:
    """Bring the store's schema up to date; on PostgreSQL, install the job queue's too.

    Creates the store when there is none. With a PostgreSQL store and the workers
    extra installed (pip install 'channelsync[workers]'), it also installs the tables
    `channelsync worker` queues its jobs in, next to the store's. Running it again
    changes nothing.
    """
    config = read_config(config_path)
    with open_state(config) as store:
        assert isinstance(store, SqlStore)
        with store.engine.begin() as connection:
            migrate(connection)
            revision = MigrationContext.configure(connection).get_current_revision()
    click.echo(f"state store: schema at revision {revision}")
    url = config.store.url
    if not is_postgres(url):
        click.echo("job queue: none with this store (workers need PostgreSQL)")
        return
    if not has_procrastinate():
        click.echo(f"job queue: not installed, the workers extra is missing ({INSTALL_HINT})")
        return
    from channelsync.workers.schema import install_queue_schema  # noqa: PLC0415 - the extra

    installed = asyncio.run(install_queue_schema(conninfo(url)))
    click.echo(f"job queue: {'tables installed' if installed else 'tables already installed'}")
