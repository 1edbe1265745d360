"""``channelsync workspaces``: the merchants' workspaces of one store, listed and created.

A store one merchant uses has one workspace, ``default``, and never needs this
command. An agency or an ERP vendor keeping many merchants in one database gives
each a workspace (``channelsync workspaces create acme``) and a configuration whose
``[store]`` names it (or ``--workspace acme`` on each command).
"""

from __future__ import annotations

from pathlib import Path

import click

from channelsync.cli._common import echo_json, read_config, reports_errors
from channelsync.config import check_workspace_name
from channelsync.errors import ConfigurationError
from channelsync.store import SqlStore, list_workspaces, open_store, workspace_figures

__all__ = ["workspaces_group"]

# Only the file here: these commands work on every workspace, or on the one they name.
_config_file = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file (default: ./channelsync.toml); only its [store] url is used.",
)


@click.group("workspaces")
def workspaces_group() -> None:
    """List and create the merchants' workspaces of a store."""


@workspaces_group.command("list")
@_config_file
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def list_command(config_path: Path | None, as_json: bool) -> None:
    """List the store's workspaces, with their SKUs and bound channels.

    Nothing is created or migrated.
    """
    config = read_config(config_path)
    figures = workspace_figures(config.store.url)
    if as_json:
        echo_json(
            [
                {
                    "workspace": found.name,
                    "location": found.location,
                    "skus": found.skus,
                    "channels": found.channels,
                }
                for found in figures
            ]
        )
        return
    if not figures:
        click.echo("no workspace yet: the first command that opens the store creates 'default'")
        return
    width = max(len(found.name) for found in figures)
    for found in figures:
        click.echo(
            f"{found.name:<{width}}  {found.skus} SKU{'' if found.skus == 1 else 's'}, "
            f"{found.channels} channel{'' if found.channels == 1 else 's'} bound  "
            f"({found.location})"
        )


@workspaces_group.command("create")
@click.argument("name")
@_config_file
@reports_errors
def create_command(name: str, config_path: Path | None) -> None:
    """Create workspace NAME in the store, at the newest revision.

    On PostgreSQL it is the schema cs_NAME; on SQLite a file beside the store's.
    NAME: 1 to 40 lowercase letters, digits, '_' or '-'. A workspace that exists
    already is refused (`channelsync store migrate --workspace NAME` brings one up to
    date, creating it if needed).
    """
    check_workspace_name(name, field="NAME")
    config = read_config(config_path)
    if name in list_workspaces(config.store.url):
        raise ConfigurationError(
            f"workspace {name!r} exists already; nothing was changed", field="NAME"
        )
    with open_store(config.store, workspace=name, create=True) as store:
        assert isinstance(store, SqlStore)
        where = store.location
    click.echo(f"workspace {name} created ({where})")
