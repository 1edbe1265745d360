"""``channelsync status``: what each channel has done, what is stuck, what is oversold.

It reads the store only (no secret, no marketplace call), so it is safe while the
daemon runs and works on a machine that holds no credential. Beside the channels it
shows the kits (each with its components and what they make: a kit holds no stock of
its own), the stock of SKUs kept in more than one warehouse, and, where a channel's
sourcing is configured, the warehouses feeding each channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from channelsync.channels import EventsCapability
from channelsync.cli._common import config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import open_engine
from channelsync.daemon.listening import LISTENING_CURSOR
from channelsync.engine.completeness import AUDIT_KIND as COMPLETENESS_AUDIT
from channelsync.engine.completeness import CURSOR_KIND as COMPLETENESS_CURSOR
from channelsync.engine.composition import kit_availability
from channelsync.engine.outbox import WAITING_FOR_CREDENTIALS
from channelsync.engine.pausing import Pause, paused_channels
from channelsync.engine.reconcile import RECONCILE_CURSOR, correction_outcome
from channelsync.engine.sourcing import channel_sources, held_warehouses
from channelsync.engine.sync import SyncEngine
from channelsync.store import (
    KitComponent,
    LockHolder,
    OutboxState,
    SqlStore,
    StoreSession,
    lock_holder,
)
from channelsync.workers.presence import cluster_figures

__all__ = ["LISTED", "kit_json", "kit_text", "status_command", "warehouse_name"]

#: Kits and SKUs in several warehouses the text lists at most (``--json`` has them all).
LISTED = 50
#: The multiplication sign between a component's code and the units one kit takes.
TIMES = "\N{MULTIPLICATION SIGN}"


def kit_text(kit: Mapping[str, Any]) -> str:
    """Return the components of a ``kit`` key (:func:`kit_json`) as text, joined by ``+``."""
    return " + ".join(f"{c['sku']}{TIMES}{c['quantity']}" for c in kit["components"])


def kit_json(components: Iterable[KitComponent]) -> dict[str, Any]:
    """Return a kit's components as the ``kit`` key of a JSON row shows them."""
    return {"components": [{"sku": c.merchant_code, "quantity": c.quantity} for c in components]}


def warehouse_name(name: str) -> str:
    """Return a warehouse's name for text: the default one (``""``) as ``(default)``."""
    return name or "(default)"


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def status_command(config_path: Path | None, as_json: bool) -> None:
    """Show each channel's pulls and outbox, the daemon, what is parked and what is oversold.

    On a PostgreSQL store with a job queue, the workers alive and the workspace's
    jobs waiting, running and failed. Also the kits (their components, and as
    available what those make), the stock of SKUs kept in more than one warehouse,
    and, where sourcing is configured, the warehouses feeding each channel. Safe
    while the daemon runs: it only reads, and needs no channel's secret.
    """
    with open_engine(config_path, read_only=True) as engine, engine.store.transaction() as session:
        pauses = paused_channels(session)
        channels = {
            name: _channel(session, engine, name, pauses.get(name)) for name in engine.channels
        }
        _add_sources(session, engine, channels)
        holder = lock_holder(engine.store.engine) if isinstance(engine.store, SqlStore) else None
        cluster = (
            cluster_figures(engine.store.engine, engine.store.workspace)
            if isinstance(engine.store, SqlStore)
            else None
        )
        data: dict[str, Any] = {
            "daemon": None if holder is None else _daemon(holder),
            "workers": cluster,
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
            "kits": _kits(session),
            "warehouses": _warehouses(session),
        }
    if as_json:
        echo_json(data)
        return
    if holder is not None:
        click.echo(f"daemon: {holder.describe()} (lease until {holder.expires.isoformat()})")
    if cluster is not None:
        _echo_cluster(cluster)
    sourcing = any(_sourcing_set(engine, name) for name in channels)
    for name, info in channels.items():
        _echo_channel(name, info)
        if sourcing:
            _echo_sources(info)
    drifted = sum(len(info["drift"]) for info in channels.values())
    click.echo(
        f"pending: {data['pending']}, parked: {len(data['parked'])}, "
        f"parked records: {len(data['parked_records'])}, drift at last reconcile: {drifted}"
    )
    for entry in [*data["parked"], *data["parked_records"]]:
        click.echo(f"  {entry['channel']} {entry['kind']} {entry['key']}: {entry['reason']}")
    for code, units in data["oversold"].items():
        click.echo(f"OVERSOLD: {code} by {units} unit{'s' if units != 1 else ''}")
    _echo_kits(data["kits"])
    _echo_warehouses(data["warehouses"])


def _echo_cluster(cluster: dict[str, Any]) -> None:
    jobs = cluster["jobs"]
    waiting = ", ".join(f"{task} {n}" for task, n in sorted(cluster["waiting"].items()))
    oldest = cluster["oldest_waiting_s"]
    click.echo(
        f"workers: {cluster['alive']} alive; jobs waiting: {jobs.get('todo', 0)}"
        + (f" ({waiting})" if waiting else "")
        + f", running: {jobs.get('doing', 0)}, failed: {jobs.get('failed', 0)}"
        + ("" if oldest is None else f", oldest due one waiting {oldest:g}s")
    )


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
        if events["listener"] is not None:
            click.echo(f"  events heard by worker {events['listener']['worker']}")
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
    now = engine.context.clock.now()
    summary = session.inbox_summary(name, now - timedelta(hours=1))
    # Workers record which of them listens, until when (the daemon listens itself).
    heard = session.cursor(name, LISTENING_CURSOR)
    listener = (
        {"worker": heard[1], "until": heard[0].isoformat()}
        if heard is not None and heard[1] and heard[0] > now
        else None
    )
    return {
        "received_last_hour": summary.received,
        "unanswered": summary.unprocessed,
        "last_received": summary.last_received.isoformat() if summary.last_received else None,
        "listener": listener,
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


def _sourcing_set(engine: SyncEngine, name: str) -> bool:
    """Whether a channel's configuration names the warehouses feeding it or held by it."""
    settings = engine.context.channels[name].settings
    return settings.warehouses is not None or bool(settings.marketplace_warehouses)


def _add_sources(
    session: StoreSession, engine: SyncEngine, channels: Mapping[str, dict[str, Any]]
) -> None:
    """Add to each channel the warehouses feeding it, preferred first, and those it holds.

    None feeds a channel whose marketplace manages its stock (``managed_stock = false``).
    """
    settings = {name: info.settings for name, info in engine.context.channels.items()}
    held = held_warehouses(settings)
    present = session.warehouses()
    for name, info in channels.items():
        # A channel whose stock its marketplace manages is sent none: nothing feeds it.
        fed = channel_sources(settings[name], present, held) if settings[name].managed_stock else ()
        info["fed_from"] = list(fed)
        info["marketplace_warehouses"] = list(settings[name].marketplace_warehouses)


def _echo_sources(info: Mapping[str, Any]) -> None:
    """Print which warehouses feed a channel, and which its marketplace holds."""
    fed = ", ".join(warehouse_name(w) for w in info["fed_from"])
    click.echo(f"  fed from warehouses: {fed}" if fed else "  fed from no warehouse")
    if info["marketplace_warehouses"]:
        held = ", ".join(info["marketplace_warehouses"])
        click.echo(f"  its marketplace holds: {held} (the marketplace's to sell; feeds no channel)")


def _kits(session: StoreSession) -> list[dict[str, Any]]:
    """Return every kit: its components, and as available what they make (never its own)."""
    ids = session.kit_ids()
    components = session.components_of(ids)
    makes = kit_availability(session, ids)
    codes = {sku.id: sku.merchant_code for sku in session.skus_by_id(ids).values()}
    return sorted(
        (
            {"sku": codes[kit_id], "available": makes.get(kit_id, 0), "kit": kit_json(parts)}
            for kit_id, parts in components.items()
            if kit_id in codes
        ),
        key=lambda row: str(row["sku"]),
    )


def _warehouses(session: StoreSession) -> dict[str, dict[str, dict[str, int]]]:
    """Return, per SKU kept in more than one warehouse, each warehouse's on hand and reserved."""
    spread = session.skus_in_several_warehouses()
    stock = session.warehouse_stock(spread)
    return {
        code: {
            warehouse: {"on_hand": units.on_hand, "reserved": units.reserved}
            for warehouse, units in sorted(stock.get(sku_id, {}).items())
        }
        for sku_id, code in spread.items()
    }


def _echo_kits(kits: list[dict[str, Any]]) -> None:
    """Print each kit with its components and what they make."""
    if not kits:
        return
    click.echo(f"kits: {len(kits)} (available: what their components make; a kit holds no stock)")
    for row in kits[:LISTED]:
        click.echo(f"  {row['sku']}  kit: {kit_text(row['kit'])}, available {row['available']}")
    if len(kits) > LISTED:
        click.echo(f"  ... and {len(kits) - LISTED} more (--json lists them all)")


def _echo_warehouses(stock: Mapping[str, Mapping[str, Mapping[str, int]]]) -> None:
    """Print the on hand (and reserved) per warehouse of SKUs kept in more than one."""
    if not stock:
        return
    click.echo(f"SKUs in more than one warehouse: {len(stock)}")
    for code, warehouses in list(stock.items())[:LISTED]:
        places = "; ".join(
            f"{warehouse_name(w)} {units['on_hand']} on hand"
            + (f", {units['reserved']} reserved" if units["reserved"] else "")
            for w, units in warehouses.items()
        )
        click.echo(f"  {code}: {places}")
    if len(stock) > LISTED:
        click.echo(f"  ... and {len(stock) - LISTED} more (--json lists them all)")
