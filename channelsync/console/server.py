"""Serving the console from inside the daemon's event loop, on uvicorn.

The socket is bound before the daemon starts its work, so an address in use is a
clear configuration error at once, and a port of 0 is resolved to the one bound.
uvicorn's own signal handling stays off: the daemon owns SIGTERM and SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from channelsync.console.settings import ConsoleAddress
from channelsync.errors import ConfigurationError

__all__ = ["ConsoleServer"]

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        # The daemon handles the stop signals; uvicorn must not take them over.
        yield


class ConsoleServer:
    """The console's HTTP server: :meth:`start` in the running loop, :meth:`stop` to end it."""

    def __init__(self, address: ConsoleAddress, app: ASGIApp | None = None) -> None:
        self.address = address
        self.app = app
        """What is served; may be set after :meth:`bind`, before :meth:`start`."""
        self._server: _Server | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port bound (the configured one, or the one picked for port 0)."""
        if self._socket is None:
            return self.address.port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """The console's address, e.g. ``http://127.0.0.1:8765/``."""
        return self.address.url(self.port)

    def bind(self) -> None:
        """Bind the listening socket; raise :class:`ConfigurationError` when it cannot be."""
        family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.address.host, self.address.port))
        except OSError as exc:
            sock.close()
            why = (
                "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            )
            raise ConfigurationError(
                f"the console address {self.address} {why}", field="console.address"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock

    async def start(self) -> None:
        """Bind (if not yet bound) and serve in the running loop until :meth:`stop`."""
        if self.app is None:
            raise RuntimeError("the console server has no application to serve")
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        self._server = _Server(
            uvicorn.Config(
                self.app,
                log_config=None,
                access_log=False,
                lifespan="off",
                server_header=False,
                timeout_graceful_shutdown=2,
            )
        )
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises what stopped it
        logger.info("console on %s", self.url)

    def close(self) -> None:
        """Close the listening socket of a server that was bound and never started."""
        if self._task is None and self._socket is not None:
            self._socket.close()
            self._socket = None

    async def stop(self) -> None:
        """Stop serving: finish requests in flight (briefly), then close the socket."""
        if self._task is not None and self._server is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
