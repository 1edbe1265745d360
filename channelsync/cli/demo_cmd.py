"""``channelsync demo``: see the daemon work against fake marketplaces, no account needed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from channelsync.cli._common import reports_errors
from channelsync.cli.engine_cmd import overrides
from channelsync.console import parse_address

__all__ = ["demo_command"]


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the demo's config, catalogue, state and log (default: a new temp dir).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=5),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option("--headless", is_flag=True, help="Print plain lines instead of the live view.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the buyers.")
@click.option(
    "--rate", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Orders a second."
)
@click.option(
    "--console",
    "console_address",
    metavar="HOST:PORT",
    default=None,
    help="Serve the operator's web console here (default: a free port on 127.0.0.1).",
)
@reports_errors
def demo_command(
    *,
    directory: Path | None,
    duration: float | None,
    headless: bool,
    seed: int,
    rate: float,
    console_address: str | None,
) -> None:
    """Run the daemon against the fake marketplaces of the installed plugins.

    Serves each fake on loopback HTTP, writes a demo config and catalogue, runs
    `channelsync run` against them while buyers place orders (including buyers on
    every channel racing for the last unit of one SKU), shows per channel the stock
    shown, orders imported, updates sent and throttles, and ends with a summary.
    Exits 1 when the summary finds a problem.
    """
    from channelsync.demo import run_demo  # noqa: PLC0415 - rich loads only for the demo

    sys.exit(
        run_demo(
            directory,
            duration=duration,
            headless=headless,
            seed=seed,
            rate=rate,
            host=overrides().host,
            console_address=None
            if console_address is None
            else parse_address(console_address, field="--console"),
        )
    )
