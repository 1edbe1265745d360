"""``channelsync privacy purge``: erase buyers' personal data now, past a retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from channelsync.cli._common import config_option, reports_errors
from channelsync.cli.engine_cmd import open_engine, runtime_config
from channelsync.engine.privacy import erase_personal_data


@click.group("privacy")
def privacy_group() -> None:
    """Buyers' personal data: erase it once shipments no longer need it."""


@privacy_group.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    default=None,
    help="Days an order must have been done (default: [daemon] personal_data_days).",
)
@config_option
@reports_errors
def purge_command(days: int | None, config_path: Path | None) -> None:
    """Erase delivery addresses, names, phones and notes from orders done long enough ago.

    The daemon does this hourly on its own; this is for on-demand erasure (0 days: every
    order that is done). Order facts stay; the erasure is audited with its count.
    """
    config = runtime_config(config_path)
    retention = timedelta(days=config.daemon.personal_data_days if days is None else days)
    with open_engine(config_path, read_only=True) as engine:
        erased = erase_personal_data(engine.context, retention)
    click.echo(f"personal data erased from {erased} order{'s' if erased != 1 else ''}")
