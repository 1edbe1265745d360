"""``channelsync events``: opt a shop in to its marketplace's push, and see the inbox."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click

from channelsync.channels import EventsCapability
from channelsync.cli._common import ExitCode, config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import open_engine, reports_input_errors, run
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ChannelError


@click.group("events")
def events_group() -> None:
    """Marketplace events (pushed order and refund changes) beside polling."""


def _listening_channel(engine: SyncEngine, name: str) -> EventsCapability:
    channel = engine.channels.get(name)
    if channel is None:
        known = ", ".join(sorted(engine.channels)) or "none"
        raise InputError(
            "events", [Problem(f"unknown channel {name!r} (configured: {known})", field="channel")]
        )
    if not isinstance(channel, EventsCapability):
        raise InputError(
            "events",
            [
                Problem(
                    f"channel {name!r} ({channel.type_name}) has no push service to listen to; "
                    "it is polled only",
                    field="channel",
                )
            ],
        )
    return channel


async def _enable(engine: SyncEngine, name: str) -> str:
    channel = engine.channels[name]
    async with channel:
        listening = _listening_channel(engine, name)
        return await listening.enable_events()


@events_group.command("enable")
@click.argument("channel")
@config_option
@reports_errors
@reports_input_errors
def enable_command(channel: str, config_path: Path | None) -> None:
    """Opt CHANNEL's shop in to its marketplace's push (the one-time set-up step).

    Tmall: taobao.tmc.user.permit; Pinduoduo: pdd.pmc.user.permit; Amazon: an SQS
    destination and an ORDER_CHANGE subscription. Then set ``events = true`` for the
    channel and restart the daemon. Exits 1 when the marketplace refused.
    """
    with open_engine(config_path) as engine:
        _listening_channel(engine, channel)
        try:
            summary = run(_enable(engine, channel))
        except ChannelError as error:
            click.echo(f"{channel}: the marketplace refused: {error}", err=True)
            sys.exit(ExitCode.FAILURE)
        if not engine.channels[channel].settings.events:
            summary += (
                f"\nevents are off in the config for {channel}: set `events = true` on the "
                "channel and restart the daemon to listen"
            )
    click.echo(summary)


@events_group.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def status_command(config_path: Path | None, as_json: bool) -> None:
    """Show, per channel that listens, the events of the last hour and any left unanswered.

    Reads the store only; safe while the daemon runs.
    """
    rows: dict[str, dict[str, object]] = {}
    with open_engine(config_path, read_only=True) as engine, engine.store.transaction() as session:
        since = engine.context.clock.now() - timedelta(hours=1)
        for name, channel in engine.channels.items():
            if not isinstance(channel, EventsCapability):
                continue
            summary = session.inbox_summary(name, since)
            rows[name] = {
                "enabled": bool(channel.settings.events),
                "received_last_hour": summary.received,
                "unanswered": summary.unprocessed,
                "last_received": summary.last_received.isoformat()
                if summary.last_received
                else None,
            }
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no configured channel can listen to events (they are polled)")
    for name, row in rows.items():
        state = "on" if row["enabled"] else "off"
        click.echo(
            f"{name}: events {state}; {row['received_last_hour']} received in the last hour, "
            f"{row['unanswered']} unanswered, last at {row['last_received'] or 'never'}"
        )
