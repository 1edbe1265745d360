"""``channelsync catalogue``: import and export the master catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from channelsync.bootstrap import check_warehouses, open_state
from channelsync.cli._common import config_option, echo_json, reports_errors
from channelsync.cli.engine_cmd import clock, reports_input_errors, runtime_config
from channelsync.engine.catalogue import export_catalogue, import_catalogue, read_catalogue_file


@click.group("catalogue")
def catalogue_group() -> None:
    """Import and export the master catalogue (CSV or JSON)."""


@catalogue_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default=None,
    help="File format (default: from the file name; CSV unless it ends in .json).",
)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_errors
@reports_input_errors
def import_command(
    file: Path, fmt: Literal["csv", "json"] | None, config_path: Path | None, as_json: bool
) -> None:
    """Import FILE: columns sku,title,price,currency,quantity (+ cost,barcode,warehouse,product).

    A kit or multipack lists its components (SKU*QTY joined by ';', e.g. TEAPOT-1*1;CUP-W*4)
    in a components column and leaves quantity empty. Any other column becomes an
    attribute of the SKU. A file with any bad row changes nothing; every problem is
    listed with its row number and field.
    """
    config = runtime_config(config_path)
    rows = read_catalogue_file(file, fmt)
    with open_state(config) as store:
        # A channel sourced from a warehouse the catalogue does not hold is refused first.
        check_warehouses(config, store, adding={row.warehouse for row in rows})
        summary = import_catalogue(store, rows, now=clock().now(), source=str(file))
    if as_json:
        echo_json(
            {
                "skus": summary.skus,
                "created": summary.created,
                "stock_events": summary.stock_events,
                "kits": summary.kits,
            }
        )
    else:
        click.echo(
            f"imported {summary.skus} SKUs ({summary.created} new), "
            f"{summary.stock_events} stock changes, "
            f"{summary.kits} kit{'' if summary.kits == 1 else 's'}"
        )


@catalogue_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@config_option
@reports_errors
def export_command(
    fmt: Literal["csv", "json"], output: Path | None, config_path: Path | None
) -> None:
    """Print the catalogue in the format ``catalogue import`` reads."""
    config = runtime_config(config_path)
    with open_state(config) as store:
        text = export_catalogue(store, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
