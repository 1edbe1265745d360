"""``channelsync run``: the daemon, for every configured channel, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from channelsync.bootstrap import build_channels, build_engine, open_state
from channelsync.cli._common import config_option, read_config, reports_errors
from channelsync.cli.engine_cmd import clock, overrides
from channelsync.config import DEFAULT_CONFIG_FILENAME
from channelsync.console import parse_address
from channelsync.console.serving import bind_console, console_secret, serve_daemon
from channelsync.daemon import Daemon, serve, setup_logging
from channelsync.errors import ConfigurationError
from channelsync.gc_tuning import start_up_frozen
from channelsync.plugins import build_plugin_manager
from channelsync.store import SqlStore, StoreLease
from channelsync.workers.presence import LIVE_WITHIN, live_workers

__all__ = ["run_command"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


@click.command("run")
@config_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Readable lines, or one JSON object per line for a log collector.",
)
@click.option("--log-level", type=click.Choice(list(_LEVELS)), default="info", show_default=True)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on /metrics and a health check on /healthz.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option(
    "--console",
    "console_address",
    metavar="HOST:PORT",
    default=None,
    help="Serve the operator's web console here (overrides [console] address).",
)
@reports_errors
def run_command(
    *,
    config_path: Path | None,
    log_format: str,
    log_level: str,
    metrics_port: int | None,
    metrics_host: str,
    console_address: str | None,
) -> None:
    """Keep every configured channel in sync until stopped (SIGTERM or Ctrl-C).

    Pulls each channel's orders on its own interval, sends changes as soon as there
    are any, and reconciles listings now and then; one failing channel never holds up
    the others. Only one daemon may work on a store at a time. With no configuration
    file at all, it runs against the demo marketplaces (see `channelsync demo`).
    """
    if config_path is None and not Path(DEFAULT_CONFIG_FILENAME).exists():
        from channelsync.demo import run_demo  # noqa: PLC0415 - only for the embedded demo

        click.echo(
            f"No --config and no {DEFAULT_CONFIG_FILENAME} here: running against the demo "
            "marketplaces (Ctrl-C stops). See `channelsync demo --help`.",
            err=True,
        )
        # The daemon runs in a child process: the flags (and the global -v/-vv) go to it.
        level = log_level
        if logging.getLogger("channelsync").getEffectiveLevel() <= logging.DEBUG:
            level = "debug"
        daemon_args = ["--log-format", log_format, "--log-level", level]
        daemon_args += ["--metrics-host", metrics_host]
        console = None if console_address is None else parse_address(console_address)
        sys.exit(
            run_demo(
                headless=True,
                daemon_args=daemon_args,
                metrics_port=metrics_port,
                console_address=console,
            )
        )
    config = read_config(config_path)
    address = (
        parse_address(console_address, field="--console")
        if console_address is not None
        else config.console.listen
    )
    found = overrides()
    host = found.host or build_plugin_manager()
    # Built first: a configuration that cannot work must not create the store file.
    channels = build_channels(config, host=host, channels=found.channels.values(), clock=clock())
    server = None if address is None else bind_console(config.console, address)
    with contextlib.ExitStack() as cleanup:
        if server is not None:
            cleanup.callback(server.close)
        store = cleanup.enter_context(open_state(config))
        engine = build_engine(config, store, host=host, channels=channels, clock=clock())
        setup_logging(
            "json" if log_format == "json" else "text",
            level=_LEVELS[log_level],
            secrets=[*engine.secret_values(), console_secret(config.console)],
        )
        lease = None
        if isinstance(store, SqlStore):
            _refuse_live_workers(store)
            where = make_url(store.url).render_as_string(hide_password=True)
            lease = StoreLease(store.engine, ttl=config.daemon.lock_ttl, clock=clock(), url=where)
        daemon = Daemon(engine, config.daemon, clock=clock(), lease=lease)
        if server is not None:
            serve_daemon(server, daemon, config.console)
        with start_up_frozen():
            code = asyncio.run(
                serve(daemon, metrics_port=metrics_port, metrics_host=metrics_host, console=server)
            )
    sys.exit(code)


def _refuse_live_workers(store: SqlStore) -> None:
    """Refuse a store that ``channelsync worker`` processes are working (both would sync it)."""
    alive = live_workers(store.engine)
    if alive:
        raise ConfigurationError(
            f"{alive} channelsync worker(s) reported alive on this store in the last "
            f"{LIVE_WITHIN:.0f} s: a store is worked either by `channelsync run` or by "
            "workers; stop the workers first, or start more workers instead",
            field="store.url",
        )
