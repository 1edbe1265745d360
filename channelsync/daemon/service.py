"""Running the daemon as a process: signals, the metrics endpoint, the exit code.

The first SIGTERM or SIGINT asks the daemon to stop (finish or abandon in-flight
work within ``shutdown_grace``, release the store lock, exit 0). A second one exits
at once: the store lock is given up and the process ends without waiting. Nothing
is lost either way, since the engine commits every effect with its cause and
repeats unfinished steps safely on the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from channelsync.daemon.metrics import MetricsServer
from channelsync.daemon.runner import Daemon

if TYPE_CHECKING:
    from channelsync.console.server import ConsoleServer

__all__ = ["EXIT_FORCED", "EXIT_LOCK_LOST", "serve"]

logger = logging.getLogger(__name__)

#: Exit code after a second stop signal.
EXIT_FORCED = 130
#: Exit code when another daemon took the store lock over (this one lost its lease).
EXIT_LOCK_LOST = 3


async def serve(
    daemon: Daemon,
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    console: ConsoleServer | None = None,
) -> int:
    """Run ``daemon`` with signal handling, optional metrics and console; return the exit code."""
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            logger.info("%s received: stopping (send it again to exit at once)", name)
            daemon.stop()
            return
        logger.warning("%s received again: exiting now", name)
        try:
            if daemon.lease is not None and daemon.lease.held:
                daemon.lease.release()
        finally:
            sys.stderr.flush()
            os._exit(EXIT_FORCED)

    handled = (signal.SIGTERM, signal.SIGINT)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    server = None
    if metrics_port is not None:
        server = MetricsServer(
            daemon.metrics.registry, daemon.health, host=metrics_host, port=metrics_port
        ).start()
        logger.info(
            "metrics on http://%s:%d/metrics, health on /healthz", metrics_host, server.port
        )
    try:
        if console is not None:
            await console.start()
        await daemon.run()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        if console is not None:
            await console.stop()
        if server is not None:
            server.stop()
    return EXIT_LOCK_LOST if daemon.lost_lock else 0
