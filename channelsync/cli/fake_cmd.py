"""``channelsync fake serve``: the installed plugins' fake marketplaces, on loopback, until stopped.

For trying channelsync (the tutorial's first shop) and for building against it without
a real shop: each fake answers with its marketplace's real signing, envelopes, paging
and rate limits. Buyers order at ``--rate``; their orders are dated back past the
marketplace's indexing lag, so an order pull reads them at once.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from types import FrameType

import click

from channelsync.cli._common import reports_errors
from channelsync.demo.files import toml_value
from channelsync.demo.marketplaces import DemoMarketplace, start_marketplaces
from channelsync.demo.stream import OrderStream
from channelsync.errors import ConfigurationError
from channelsync.plugins import PluginHost, build_plugin_manager

#: How often buyers are given the chance to order.
_TICK = 0.5


@click.group("fake")
def fake_group() -> None:
    """Fake marketplaces of the installed plugins, for trying channelsync without a shop."""


def _check_types(host: PluginHost, wanted: tuple[str, ...]) -> None:
    types = host.registry.types()
    for name in wanted:
        if name not in types:
            known = ", ".join(sorted(types)) or "none"
            raise ConfigurationError(
                f"no installed plugin provides the channel type {name!r} (installed: {known})",
                field="PLUGIN",
            )
        if host.registry.get(name).demo_module is None:
            raise ConfigurationError(
                f"the plugin of {name!r} ships no fake marketplace", field="PLUGIN"
            )


def _describe(market: DemoMarketplace) -> list[str]:
    """Lines for a person: the channel entry to copy and what the fake does."""
    lag = int(market.order_lag.total_seconds())
    lines = [
        f"# {market.type_name}: fake marketplace on {market.server.url}",
        f"# orders are dated {lag + 30}s back: the marketplace's {lag}s indexing lag has passed",
        "[[channels]]",
        f'name = "{market.type_name}-fake"',
        f'type = "{market.type_name}"',
        f"base_url = {toml_value(market.server.url)}",
        *(f"{key} = {toml_value(value)}" for key, value in market.settings.items()),
        *(f"{key} = {toml_value(value)}" for key, value in market.sync.items()),
    ]
    if market.events is not None:
        lines.insert(2, f"# pushed events on {market.events.url}")
    return lines


@fake_group.command("serve")
@click.argument("plugins", nargs=-1, required=True, metavar="PLUGIN...")
@click.option(
    "--port-base",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve the fakes on consecutive ports from this one (default: any free ports).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=0.2,
    show_default=True,
    help="Buyers' orders a second, across the fakes (0: none).",
)
@click.option(
    "--events/--no-events",
    default=True,
    show_default=True,
    help="Also serve the push services (TMC, PMC, SQS) of the fakes that have one.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the buyers.")
@reports_errors
def serve_command(
    plugins: tuple[str, ...], port_base: int | None, rate: float, events: bool, seed: int
) -> None:
    """Serve the fake marketplaces of PLUGIN... on loopback until SIGTERM or Ctrl-C.

    When ready, prints one JSON line on standard output:
    {"PLUGIN": {"base_url": ..., "credentials": {...}}, ...}. The channel settings to
    use with each fake (its app keys, the events URL) are printed on standard error as
    configuration entries to copy.
    """
    host = build_plugin_manager()
    _check_types(host, plugins)
    try:
        markets = start_marketplaces(
            host, seed=seed, types=list(plugins), events=events, port_base=port_base
        )
    except OSError as exc:
        raise ConfigurationError(
            f"the fakes cannot be served from port {port_base}: {exc.strerror or exc}",
            field="--port-base",
        ) from None
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        by_type = {m.type_name: m for m in markets}
        ready = {
            name: {"base_url": by_type[name].server.url, "credentials": by_type[name].credentials}
            for name in plugins
        }
        click.echo(json.dumps(ready, ensure_ascii=False))
        sys.stdout.flush()
        for market in markets:
            click.echo("\n".join(_describe(market)) + "\n", err=True)
        buyers = OrderStream(markets, rate=rate, seed=seed)
        while not stop.wait(_TICK):
            buyers.tick(_TICK)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for market in markets:
            market.stop()
