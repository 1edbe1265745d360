"""``channelsync orders list``: the imported orders, filtered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from channelsync.bootstrap import open_state
from channelsync.cli._common import config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import reports_input_errors, runtime_config
from channelsync.engine.errors import InputError, Problem
from channelsync.models import OrderStatus


@click.group("orders")
def orders_group() -> None:
    """List the imported orders."""


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            "--since", [Problem(f"{value!r} is not an ISO date or time", field="since")]
        ) from None
    # A date or time without a zone is read as UTC, the zone every stored time is in.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@orders_group.command("list")
@click.option("--channel", default=None, help="Only this channel.")
@click.option("--status", type=click.Choice([s.value for s in OrderStatus]), default=None)
@click.option("--since", default=None, help="Changed at or after this ISO time (UTC if no zone).")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
@reports_input_errors
def list_command(
    channel: str | None,
    status: str | None,
    since: str | None,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """List imported orders, newest change first."""
    config = runtime_config(config_path)
    moment = _since(since)
    with open_state(config) as store, store.transaction() as session:
        orders = session.orders(channel=channel, status=status, since=moment)
    if as_json:
        echo_json([dict(o.raw) for o in orders])
        return
    for order in orders:
        hold = " ON HOLD" if order.on_hold else ""
        total = order.raw.get("total", {})
        click.echo(
            f"{order.channel} {order.order_id} {order.status}{hold} "
            f"{total.get('amount', '')} {total.get('currency', '')} "
            f"updated {order.updated_at.isoformat()}"
        )
