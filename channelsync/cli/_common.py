"""What every command shares: exit codes, error reporting, config loading, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from channelsync.config import Config, load_config
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


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file (default: ./channelsync.toml).",
)


def read_config(path: Path | None) -> Config:
    """Load the configuration file the user named, or the default one."""
    return load_config(path)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
