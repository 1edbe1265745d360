"""``channelsync status``: what each channel has done, what is stuck, what is oversold.

It reads the store only (no secret, no marketplace call), so it is safe while the
daemon runs and works on a machine that holds no credential.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from channelsync.channels import EventsCapability
from channelsync.cli._common import config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import open_engine
from channelsync.engine.completeness import AUDIT_KIND as COMPLETENESS_AUDIT
from channelsync.engine.completeness import CURSOR_KIND as COMPLETENESS_CURSOR
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.pausing import Pause, paused_channels
from channelsync.engine.reconcile import RECONCILE_CURSOR, correction_outcome
from channelsync.engine.sync import SyncEngine
from channelsync.store import LockHolder, OutboxState, SqlStore, StoreSession, lock_holder


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def status_command(config_path: Path | None, as_json: bool) -> None:
    """Show each channel's pulls and outbox, the daemon, what is parked and what is oversold.

    Safe while the daemon runs: it only reads, and needs no channel's secret.
    """
    with open_engine(config_path, read_only=True) as engine, engine.store.transaction() as session:
        pauses = paused_channels(session)
        channels = {
            name: _channel(session, engine, name, pauses.get(name)) for name in engine.channels
        }
        holder = lock_holder(engine.store.engine) if isinstance(engine.store, SqlStore) else None
        data: dict[str, Any] = {
            "daemon": None if holder is None else _daemon(holder),
            "channels": channels,
            "pending": len(session.outbox(state=OutboxState.PENDING)),
            "parked": [
                {"channel": i.channel, "kind": i.kind, "key": i.key, "reason": i.reason}
                for i in session.outbox(state=OutboxState.PARKED)
            ],
            "parked_records": [
                {"channel": p.channel, "kind": p.kind, "key": p.key, "reason": p.reason}
                for p in session.parked()
            ],
            "oversold": _oversold(session),
        }
    if as_json:
        echo_json(data)
        return
    if holder is not None:
        click.echo(f"daemon: {holder.describe()} (lease until {holder.expires.isoformat()})")
    for name, info in channels.items():
        _echo_channel(name, info)
    drifted = sum(len(info["drift"]) for info in channels.values())
    click.echo(
        f"pending: {data['pending']}, parked: {len(data['parked'])}, "
        f"parked records: {len(data['parked_records'])}, drift at last reconcile: {drifted}"
    )
    for entry in [*data["parked"], *data["parked_records"]]:
        click.echo(f"  {entry['channel']} {entry['kind']} {entry['key']}: {entry['reason']}")
    for code, units in data["oversold"].items():
        click.echo(f"OVERSOLD: {code} by {units} unit{'s' if units != 1 else ''}")


def _daemon(holder: LockHolder) -> dict[str, Any]:
    return {
        "host": holder.host,
        "pid": holder.pid,
        "since": holder.since.isoformat(),
        "lease_until": holder.expires.isoformat(),
    }


def _channel(
    session: StoreSession, engine: SyncEngine, name: str, pause: Pause | None
) -> dict[str, Any]:
    """Gather one channel's state from the store."""
    cursor = session.cursor(name, "orders")
    counted = session.cursor(name, COMPLETENESS_CURSOR)
    mismatches = session.audit_trail(channel=name, kind=COMPLETENESS_AUDIT)
    reconciled = session.cursor(name, RECONCILE_CURSOR)
    drift = (
        session.audit_trail(channel=name, kind="reconcile", since=reconciled[0])
        if reconciled
        else []
    )
    parked_items = session.outbox(channel=name, state=OutboxState.PARKED)
    return {
        "paused": None if pause is None else pause.to_json(),
        "events": _events(session, engine, name),
        "last_pull": cursor[0].isoformat() if cursor else None,
        "cursor": cursor[1] if cursor else None,
        "pending": len(session.outbox(channel=name, state=OutboxState.PENDING)),
        "parked": len(parked_items) + len(session.parked(channel=name)),
        "waiting_for_credentials": sum(
            (item.reason or "").startswith(WAITING_FOR_CREDENTIALS) for item in parked_items
        ),
        "last_reconcile": reconciled[0].isoformat() if reconciled else None,
        "orders_counted_until": counted[0].isoformat() if counted else None,
        "order_count_mismatches": [entry.answer for entry in mismatches[-10:]],
        "drift": [
            f"{entry.sent.get('merchant_code') or entry.key}: {entry.answer}; "
            f"{correction_outcome(session, entry)}"
            for entry in drift
        ],
    }


def _echo_channel(name: str, info: dict[str, Any]) -> None:
    """Print one channel's state as text."""
    pulled = info["last_pull"] or "never"
    waiting = info["waiting_for_credentials"]
    click.echo(
        f"{name}: orders pulled up to {pulled}, {info['pending']} pending, "
        f"{info['parked']} parked" + (f" ({waiting} waiting for credentials)" if waiting else "")
    )
    if info["paused"] is not None:
        paused = info["paused"]
        click.echo(f"  PAUSED since {paused['since']} by {paused['by']}: {paused['reason']}")
    if info["events"] is not None:
        events = info["events"]
        click.echo(
            f"  events: {events['received_last_hour']} received in the last hour, "
            f"{events['unanswered']} unanswered, last at {events['last_received'] or 'never'}"
        )
    if info["last_reconcile"] is None:
        click.echo("  listings never reconciled")
    else:
        found = len(info["drift"])
        corrected = sum(line.endswith("; corrected") for line in info["drift"])
        click.echo(
            f"  last reconciled {info['last_reconcile']}: "
            f"{found} listing value{'s' if found != 1 else ''} drifted, {corrected} corrected"
        )
        for answer in info["drift"]:
            click.echo(f"    {answer}")
    if info["orders_counted_until"] is not None:
        found = len(info["order_count_mismatches"])
        click.echo(
            f"  order counts compared up to {info['orders_counted_until']}: "
            f"{found} mismatch{'es' if found != 1 else ''}"
        )
        for answer in info["order_count_mismatches"]:
            click.echo(f"    {answer}")


def _events(session: StoreSession, engine: SyncEngine, name: str) -> dict[str, Any] | None:
    """Summarise the inbox of a channel that listens (``None`` when it does not)."""
    channel = engine.channels[name]
    if not isinstance(channel, EventsCapability) or not channel.settings.events:
        return None
    summary = session.inbox_summary(name, engine.context.clock.now() - timedelta(hours=1))
    return {
        "received_last_hour": summary.received,
        "unanswered": summary.unprocessed,
        "last_received": summary.last_received.isoformat() if summary.last_received else None,
    }


def _oversold(session: StoreSession) -> dict[str, int]:
    """Return the SKUs whose orders take more than exists, and by how many units."""
    skus = session.skus()
    positions = session.positions([sku.id for sku in skus])
    return {
        sku.merchant_code: -positions[sku.id].available
        for sku in skus
        if sku.id in positions and positions[sku.id].available < 0
    }
