"""The PMC listener: one WebSocket to PDD's message service, kept open with backoff.

A :class:`PmcConnection` is one signed WebSocket (the ``websockets`` library does
the protocol). A reader task takes every frame as it arrives, so the server's
heartbeats are seen even while the engine is busy with an event; business messages
are mapped to :class:`~channelsync.channels.events.ChannelEvent` and queued for
:meth:`PmcConnection.events`. The client sends ``HeartBeat`` every 5 seconds and
gives the connection up when no server ``HeartBeat`` came for 3 minutes (checked
every 30 seconds), as the official SDK does; :class:`PmcListener` (a
:class:`~channelsync.channels.events.ReconnectingListener`) then connects again.

The timers pace in real time (they are waits on the event loop); the ages they
compare are read from the channel's clock, so a test moves a fake clock past the
3 minutes instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from channelsync.channels.events import (
    ChannelEvent,
    EventConnection,
    ReconnectingListener,
)
from channelsync.clock import Clock
from channelsync.errors import (
    AuthenticationError,
    ChannelError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
)
from channelsync.http.client import is_loopback_url
from channelsync_pinduoduo.pmc.frames import (
    BusinessMessage,
    CommandType,
    FrameError,
    UnknownTopicError,
    ack_frame,
    event_from,
    fail_frame,
    heartbeat_frame,
    millis,
    pmc_url,
    read_common,
    read_frame,
)

__all__ = ["PmcConnection", "PmcListener", "PmcTimers", "mask_sign"]

_log = logging.getLogger("channelsync.pinduoduo.events")

_OPERATION = "pmc.connect"

# The last path segment of a PMC URL is the handshake's signature.
_SIGNED_PATH = re.compile(r"(/message/[^/\s]+/\d+/)[^/\s'\"]+")


def mask_sign(text: str) -> str:
    """Return ``text`` with the signature of any PMC URL in it replaced by ``***``."""
    return _SIGNED_PATH.sub(r"\1***", text)


class _MaskSign(logging.Filter):
    """Keeps handshake signatures out of the WebSocket library's debug log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_sign(record.getMessage())
        record.args = None
        return True


_wire_log = logging.getLogger("channelsync.pinduoduo.events.websocket")
_wire_log.addFilter(_MaskSign())


@dataclass(frozen=True)
class PmcTimers:
    """The PMC client's timers, in seconds (the official SDK's values by default).

    ``heartbeat`` and ``check`` are real-time intervals: how often the client sends
    its ``HeartBeat`` and how often it checks the server's. ``liveness`` is how old
    the server's last ``HeartBeat`` may be, read on the channel's clock.
    """

    heartbeat: float = 5.0
    liveness: float = 180.0
    check: float = 30.0
    open_timeout: float = 10.0


@dataclass(frozen=True)
class _End:
    error: ChannelError


class PmcConnection(EventConnection):
    """One open PMC WebSocket: frames in, events out, ``Ack``/``Fail``/``HeartBeat`` back."""

    _serials = itertools.count(1)

    def __init__(
        self,
        websocket: ClientConnection,
        *,
        channel: str,
        clock: Clock,
        timers: PmcTimers,
        warned_topics: set[str],
    ) -> None:
        self.channel = channel
        self.clock = clock
        self.timers = timers
        self._ws = websocket
        self._serial = next(self._serials)
        self._sequence = itertools.count(1)
        self._warned_topics = warned_topics
        self._queue: asyncio.Queue[ChannelEvent | _End] = asyncio.Queue()
        self._pending: dict[str, BusinessMessage] = {}
        self._last_heartbeat = clock.monotonic()
        self._ended = False
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start reading frames, sending heartbeats and watching the server's."""
        self._tasks = [
            asyncio.create_task(self._read(), name=f"pmc-read {self.channel}"),
            asyncio.create_task(self._beat(), name=f"pmc-heartbeat {self.channel}"),
            asyncio.create_task(self._watch(), name=f"pmc-liveness {self.channel}"),
        ]

    # -- the event stream -------------------------------------------------------------

    async def events(self) -> AsyncIterator[ChannelEvent]:
        """Yield events until the connection ends; raise the reason it ended."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                raise item.error
            yield item

    def _end(self, error: ChannelError) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_End(error))

    def _error(self, message: str) -> TransientError:
        return TransientError(message, channel=self.channel, operation="pmc")

    # -- frames in --------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                await self._on_frame(raw)
        except ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 - the listener must survive anything
            self._end(self._error(f"reading from PMC failed: {mask_sign(str(exc))}"))
        code, reason = self._ws.close_code, self._ws.close_reason or ""
        detail = f" (code {code}{': ' + reason if reason else ''})" if code else ""
        self._end(self._error(f"PMC closed the connection{detail}"))

    async def _on_frame(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            self._skip("a binary frame (PMC sends JSON text)")
            return
        try:
            frame = read_frame(raw)
        except FrameError as exc:
            self._skip(str(exc))
            return
        command = frame.get("commandType")
        if command == CommandType.HEARTBEAT:
            self._last_heartbeat = self.clock.monotonic()
        elif command == CommandType.COMMON:
            await self._on_message(frame)
        elif command == CommandType.FAIL:
            reason = frame.get("failReason") or frame.get("message")
            _log.warning(
                "PMC reported a failure to channel %s: %s", self.channel, str(reason)[:200]
            )
        elif command != CommandType.ACK:
            self._skip(f"unknown commandType {str(command)[:40]!r}")

    def _skip(self, problem: str) -> None:
        _log.warning("events of channel %s: skipped a PMC frame: %s", self.channel, problem)

    async def _on_message(self, frame: dict[str, Any]) -> None:
        try:
            message = read_common(frame)
        except FrameError as exc:
            self._skip(str(exc))
            return
        delivery = f"{self._serial}:{next(self._sequence)}"
        try:
            event = event_from(message, delivery=delivery)
        except UnknownTopicError:
            if message.topic not in self._warned_topics:
                self._warned_topics.add(message.topic)
                _log.warning(
                    "events of channel %s: PMC topic %s is not mapped; its messages are "
                    "acknowledged and skipped",
                    self.channel,
                    message.topic,
                )
            await self._send(ack_frame(message, millis(self.clock.now())))
            return
        except (FrameError, ValueError) as exc:
            # Sending it again would not make it readable: acknowledge, do not Fail.
            _log.warning(
                "events of channel %s: PMC message %s on %s cannot be read (%s); acknowledged "
                "so that PMC does not send it again",
                self.channel,
                message.message_id,
                message.topic,
                str(exc)[:200],
            )
            await self._send(ack_frame(message, millis(self.clock.now())))
            return
        self._pending[delivery] = message
        self._queue.put_nowait(event)

    # -- frames out -------------------------------------------------------------------

    async def _send(self, text: str) -> bool:
        if self._closed:
            return False
        try:
            await self._ws.send(text)
        except ConnectionClosed:
            return False
        return True

    async def ack(self, event: ChannelEvent) -> bool:
        """Send ``Ack`` for ``event``; ``False`` when it came on another or a closed connection."""
        message = self._pending.pop(event.delivery or "", None)
        if message is None:
            return False
        return await self._send(ack_frame(message, millis(self.clock.now())))

    async def fail(self, event: ChannelEvent, reason: str) -> bool:
        """Send ``Fail`` for ``event`` (PMC delivers it again later)."""
        message = self._pending.pop(event.delivery or "", None)
        if message is None:
            return False
        return await self._send(fail_frame(message, millis(self.clock.now()), reason))

    async def _beat(self) -> None:
        # The SDK sends its first heartbeat at once, then every interval.
        while await self._send(heartbeat_frame(millis(self.clock.now()))):
            await asyncio.sleep(self.timers.heartbeat)

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.timers.check)
            age = self.clock.monotonic() - self._last_heartbeat
            if age > self.timers.liveness:
                self._end(self._error(f"no HeartBeat from PMC for {age:.0f} s"))
                await self._ws.close()
                return

    async def close(self) -> None:
        """Stop the tasks and close the WebSocket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class PmcListener(ReconnectingListener):
    """Listens to one PDD app's PMC messages, reconnecting with backoff.

    Each connection is signed afresh with the clock's current time. A refused
    handshake (HTTP 401/403: a wrong secret, or a clock far from PDD's) is a
    :class:`~channelsync.errors.AuthenticationError`, after which the listener waits
    its longest backoff before trying again.
    """

    def __init__(
        self,
        channel: str,
        clock: Clock,
        *,
        events_url: str,
        client_id: str,
        client_secret: str,
        tls: ssl.SSLContext | None = None,
        timers: PmcTimers | None = None,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        super().__init__(channel, clock, initial_backoff=initial_backoff, max_backoff=max_backoff)
        self.events_url = events_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._tls = tls
        self.timers = timers or PmcTimers()
        self._warned_topics: set[str] = set()

    def __repr__(self) -> str:
        return f"PmcListener(channel={self.channel!r}, events_url={self.events_url!r})"

    async def connect(self) -> PmcConnection:
        """Open one signed connection; raise a ``ChannelError`` when PMC refuses it."""
        url = pmc_url(
            self.events_url, self.client_id, millis(self.clock.now()), self._client_secret
        )
        options: dict[str, Any] = {
            "open_timeout": self.timers.open_timeout,
            # PMC's own HeartBeat frames are the liveness rule, as in the official SDK.
            "ping_interval": None,
            "logger": _wire_log,
        }
        if self.events_url.startswith("wss:") and self._tls is not None:
            options["ssl"] = self._tls
        if is_loopback_url(self.events_url):
            options["proxy"] = None
        try:
            websocket = await connect(url, **options)
        except InvalidStatus as exc:
            raise self._refused(exc) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise TransientError(
                f"cannot connect to PMC at {self.events_url}: "
                f"{mask_sign(str(exc)) or type(exc).__name__}",
                channel=self.channel,
                operation=_OPERATION,
            ) from None
        connection = PmcConnection(
            websocket,
            channel=self.channel,
            clock=self.clock,
            timers=self.timers,
            warned_topics=self._warned_topics,
        )
        connection.start()
        return connection

    def _refused(self, exc: InvalidStatus) -> ChannelError:
        status = exc.response.status_code
        body = mask_sign(exc.response.body.decode("utf-8", errors="replace").strip())[:200]
        detail = f"PMC refused the connection to {self.events_url}" + (f": {body}" if body else "")
        context: dict[str, Any] = {
            "channel": self.channel,
            "operation": _OPERATION,
            "status_code": status,
        }
        if status in (401, 403):
            return AuthenticationError(
                detail + " (check client_id, client_secret and the clock)", **context
            )
        if status == 429:
            return RateLimitedError(detail, **context)
        if 400 <= status < 500:
            return InvalidRequestError(detail + " (check events_url)", **context)
        return TransientError(detail, **context)
