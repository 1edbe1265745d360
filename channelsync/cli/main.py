"""The ``channelsync`` entry point: the command group, logging and ``--version``."""

from __future__ import annotations

import logging

import click

from channelsync._version import __version__
from channelsync.cli.channels_cmd import channels_command
from channelsync.cli.credentials_cmd import credentials_group
from channelsync.cli.plugins_cmd import plugins_command
from channelsync.http import RedactingFilter, Redactor


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="channelsync")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Keep one product catalogue consistent across marketplaces."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter(Redactor()))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("channelsync")
    root.handlers[:] = [handler]
    root.setLevel(level)


cli.add_command(plugins_command)
cli.add_command(channels_command)
cli.add_command(credentials_group)


def main() -> None:
    """Run the command line (the console-script entry point)."""
    cli(prog_name="channelsync")
