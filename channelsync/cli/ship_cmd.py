"""``channelsync ship`` and ``channelsync shipments import``: confirm shipments."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from channelsync.cli._common import config_option, reports_errors
from channelsync.cli.engine_cmd import open_engine, reports_input_errors
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.shipments import (
    ShipmentRequest,
    fetch_missing_orders,
    read_shipments_csv,
    request_shipments,
)
from channelsync.engine.sync import SyncEngine


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


_FETCH = click.option(
    "--fetch",
    is_flag=True,
    help="Read an order not in the store from the marketplace (and import it) first.",
)


def _fetch_first(engine: SyncEngine, requests: list[ShipmentRequest], *, fetch: bool) -> None:
    if fetch:
        fetched = asyncio.run(fetch_missing_orders(engine.context, engine.channels, requests))
        if fetched:
            click.echo(f"read {fetched} order{'s' if fetched != 1 else ''} from the marketplace")


@click.command("ship")
@click.argument("channel")
@click.argument("order_id")
@click.option("--carrier", required=True, help="Carrier code or name (sf, 顺丰, J&T ...).")
@click.option("--tracking", required=True, help="The tracking number.")
@click.option("--line", "lines", multiple=True, help="SKU=QTY for a partial shipment (repeat).")
@_FETCH
@config_option
@reports_errors
@reports_input_errors
def ship_command(  # noqa: PLR0917 - click passes every option positionally by name
    channel: str,
    order_id: str,
    carrier: str,
    tracking: str,
    lines: tuple[str, ...],
    fetch: bool,
    config_path: Path | None,
) -> None:
    """Queue a shipment of ORDER_ID on CHANNEL; the next cycle pushes it, once.

    The order must be in the store (imported by a pull); with --fetch an order not
    pulled yet is read from the marketplace and imported first.
    """
    request = ShipmentRequest(channel, order_id, carrier, tracking, _lines(lines))
    with open_engine(config_path) as engine:
        _fetch_first(engine, [request], fetch=fetch)
        new = request_shipments(engine.context, [request])
    click.echo("queued" if new else "already queued")


@click.group("shipments")
def shipments_group() -> None:
    """Shipments in bulk."""


@shipments_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_FETCH
@config_option
@reports_errors
@reports_input_errors
def import_command(file: Path, fetch: bool, config_path: Path | None) -> None:
    """Queue shipments from a CSV: channel,order_id,carrier,tracking[,sku,quantity].

    All or none: a row naming an order not in the store (or on hold, or cancelled)
    refuses the file and queues nothing; --fetch reads such orders first.
    """
    requests = read_shipments_csv(file)
    with open_engine(config_path) as engine:
        _fetch_first(engine, requests, fetch=fetch)
        new = request_shipments(engine.context, requests)
    click.echo(f"queued {new} shipment{'s' if new != 1 else ''} ({len(requests) - new} already)")
