"""What the engine's commands share: opening the state store and the channels.

Tests (and embedding code) pass a :class:`CliOverrides` as click's ``obj`` to run the
commands against in-process channels and a fake clock; nothing else changes.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from channelsync.bootstrap import build_channels, build_engine, open_state
from channelsync.channels import Channel
from channelsync.cli._common import ExitCode, read_config
from channelsync.clock import Clock, SystemClock
from channelsync.config import Config
from channelsync.engine.errors import InputError
from channelsync.engine.sync import SyncEngine
from channelsync.plugins import PluginHost, build_plugin_manager

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "CliOverrides",
    "clock",
    "open_engine",
    "overrides",
    "reports_input_errors",
    "run",
    "runtime_config",
]


@dataclass
class CliOverrides:
    """Replacements for what the commands would otherwise build themselves."""

    clock: Clock | None = None
    channels: Mapping[str, Channel[Any]] = field(default_factory=dict)
    host: PluginHost | None = None


def overrides() -> CliOverrides:
    """Return the overrides set on the click context, or empty ones."""
    context = click.get_current_context(silent=True)
    found = context.find_object(CliOverrides) if context is not None else None
    return found or CliOverrides()


def clock() -> Clock:
    """Return the clock the commands use."""
    return overrides().clock or SystemClock()


def runtime_config(path: Path | None) -> Config:
    """Load the configuration the user named (or the default one)."""
    return read_config(path)


def run(coroutine: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine to completion from a command."""
    return asyncio.run(coroutine)


def reports_input_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report a bad input file or argument by row and field, and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as error:
            click.echo(f"Error: {error.source}: nothing was changed", err=True)
            for problem in error.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(ExitCode.USAGE)

    return wrapper


@contextmanager
def open_engine(path: Path | None, *, read_only: bool = False) -> Iterator[SyncEngine]:
    """Load the config, open the store and build the engine; close the store after.

    ``read_only``: the command only reads the store, so no channel secret is read
    (``status`` works where none is available); the channels must not be opened.
    """
    config = runtime_config(path)
    found = overrides()
    host = found.host or build_plugin_manager()
    # Built first: a configuration that cannot work must not create the store file.
    channels = build_channels(
        config,
        host=host,
        channels=found.channels.values(),
        clock=clock(),
        require_credentials=not read_only,
    )
    with open_state(config) as store:
        yield build_engine(config, store, host=host, channels=channels, clock=clock())
