"""``channelsync sync``, ``plan`` and ``status``: run a cycle, preview one, show what is stuck."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from channelsync.channels import EventsCapability
from channelsync.cli._common import ExitCode, config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import open_engine, reports_input_errors, run
from channelsync.engine.completeness import AUDIT_KIND as COMPLETENESS_AUDIT
from channelsync.engine.completeness import CURSOR_KIND as COMPLETENESS_CURSOR
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.reconcile import RECONCILE_CURSOR, correction_outcome
from channelsync.engine.sync import SyncEngine
from channelsync.store import OutboxState, SqlStore, StoreSession, lock_holder


@click.command("sync")
@click.option("--once", is_flag=True, required=True, help="Run one full cycle and exit.")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_errors
@reports_input_errors
def sync_command(once: bool, config_path: Path | None, as_json: bool) -> None:
    """Pull orders, apply them, compute allocations and prices, and send the changes.

    Exits 1 when a channel failed or something was parked this cycle.
    """
    with open_engine(config_path) as engine:
        summary = run(engine.run_cycle())
    data = summary.to_dict()
    if as_json:
        echo_json(data)
    else:
        click.echo(
            f"orders imported: {data['orders_imported']}, updates sent: {data['sent']}, "
            f"parked: {data['parked']}, held: {data['held']}"
        )
        for name, channel in summary.channels.items():
            click.echo(
                f"  {name}: {channel.orders_imported} orders, {channel.sent} sent, "
                f"{channel.retried} to retry, {channel.parked} parked, "
                f"{channel.held} held for orders in flight"
            )
            if channel.refunds_applied or channel.refunds_parked:
                click.echo(
                    f"    refunds: {channel.refunds_applied} applied to stock, "
                    f"{channel.refunds_parked} waiting"
                )
            for note in channel.unrestocked:
                click.echo(f"    return not restocked: {note}")
            for mismatch in channel.completeness:
                click.echo(f"    ORDER COUNT MISMATCH: {mismatch['message']}")
            for error in channel.errors:
                click.echo(f"    error: {error}")
        for code, units in summary.oversold.items():
            click.echo(f"  OVERSOLD: {code} by {units}")
        for code in summary.overcommitted:
            click.echo(f"  overcommitted by a minimum setting: {code}")
        for failure in summary.failures:
            click.echo(f"  parked: {failure}")
    if any(c.errors for c in summary.channels.values()) or data["parked"]:
        sys.exit(ExitCode.FAILURE)


@click.command("plan")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@reports_errors
def plan_command(config_path: Path | None, as_json: bool) -> None:
    """Show what the next cycle would send, per channel, without sending it."""
    with open_engine(config_path, read_only=True) as engine:
        preview = engine.plan()
    if as_json:
        echo_json(preview)
        return
    for name, items in preview.items():
        click.echo(f"{name}: {len(items)} change{'s' if len(items) != 1 else ''}")
        for item in items:
            value = item.get("quantity", item.get("amount", item.get("status", "")))
            target = item.get("merchant_code") or item["key"]
            click.echo(f"  {item['kind']} {target}: {value}")


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def status_command(config_path: Path | None, as_json: bool) -> None:
    """Show each channel's last pull and outbox, the daemon holding the store, and what is parked.

    Safe while the daemon runs: it only reads.
    """
    with open_engine(config_path, read_only=True) as engine, engine.store.transaction() as session:
        channels: dict[str, dict[str, Any]] = {}
        for name in engine.channels:
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
            channels[name] = {
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
        holder = lock_holder(engine.store.engine) if isinstance(engine.store, SqlStore) else None
        parked: list[dict[str, Any]] = [
            {"channel": i.channel, "kind": i.kind, "key": i.key, "reason": i.reason}
            for i in session.outbox(state=OutboxState.PARKED)
        ]
        pending = len(session.outbox(state=OutboxState.PENDING))
        orders: list[dict[str, Any]] = [
            {"channel": p.channel, "kind": p.kind, "key": p.key, "reason": p.reason}
            for p in session.parked()
        ]
    daemon = None
    if holder is not None:
        daemon = {
            "host": holder.host,
            "pid": holder.pid,
            "since": holder.since.isoformat(),
            "lease_until": holder.expires.isoformat(),
        }
    if as_json:
        echo_json(
            {
                "daemon": daemon,
                "channels": channels,
                "pending": pending,
                "parked": parked,
                "parked_records": orders,
            }
        )
        return
    if holder is not None:
        click.echo(f"daemon: {holder.describe()} (lease until {holder.expires.isoformat()})")
    for name, info in channels.items():
        pulled = info["last_pull"] or "never"
        waiting = info["waiting_for_credentials"]
        click.echo(
            f"{name}: orders pulled up to {pulled}, {info['pending']} pending, "
            f"{info['parked']} parked"
            + (f" ({waiting} waiting for credentials)" if waiting else "")
        )
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
    drifted = sum(len(info["drift"]) for info in channels.values())
    click.echo(
        f"pending: {pending}, parked: {len(parked)}, parked records: {len(orders)}, "
        f"drift at last reconcile: {drifted}"
    )
    for entry in [*parked, *orders]:
        click.echo(f"  {entry['channel']} {entry['kind']} {entry['key']}: {entry['reason']}")


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
