"""Serving a fake marketplace over loopback HTTP, for the demo and for end-to-end runs."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

from channelsync.testing.fakes.faults import AnswerCut

__all__ = ["LoopbackServer"]

Handler = Callable[[httpx.Request], httpx.Response]

_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that went away mid-request (a killed process, a dropped
        # connection) is the client's business: no traceback on the server's stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LoopbackServer:
    """A threaded HTTP server on loopback that answers every request with ``handler``.

    A transport fault raised by the handler (``httpx.TransportError``) closes the
    connection without an answer, which is what the client of a real server sees.
    """

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._server = _Server((host, port), self._request_handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:50123``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake-marketplace {self.url}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm the body
            # waits for the client's delayed ACK (~40 ms per request on loopback).
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(
                    self.command,
                    f"{server.url}{self.path}",
                    headers=[(k, v) for k, v in self.headers.items()],
                    content=body,
                )
                cut = False
                try:
                    response = server._handler(request)
                except AnswerCut as answer:
                    response, cut = answer.response, True
                except httpx.TransportError:
                    self.close_connection = True
                    return
                content = response.read()
                self.send_response(response.status_code)
                for name, value in response.headers.multi_items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if cut:
                    # The full length was announced; half of it arrives, then the close.
                    self.wfile.write(content[: len(content) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                # Request lines carry signed query strings; the fake stays quiet.
                return

        return _Handler
