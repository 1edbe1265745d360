"""The ``channelsync`` entry point: the command group, logging and ``--version``."""

from __future__ import annotations

import logging

import click

from channelsync._version import __version__
from channelsync.cli.bindings_cmd import bindings_group
from channelsync.cli.catalogue_cmd import catalogue_group
from channelsync.cli.channels_cmd import channels_command
from channelsync.cli.credentials_cmd import credentials_group
from channelsync.cli.demo_cmd import demo_command
from channelsync.cli.events_cmd import events_group
from channelsync.cli.fake_cmd import fake_group
from channelsync.cli.orders_cmd import orders_group
from channelsync.cli.outbox_cmd import outbox_group
from channelsync.cli.plugin_cmd import plugin_group
from channelsync.cli.plugins_cmd import plugins_command
from channelsync.cli.privacy_cmd import privacy_group
from channelsync.cli.reconcile_cmd import reconcile_command
from channelsync.cli.report_cmd import report_command
from channelsync.cli.run_cmd import run_command
from channelsync.cli.ship_cmd import ship_command, shipments_group
from channelsync.cli.status_cmd import status_command
from channelsync.cli.store_cmd import store_group
from channelsync.cli.sync_cmd import plan_command, sync_command
from channelsync.cli.worker_cmd import worker_command
from channelsync.cli.workspaces_cmd import workspaces_group
from channelsync.gc_tuning import tune_garbage_collection
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
    tune_garbage_collection()


cli.add_command(plugins_command)
cli.add_command(plugin_group)
cli.add_command(channels_command)
cli.add_command(credentials_group)
cli.add_command(catalogue_group)
cli.add_command(sync_command)
cli.add_command(plan_command)
cli.add_command(status_command)
cli.add_command(outbox_group)
cli.add_command(orders_group)
cli.add_command(bindings_group)
cli.add_command(ship_command)
cli.add_command(shipments_group)
cli.add_command(reconcile_command)
cli.add_command(events_group)
cli.add_command(fake_group)
cli.add_command(privacy_group)
cli.add_command(report_command)
cli.add_command(run_command)
cli.add_command(worker_command)
cli.add_command(store_group)
cli.add_command(workspaces_group)
cli.add_command(demo_command)


def main() -> None:
    """Run the command line (the console-script entry point)."""
    cli(prog_name="channelsync")
