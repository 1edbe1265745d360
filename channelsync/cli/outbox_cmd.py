"""``channelsync outbox``: list the outbox and re-queue parked entries."""

from __future__ import annotations

from pathlib import Path

import click

from channelsync.bootstrap import open_state
from channelsync.cli._common import config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import clock, runtime_config
from channelsync.store import OutboxState


@click.group("outbox")
def outbox_group() -> None:
    """Inspect the outbox and re-queue parked changes."""


@outbox_group.command("list")
@click.option("--channel", default=None, help="Only this channel.")
@click.option("--state", type=click.Choice([s.value for s in OutboxState]), default=None)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def list_command(
    channel: str | None, state: str | None, config_path: Path | None, as_json: bool
) -> None:
    """List outbox entries."""
    config = runtime_config(config_path)
    with open_state(config) as store, store.transaction() as session:
        items = session.outbox(channel=channel, state=None if state is None else OutboxState(state))
    rows = [
        {
            "channel": i.channel,
            "kind": i.kind,
            "key": i.key,
            "state": i.state.value,
            "attempts": i.attempts,
            "reason": i.reason,
            "payload": dict(i.payload),
        }
        for i in items
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        reason = f" ({row['reason']})" if row["reason"] else ""
        click.echo(f"{row['channel']} {row['kind']} {row['key']}: {row['state']}{reason}")


@outbox_group.command("retry")
@click.option("--channel", default=None, help="Only this channel's parked entries.")
@config_option
@reports_errors
def retry_command(channel: str | None, config_path: Path | None) -> None:
    """Put parked entries back in the queue; the next cycle sends them."""
    config = runtime_config(config_path)
    with open_state(config) as store, store.transaction() as session:
        count = session.requeue_parked(clock().now(), channel)
    click.echo(f"re-queued {count} parked entr{'y' if count == 1 else 'ies'}")
