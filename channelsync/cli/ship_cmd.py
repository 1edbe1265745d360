"""``channelsync ship`` and ``channelsync shipments import``: confirm shipments."""

from __future__ import annotations

from pathlib import Path

import click

from channelsync.cli._common import config_option, reports_errors
from channelsync.cli.engine_cmd import open_engine, reports_input_errors
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.shipments import (
    ShipmentRequest,
    read_shipments_csv,
    request_shipments,
)


def _lines(values: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    lines = []
    problems = []
    for value in values:
        sku, _, quantity = value.partition("=")
        if not sku or not quantity.isdigit() or int(quantity) <= 0:
            problems.append(Problem(f"{value!r} is not SKU=QUANTITY", field="--line"))
        else:
            lines.append((sku, int(quantity)))
    if problems:
        raise InputError("ship", problems)
    return tuple(lines)


@click.command("ship")
@click.argument("channel")
@click.argument("order_id")
@click.option("--carrier", required=True, help="Carrier code or name (sf, 顺丰, J&T ...).")
@click.option("--tracking", required=True, help="The tracking number.")
@click.option("--line", "lines", multiple=True, help="SKU=QTY for a partial shipment (repeat).")
@config_option
@reports_errors
@reports_input_errors
def ship_command(  # noqa: PLR0917 - click passes every option positionally by name
    channel: str,
    order_id: str,
    carrier: str,
    tracking: str,
    lines: tuple[str, ...],
    config_path: Path | None,
) -> None:
    """Queue a shipment of ORDER_ID on CHANNEL; the next cycle pushes it, once."""
    request = ShipmentRequest(channel, order_id, carrier, tracking, _lines(lines))
    with open_engine(config_path) as engine:
        new = request_shipments(engine.context, [request])
    click.echo("queued" if new else "already queued")


@click.group("shipments")
def shipments_group() -> None:
    """Shipments in bulk."""


@shipments_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@reports_errors
@reports_input_errors
def import_command(file: Path, config_path: Path | None) -> None:
    """Queue shipments from a CSV: channel,order_id,carrier,tracking[,sku,quantity]."""
    requests = read_shipments_csv(file)
    with open_engine(config_path) as engine:
        new = request_shipments(engine.context, requests)
    click.echo(f"queued {new} shipment{'s' if new != 1 else ''} ({len(requests) - new} already)")
