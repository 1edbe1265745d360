"""``channelsync worker``: run the daemon's channel steps as jobs, with any number of workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from channelsync.bootstrap import build_channels, build_engine, open_state
from channelsync.cli._common import (
    ExitCode,
    chosen_workspace,
    read_config,
    reports_errors,
    workspace_option,
)
from channelsync.cli.engine_cmd import clock, overrides
from channelsync.config import Config
from channelsync.daemon import setup_logging
from channelsync.errors import ChannelSyncError, ConfigurationError
from channelsync.gc_tuning import start_up_frozen
from channelsync.plugins import build_plugin_manager
from channelsync.workers.extra import require_postgres, require_procrastinate

if TYPE_CHECKING:
    from channelsync.workers.app import WorkerTuning

__all__ = ["worker_command"]

logger = logging.getLogger(__name__)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
#: Exit code after a second stop signal (as ``channelsync run``).
EXIT_FORCED = 130


@click.command("worker")
@click.option(
    "--config",
    "config_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default: ./channelsync.toml). Give it once per merchant "
    "to serve several workspaces of one database from this process.",
)
@workspace_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Jobs this worker runs at once (steps wait on the network, not the CPU).",
)
@click.option(
    "--once",
    is_flag=True,
    help="Queue every channel's pull and flush, work until no job is left to run, and exit.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Readable lines, or one JSON object per line for a log collector.",
)
@click.option("--log-level", type=click.Choice(list(_LEVELS)), default="info", show_default=True)
@reports_errors
def worker_command(
    *,
    config_paths: tuple[Path, ...],
    concurrency: int,
    once: bool,
    log_format: str,
    log_level: str,
) -> None:
    """Work the channels' steps from the job queue in PostgreSQL until stopped.

    Start as many workers as you like, on as many machines, with the same
    configuration: each channel's pull, flush and reconcile run as jobs, one of each
    at a time across all of them, on the daemon's intervals. Needs a PostgreSQL store
    prepared with `channelsync store migrate`; a SQLite store is worked by
    `channelsync run`. A worker serves the workspace of its configuration; with
    --config given several times (one per merchant, all on one database) it serves
    each of their workspaces. SIGTERM or Ctrl-C stops it after the work in flight.
    """
    configs = _configs(config_paths)
    conninfos = {require_postgres(config) for config in configs}
    if len(conninfos) > 1:
        raise ConfigurationError(
            "every --config of one worker must name the same PostgreSQL database in "
            "[store] url (the job queue lives there)",
            field="store.url",
        )
    (conninfo,) = conninfos
    require_procrastinate()
    tuning = _tuning(configs)
    from channelsync.workers.app import build_app  # noqa: PLC0415 - the optional extra
    from channelsync.workers.running import run_worker  # noqa: PLC0415
    from channelsync.workers.runtime import WorkerRuntime  # noqa: PLC0415

    found = overrides()
    host = found.host or build_plugin_manager()
    # Built first: a configuration that cannot work must not touch the store.
    built = [
        build_channels(config, host=host, channels=found.channels.values(), clock=clock())
        for config in configs
    ]
    with contextlib.ExitStack() as stores:
        runtimes = []
        for config, channels in zip(configs, built, strict=True):
            store = stores.enter_context(open_state(config))
            engine = build_engine(config, store, host=host, channels=channels, clock=clock())
            runtimes.append(WorkerRuntime(engine, config.daemon))
        workspaces = [runtime.workspace for runtime in runtimes]
        twice = sorted({name for name in workspaces if workspaces.count(name) > 1})
        if twice:
            raise ConfigurationError(
                f"several --config name workspace {', '.join(twice)}: give each workspace once",
                field="store.workspace",
            )
        _logging(
            log_format, _LEVELS[log_level], [s for r in runtimes for s in r.engine.secret_values()]
        )
        # The pool serves the running jobs' deferrals, the fetches and the heartbeat.
        app = build_app(
            conninfo,
            tuning=tuning,
            periodic=not once,
            max_connections=concurrency + 4,
            workspaces={
                r.workspace: config.daemon for r, config in zip(runtimes, configs, strict=True)
            },
        )
        stop = asyncio.Event()
        work = run_worker(
            app, runtimes, concurrency=concurrency, once=once, stop=stop, tuning=tuning
        )
        with _queue_errors(), start_up_frozen():
            asyncio.run(_serve(work, stop))
    sys.exit(ExitCode.OK)


def _tuning(configs: Sequence[Config]) -> WorkerTuning:
    """Return the queue's timings: one ``[workers]`` table for the whole process."""
    from channelsync.workers.app import WorkerTuning  # noqa: PLC0415 - the optional extra

    first = configs[0].workers
    for config in configs[1:]:
        if config.workers != first:
            raise ConfigurationError(
                f"{config.path} and {configs[0].path} set different [workers] tables; one "
                "worker process has one heartbeat and one sweep: give them the same",
                field="workers",
            )
    return WorkerTuning(**first.model_dump())


def _configs(paths: tuple[Path, ...]) -> list[Config]:
    """Read each configuration named (or the default one); --workspace only with one."""
    if len(paths) > 1 and chosen_workspace() is not None:
        raise ConfigurationError(
            "--workspace chooses the workspace of one configuration; with several --config "
            "each names its own ([store] workspace)",
            field="--workspace",
        )
    return [read_config(path) for path in paths or (None,)]


async def _serve(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Await ``work`` with SIGTERM and SIGINT setting ``stop`` (a second one exits at once)."""
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            logger.info("%s received: stopping (send it again to exit at once)", name)
            stop.set()
            return
        # The jobs left running are given back to the queue by the stalled-job sweep.
        logger.warning("%s received again: exiting now", name)
        sys.stderr.flush()
        os._exit(EXIT_FORCED)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await work
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _logging(log_format: str, level: int, secrets: list[str]) -> None:
    """Log as the daemon does; the queue's own records only when they matter."""
    handler = setup_logging(
        "json" if log_format == "json" else "text", level=level, secrets=secrets
    )
    # procrastinate logs every job's start and end at INFO: shown with debug only. Its
    # warnings and errors (a step failed for good, a lost connection) always are.
    queue = logging.getLogger("procrastinate")
    queue.handlers[:] = [handler]
    queue.setLevel(logging.INFO if level <= logging.DEBUG else logging.WARNING)
    queue.propagate = False


@contextlib.contextmanager
def _queue_errors() -> Iterator[None]:
    """Turn a failure to reach the queue's database into one line (exit 1)."""
    from procrastinate import exceptions  # noqa: PLC0415 - the optional extra

    try:
        yield
    except exceptions.ConnectorException as error:
        cause = error.__cause__ or error
        raise ChannelSyncError(f"the job queue's database failed: {cause}") from None
