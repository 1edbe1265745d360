"""What every command shares: exit codes, error reporting, config loading, JSON output."""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from channelsync.config import Config, check_workspace_name, load_config
from channelsync.errors import ChannelSyncError, ConfigurationError

P = ParamSpec("P")
R = TypeVar("R")


class ExitCode(IntEnum):
    """Exit codes scripts can rely on."""

    OK = 0
    FAILURE = 1
    """Something went wrong while doing the work (a marketplace, the keyring)."""
    USAGE = 2
    """The command line or the configuration is wrong (click uses 2 for usage errors too)."""


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn channelsync's errors into a one-line message and the right exit code.

    A user's mistake never prints a traceback: configuration problems exit 2, other
    known failures exit 1.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigurationError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(ExitCode.USAGE)
        except ChannelSyncError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(ExitCode.FAILURE)

    return wrapper


F = TypeVar("F", bound=Callable[..., Any])

# Where --workspace leaves its value for read_config (click's meta is shared by the
# command and its groups, so a group's option and a command's are one).
_WORKSPACE_KEY = "channelsync.workspace"


def _remember_workspace(context: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    try:
        check_workspace_name(value, field="--workspace")
    except ConfigurationError as error:
        raise click.BadParameter(str(error).removeprefix("field '--workspace': ")) from None
    context.meta[_WORKSPACE_KEY] = value


def workspace_option(func: F) -> F:
    """Add ``--workspace NAME``: the merchant's workspace, over the config's ``[store]`` one."""
    return click.option(
        "--workspace",
        metavar="NAME",
        default=None,
        expose_value=False,
        callback=_remember_workspace,
        help="The merchant's workspace in a store that holds several "
        "(default: [store] workspace, else the store's only one).",
    )(func)


def config_option(func: F) -> F:
    """Add ``--config FILE`` (as ``config_path``) and ``--workspace NAME`` to a command.

    The workspace is not passed to the command: :func:`read_config` puts it into the
    configuration it returns, so every command that reads the configuration has it.
    """
    func = workspace_option(func)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Configuration file (default: ./channelsync.toml).",
    )(func)


def chosen_workspace() -> str | None:
    """Return the workspace ``--workspace`` named on this command line, if any."""
    context = click.get_current_context(silent=True)
    found = context.meta.get(_WORKSPACE_KEY) if context is not None else None
    return found if isinstance(found, str) else None


def read_config(path: Path | None) -> Config:
    """Load the configuration file the user named, or the default one.

    ``--workspace`` (when given) replaces the file's ``[store] workspace``.
    """
    config = load_config(path)
    workspace = chosen_workspace()
    if workspace is None:
        return config
    return dataclasses.replace(config, store=dataclasses.replace(config.store, workspace=workspace))


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
