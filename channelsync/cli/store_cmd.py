"""``channelsync store``: the state store's schema (and the job queue's, for workers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from channelsync.bootstrap import open_state
from channelsync.cli._common import config_option, read_config, reports_errors
from channelsync.config import DEFAULT_WORKSPACE, Config
from channelsync.errors import ConfigurationError
from channelsync.store import SqlStore, list_workspaces, open_store
from channelsync.store.sql import current_revision, migrate
from channelsync.store.sql.workspaces import sqlite_path
from channelsync.workers.extra import INSTALL_HINT, conninfo, has_procrastinate, is_postgres

__all__ = ["store_group"]


@click.group("store")
def store_group() -> None:
    """Manage the state store's database schema."""


@store_group.command("migrate")
@config_option
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Migrate every workspace of the store (not with --workspace).",
)
@reports_errors
def migrate_command(config_path: Path | None, every: bool) -> None:
    """Bring the store's schema up to date; on PostgreSQL, install the job queue's too.

    Creates the store when there is none, and the workspace named with --workspace
    (or [store] workspace) when the store does not have it yet. With a PostgreSQL
    store and the workers extra installed (pip install 'channelsync[workers]'), it
    also installs the tables `channelsync worker` queues its jobs in, next to the
    store's (one queue serves every workspace). Running it again changes nothing.
    """
    config = read_config(config_path)
    if every and config.store.workspace is not None:
        raise ConfigurationError(
            "--all migrates every workspace: name none (no --workspace, no [store] workspace)",
            path=str(config.path),
            field="store.workspace",
        )
    names = list_workspaces(config.store.url) if every else [config.store.workspace]
    for name in names or [None]:
        _migrate(config, name, labelled=every)
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


def _migrate(config: Config, workspace: str | None, *, labelled: bool) -> None:
    """Migrate one workspace (creating it if named and missing) and say where it stands."""
    if workspace is None:
        store = open_state(config, create=True)
    else:
        store = open_store(config.store, workspace=workspace, create=True)
    with store:
        assert isinstance(store, SqlStore)
        with store.engine.begin() as connection:
            migrate(connection)
            revision = current_revision(connection)
        name = store.workspace
        created = store.created
    prefix = f"workspace {name}: " if labelled or name != DEFAULT_WORKSPACE else ""
    made = " (workspace created)" if created and name != DEFAULT_WORKSPACE else ""
    click.echo(f"state store: {prefix}schema at revision {revision}{made}")


@store_group.command("copy")
@click.option(
    "--from",
    "source_url",
    required=True,
    help="The store to copy, by URL (e.g. sqlite:////var/lib/channelsync/state.db).",
)
@click.option("--from-workspace", default=None, help="Its workspace (default: its only one).")
@config_option
@reports_errors
def copy_command(source_url: str, from_workspace: str | None, config_path: Path | None) -> None:
    """Copy a whole store into the configured one, which must be empty.

    Moves a SQLite store to PostgreSQL (or into a workspace): catalogue, ledger,
    bindings, outbox, orders, shipments and audit trail, row for row, in one
    transaction. Stop the daemon first. The target is created (and migrated) when
    missing; a target that holds any row is refused and left as it was.
    """
    from channelsync.store.sql.copying import copy_store  # noqa: PLC0415 - this command only

    config = read_config(config_path)
    path = sqlite_path(source_url)
    if path is not None and not path.exists():
        raise ConfigurationError(f"--from: no store at {path}", field="--from")
    with open_store(source_url, workspace=from_workspace) as source:
        target = open_state(config, create=True)
        with target:
            assert isinstance(source, SqlStore)
            assert isinstance(target, SqlStore)
            report = copy_store(source, target)
            where = target.location
    click.echo(f"copied {report.total:,} rows into {where}:")
    for table, count in report.rows.items():
        if count:
            click.echo(f"  {table}: {count:,}")
