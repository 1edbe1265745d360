"""The TMC listener: one WebSocket connection at a time, signed handshake, frames, heartbeats.

:class:`TmcListener` is a :class:`~channelsync.channels.ReconnectingListener`: every
(re)connect opens a new WebSocket (the ``websockets`` library does the framing and
the ping heartbeat), sends a CONNECT signed with a fresh timestamp (and a fresh
``taobao.tmc.auth.get`` token where one is needed) and waits for the CONNECTACK's
session token. :class:`TmcConnection` then reads data messages, maps them to
events, confirms or fails them on request and sends a PullRequest every
``pull_interval`` seconds, the first one an interval after connecting.

The liveness timers (the WebSocket ping every ``ping_interval`` seconds and the
PullRequest) run on the event loop's clock, as the WebSocket library's own timers
do; the injected :class:`~channelsync.clock.Clock` gives the signed timestamps and
the waits between reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, WebSocketException
from websockets.version import version as websockets_version

from channelsync.channels import ChannelEvent, EventConnection, ReconnectingListener
from channelsync.clock import Clock
from channelsync.errors import AuthenticationError, ChannelError, DataError, TransientError
from channelsync_tmall.tmc.codec import Frame, FrameError, MessageType, decode_frame, encode_frame
from channelsync_tmall.tmc.protocol import (
    MessageProblem,
    confirm_frame,
    connect_frame,
    failed_frame,
    parse_data,
    pull_frame,
)
from channelsync_tmall.tmc.topics import UnknownTopic, to_event

__all__ = ["SDK_NAME", "TmcConnection", "TmcEndpoint", "TmcListener"]

logger = logging.getLogger("channelsync.tmall.events")

_OPERATION = "tmc"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The largest WebSocket message accepted from the server.
_MAX_MESSAGE = 16 * 1024 * 1024


def _sdk_name() -> str:
    try:
        return f"channelsync-tmall-{version('channelsync-tmall')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "channelsync-tmall"


#: The CONNECT frame's ``sdk`` header.
SDK_NAME = _sdk_name()


@dataclass(frozen=True)
class TmcEndpoint:
    """Where and as whom a listener connects: the URL, the app, its group, TLS for ``wss``."""

    url: str
    app_key: str
    secret: str = field(repr=False)
    group_name: str = "default"
    ssl_context: ssl.SSLContext | None = None
    sdk: str = SDK_NAME


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class TmcConnection(EventConnection):
    """One open TMC connection after a successful handshake."""

    def __init__(
        self,
        websocket: ClientConnection,
        *,
        token: str,
        channel: str,
        pull_interval: float,
        unknown_topics: set[str],
    ) -> None:
        self._ws = websocket
        self._token = token
        self._channel = channel
        self._pull_interval = pull_interval
        self._unknown_topics = unknown_topics
        self._closed = False
        #: Names this connection in the events it delivers (``ChannelEvent.delivery``).
        self.delivery = uuid.uuid4().hex
        self._pull_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"TmcConnection(channel={self._channel!r}, closed={self._closed})"

    def start(self) -> None:
        """Start the PullRequest timer."""
        self._pull_task = asyncio.get_running_loop().create_task(
            self._pull_forever(), name=f"tmc pull {self._channel}"
        )

    async def _pull_forever(self) -> None:
        while await self._sleep_then_pull():
            pass

    async def _sleep_then_pull(self) -> bool:
        await asyncio.sleep(self._pull_interval)
        return await self._send(pull_frame(self._token))

    async def _send(self, frame: Frame) -> bool:
        if self._closed:
            return False
        try:
            await self._ws.send(encode_frame(frame))
        except ConnectionClosed:
            return False
        return True

    async def events(self) -> AsyncIterator[ChannelEvent]:
        """Yield the events of this connection until it closes."""
        try:
            async for raw in self._ws:
                event = await self._receive(raw)
                if event is not None:
                    yield event
        except ConnectionClosedError as exc:
            raise TransientError(
                f"the TMC connection was lost ({_close_reason(exc)})",
                channel=self._channel,
                operation=_OPERATION,
            ) from None

    async def _receive(self, raw: str | bytes) -> ChannelEvent | None:
        frame = self._data_frame(raw)
        if frame is None:
            return None
        try:
            return to_event(parse_data(frame), delivery=self.delivery)
        except MessageProblem as problem:
            await self._settle_unprocessable(problem)
            return None

    def _data_frame(self, raw: str | bytes) -> Frame | None:
        """Return ``raw`` as a SEND of this session, or log why it is skipped."""
        if isinstance(raw, str):
            self._skip("a text frame (TMC frames are binary)")
            return None
        try:
            frame = decode_frame(raw)
        except FrameError as exc:
            self._skip(f"a malformed frame: {exc}")
            return None
        problem = None
        if frame.message_type is MessageType.SENDACK:
            return None  # the SDK ignores SENDACK on TMC
        if frame.message_type is not MessageType.SEND:
            problem = f"an unexpected {frame.message_type.name} frame"
        elif frame.token != self._token:
            # The SDK drops a SEND from a token it does not know ("unknown msg from").
            problem = "a frame with an unknown token"
        elif frame.is_error:
            problem = f"an error frame (status {frame.status_code}: {frame.status_phrase!r})"
        if problem is not None:
            self._skip(problem)
            return None
        return frame

    async def _settle_unprocessable(self, problem: MessageProblem) -> None:
        # TMC redelivers what is not confirmed, forever; a message that can never be
        # processed is confirmed, as the platform asks for bad data.
        if problem.message_id is not None:
            await self._send(confirm_frame(self._token, problem.message_id))
        if isinstance(problem, UnknownTopic):
            topic = problem.topic
            if topic in self._unknown_topics:
                logger.debug("channel %s: confirmed without processing: %s", self._channel, topic)
                return
            self._unknown_topics.add(topic)
            logger.warning(
                "channel %s: confirmed a TMC message without processing it: %s "
                "(further messages of this topic are confirmed silently)",
                self._channel,
                topic,
            )
            return
        settled = "confirmed" if problem.message_id is not None else "skipped"
        logger.warning(
            "channel %s: %s TMC message %s, which cannot be processed: %s",
            self._channel,
            settled,
            problem.message_id if problem.message_id is not None else "(no id)",
            problem.reason,
        )

    def _skip(self, what: str) -> None:
        logger.warning("channel %s: skipped %s", self._channel, what)

    def _owns(self, event: ChannelEvent) -> int | None:
        if event.delivery != self.delivery or not event.message_id.isdigit():
            return None
        return int(event.message_id)

    async def ack(self, event: ChannelEvent) -> bool:
        """Confirm ``event``; ``False`` if it came on another connection or this one closed."""
        message_id = self._owns(event)
        if message_id is None:
            return False
        return await self._send(confirm_frame(self._token, message_id))

    async def fail(self, event: ChannelEvent, reason: str) -> bool:
        """Send Failed for ``event`` (the reason cut to 128 characters) for a later redelivery."""
        message_id = self._owns(event)
        if message_id is None:
            return False
        return await self._send(failed_frame(self._token, message_id, reason))

    async def close(self) -> None:
        """Stop the pull timer and close the WebSocket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        task, self._pull_task = self._pull_task, None
        try:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            await _close(self._ws)


async def _close(websocket: ClientConnection) -> None:
    """Close ``websocket``; if the closing handshake is interrupted, drop the connection."""
    try:
        await websocket.close()
    except BaseException:
        websocket.transport.abort()
        raise


def _close_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame"
    return f"code {frame.code}{': ' + frame.reason if frame.reason else ''}"


class TmcListener(ReconnectingListener):
    """Keeps one TMC connection open for a channel and yields its events.

    ``auth_token``, when given, fetches the ``token`` CONNECT header (the newer SDK's
    ``taobao.tmc.auth.get`` call) before every connect. A CONNECTACK carrying an
    error is an :class:`~channelsync.errors.AuthenticationError`: the base waits its
    longest backoff before trying again.
    """

    def __init__(
        self,
        channel: str,
        clock: Clock,
        endpoint: TmcEndpoint,
        *,
        auth_token: Callable[[], Awaitable[str]] | None = None,
        pull_interval: float = 15.0,
        ping_interval: float = 45.0,
        ping_timeout: float = 30.0,
        handshake_timeout: float = 5.0,
        close_timeout: float = 5.0,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        super().__init__(channel, clock, initial_backoff=initial_backoff, max_backoff=max_backoff)
        self.endpoint = endpoint
        self._auth_token = auth_token
        self.pull_interval = pull_interval
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self._flag = 0
        self._unknown_topics: set[str] = set()

    def __repr__(self) -> str:
        return f"TmcListener(channel={self.channel!r}, url={self.endpoint.url!r})"

    async def connect(self) -> TmcConnection:
        """Open a WebSocket, sign the CONNECT, check the CONNECTACK; raise ``ChannelError``."""
        token = await self._auth_token() if self._auth_token is not None else None
        websocket = await self._open()
        try:
            session = await self._handshake(websocket, token)
        except BaseException:
            await _close(websocket)
            raise
        connection = TmcConnection(
            websocket,
            token=session,
            channel=self.channel,
            pull_interval=self.pull_interval,
            unknown_topics=self._unknown_topics,
        )
        connection.start()
        return connection

    async def _open(self) -> ClientConnection:
        endpoint = self.endpoint
        secure = endpoint.url.startswith("wss://")
        try:
            return await connect(
                endpoint.url,
                ssl=(endpoint.ssl_context or True) if secure else None,
                open_timeout=self.handshake_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                close_timeout=self.close_timeout,
                max_size=_MAX_MESSAGE,
                compression=None,
                user_agent_header=f"{endpoint.sdk} websockets/{websockets_version}",
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise TransientError(
                f"cannot open the TMC connection ({type(exc).__name__}: {exc})",
                channel=self.channel,
                operation=_OPERATION,
            ) from None

    async def _handshake(self, websocket: ClientConnection, token: str | None) -> str:
        self._flag += 1
        endpoint = self.endpoint
        frame = connect_frame(
            app_key=endpoint.app_key,
            secret=endpoint.secret,
            group_name=endpoint.group_name,
            timestamp_ms=_millis(self.clock.now()),
            flag=self._flag,
            sdk=endpoint.sdk,
            token=token,
        )
        try:
            await websocket.send(encode_frame(frame))
            async with asyncio.timeout(self.handshake_timeout):
                raw = await websocket.recv()
        except TimeoutError:
            raise self._error(
                TransientError, f"no CONNECTACK within {self.handshake_timeout:g} s"
            ) from None
        except ConnectionClosed as exc:
            raise self._error(
                TransientError, f"the server closed during the handshake ({_close_reason(exc)})"
            ) from None
        if isinstance(raw, str):
            raise self._error(DataError, "the server answered CONNECT with a text frame")
        try:
            ack = decode_frame(raw)
        except FrameError as exc:
            raise self._error(DataError, f"unreadable CONNECTACK: {exc}") from None
        if ack.message_type is not MessageType.CONNECTACK or ack.flag != self._flag:
            raise self._error(
                DataError,
                f"expected CONNECTACK with flag {self._flag}, got "
                f"{ack.message_type.name} with flag {ack.flag}",
            )
        if ack.is_error:
            raise AuthenticationError(
                f"TMC refused the connection: {ack.status_phrase or 'no reason given'}",
                channel=self.channel,
                operation=_OPERATION,
                code=str(ack.status_code) if ack.status_code else None,
            )
        if not ack.token:
            raise self._error(DataError, "the CONNECTACK carried no token")
        return ack.token

    def _error(self, cls: type[ChannelError], message: str) -> ChannelError:
        return cls(message, channel=self.channel, operation=_OPERATION)
