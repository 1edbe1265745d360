"""``channelsync sync`` and ``plan``: run one cycle, or preview what it would send.

A planned change of a kit (or multipack) says so: its components, and as available
what they make (a kit holds no stock of its own).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from channelsync.cli._common import ExitCode, config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import open_engine, reports_input_errors, run
from channelsync.cli.status_cmd import kit_json, kit_text
from channelsync.engine.composition import kit_availability
from channelsync.store import Store


@click.command("sync")
@click.option("--once", is_flag=True, required=True, help="Run one full cycle and exit.")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_errors
@reports_input_errors
def sync_command(once: bool, config_path: Path | None, as_json: bool) -> None:
    """Pull orders, apply them, compute allocations and prices, and send the changes.

    Exits 1 when a channel failed, something was parked, or a SKU is oversold (more
    sold than exists: the units have to be found or the orders cancelled).
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
    if any(c.errors for c in summary.channels.values()) or data["parked"] or summary.oversold:
        sys.exit(ExitCode.FAILURE)


@click.command("plan")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@reports_errors
def plan_command(config_path: Path | None, as_json: bool) -> None:
    """Show what the next cycle would send, per channel, without sending it."""
    with open_engine(config_path, read_only=True) as engine:
        preview = engine.plan()
        _add_kits(engine.store, (item for items in preview.values() for item in items))
    if as_json:
        echo_json(preview)
        return
    for name, items in preview.items():
        click.echo(f"{name}: {len(items)} change{'s' if len(items) != 1 else ''}")
        for item in items:
            value = item.get("quantity", item.get("amount", item.get("status", "")))
            target = item.get("merchant_code") or item["key"]
            kit = item.get("kit")
            if kit is None or item["kind"] != "stock":
                click.echo(f"  {item['kind']} {target}: {value}")
                continue
            click.echo(
                f"  {item['kind']} {target}: {value}  "
                f"kit: {kit_text(kit)}, available {kit['available']}"
            )


def _add_kits(store: Store, items: Iterable[dict[str, Any]]) -> None:
    """Add a ``kit`` key to each planned change of a kit: its components and what they make."""
    items = [item for item in items if item.get("merchant_code")]
    if not items:
        return
    with store.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus({i["merchant_code"] for i in items})}
        components = session.components_of(ids.values())
        makes = kit_availability(session, components)
    for item in items:
        kit_id = ids.get(item["merchant_code"])
        if kit_id in components:
            item["kit"] = {**kit_json(components[kit_id]), "available": makes[kit_id]}
