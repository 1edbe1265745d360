"""``channelsync reconcile``: find hand edits in back offices, report and correct them."""

from __future__ import annotations

import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import click

from channelsync.cli._common import ExitCode, config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import open_engine, reports_input_errors, run
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.outbox import flush_channel
from channelsync.engine.reconcile import ReconcileReport, reconcile_channel
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ChannelError


async def _reconcile(
    engine: SyncEngine, names: list[str]
) -> tuple[list[ReconcileReport], dict[str, str]]:
    reports: list[ReconcileReport] = []
    errors: dict[str, str] = {}
    async with AsyncExitStack() as stack:
        for name in names:
            channel = engine.channels[name]
            try:
                if not channel.is_open:
                    await stack.enter_async_context(channel)
                reports.append(await reconcile_channel(engine.context, channel))
                # The corrections go out now, through the outbox like any change.
                await flush_channel(engine.context, channel)
            except ChannelError as error:
                errors[name] = str(error)
    return reports, errors


@click.command("reconcile")
@config_option
@click.option("--channel", "channel_name", default=None, help="Only this channel.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@reports_errors
@reports_input_errors
def reconcile_command(config_path: Path | None, channel_name: str | None, as_json: bool) -> None:
    """Read every listing, compare it with what was last sent, and correct the drift.

    Exits 1 when a channel could not be read.
    """
    with open_engine(config_path) as engine:
        if channel_name is not None and channel_name not in engine.channels:
            known = ", ".join(sorted(engine.channels)) or "none"
            raise InputError(
                "reconcile",
                [Problem(f"unknown channel {channel_name!r} (configured: {known})")],
            )
        names = [channel_name] if channel_name else list(engine.channels)
        names = [n for n in names if engine.context.channels[n].listings]
        reports, errors = run(_reconcile(engine, names))
    if as_json:
        data: dict[str, Any] = {"channels": [r.to_dict() for r in reports], "errors": errors}
        echo_json(data)
    else:
        for report in reports:
            click.echo(
                f"{report.channel}: {report.compared} listings compared, "
                f"{len(report.drift)} drifted, {len(report.missing)} missing"
            )
            for drift in report.drift:
                click.echo(
                    f"  {drift.merchant_code} {drift.field}: shown {drift.shown}, "
                    f"expected {drift.expected} ({drift.action})"
                )
            for code in report.missing:
                click.echo(f"  missing on the channel: {code}")
        for name, error in errors.items():
            click.echo(f"{name}: error: {error}")
    if errors:
        sys.exit(ExitCode.FAILURE)
