"""``channelsync outbox``: list the outbox, re-queue parked entries, or drop one for good."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from channelsync.bootstrap import open_state
from channelsync.cli._common import config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import clock, reports_input_errors, runtime_config
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.outbox import drop_parked
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


@outbox_group.command("drop")
@click.argument("channel")
@click.argument("kind", type=click.Choice(["stock", "price", "listing", "shipment"]))
@click.argument("key")
@click.option("--reason", required=True, help="Why it is dropped (kept in the audit trail).")
@config_option
@reports_errors
@reports_input_errors
def drop_command(channel: str, kind: str, key: str, reason: str, config_path: Path | None) -> None:
    """Drop a parked entry for good (KEY as `outbox list` shows it); the drop is audited.

    For a change that must not be made any more (a listing deleted on purpose, a
    shipment confirmed by hand in the back office). Only parked entries can be dropped.
    """
    if not reason.strip():
        raise InputError("outbox", [Problem("a reason is required", field="--reason")])
    config = runtime_config(config_path)
    now = clock().now()
    with open_state(config) as store, store.transaction() as session:
        dropped = drop_parked(
            session, channel=channel, kind=kind, key=key, reason=reason, who=_who(), now=now
        )
        if dropped is None:
            raise InputError(
                "outbox",
                [Problem(f"no parked {kind} entry {key!r} on {channel}", field="KEY")],
            )
    click.echo(f"dropped the parked {kind} entry {key} of {channel}: {reason}")


def _who() -> str:
    """Return the operating-system user running the command, for the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
