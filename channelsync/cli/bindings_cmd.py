"""``channelsync bindings``: which listings are bound to which SKUs, and what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from channelsync.cli._common import config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import open_engine, reports_input_errors, run
from channelsync.engine.binding import bind_manually, binding_report
from channelsync.engine.errors import InputError, Problem


@click.group("bindings", invoke_without_command=True)
@config_option
@click.option("--refresh", is_flag=True, help="Read every channel's listings first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
@reports_errors
def bindings_group(
    ctx: click.Context, config_path: Path | None, refresh: bool, as_json: bool
) -> None:
    """Report unbound listings and unlisted SKUs per channel."""
    if ctx.invoked_subcommand is not None:
        return
    # Reading the bindings needs no secret; refreshing them reads the marketplaces.
    with open_engine(config_path, read_only=not refresh) as engine:
        if refresh:
            run(engine.bind())
        reports = [binding_report(engine.store, name) for name in engine.channels]
    rows: list[dict[str, Any]] = [
        {
            "channel": r.channel,
            "bound": r.bound,
            "unbound_listings": r.unbound,
            "unlisted_skus": r.unlisted,
        }
        for r in reports
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['channel']}: {row['bound']} bound, {len(row['unbound_listings'])} unbound "
            f"listings, {len(row['unlisted_skus'])} unlisted SKUs"
        )
        for listing in row["unbound_listings"]:
            click.echo(
                f"  unbound listing {listing['item_id']}/{listing['sku_id'] or '-'} "
                f"(merchant code {listing['merchant_code'] or 'none'})"
            )
        for code in row["unlisted_skus"]:
            click.echo(f"  unlisted SKU {code}")


@bindings_group.command("bind")
@click.argument("channel")
@click.argument("item_id")
@click.argument("sku")
@click.option("--listing-sku", default=None, help="The listing's SKU id on the marketplace.")
@config_option
@reports_errors
@reports_input_errors
def bind_command(
    channel: str, item_id: str, sku: str, listing_sku: str | None, config_path: Path | None
) -> None:
    """Bind listing ITEM_ID on CHANNEL to catalogue SKU by hand."""
    with open_engine(config_path) as engine:
        if channel not in engine.channels:
            raise InputError("bindings", [Problem(f"unknown channel {channel!r}", field="channel")])
        bind_manually(engine.context, channel, item_id, sku, listing_sku_id=listing_sku)
    click.echo(f"bound {channel} {item_id}/{listing_sku or '-'} to {sku}")
