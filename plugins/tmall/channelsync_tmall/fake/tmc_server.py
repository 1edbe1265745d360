"""The fake's TMC endpoint: binary toplink frames over WebSocket, served on loopback.

Faithful to push.md §5.1: the first frame must be a CONNECT whose MD5 ``sign`` over
``app_key``, ``group_name`` and ``timestamp`` checks out (and, when asked, whose
``token`` came from the fake's ``taobao.tmc.auth.get``); a refusal is a CONNECTACK
with a status code and phrase, then the connection closes. A welcome CONNECTACK
echoes the flag and hands out a fresh token, which every SEND in either direction
must carry (a client SEND with another token closes the connection). Data messages
come from the fake's :class:`~channelsync.testing.fakes.PushQueue` (permitted topics
only, unconfirmed ones again after a delay or on the next connection, confirmed
ones sometimes again, shuffled when configured) with their custom headers in random
order and the content sometimes gzipped. Confirm settles, Failed asks for a later
redelivery, PullRequest pushes what is due at once.

Tests can make it send a malformed frame (:meth:`TmcServer.inject`), drop every
connection (:meth:`TmcServer.drop_connections`) or stop answering WebSocket pings
(:meth:`TmcServer.stall_heartbeats`). The server runs on an event loop of its own in
a background thread, like the fakes' HTTP servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hmac
import json
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from channelsync.clock import Clock
from channelsync.http import ParamDigest, sign_params
from channelsync.testing.fakes import PushMessage, PushQueue
from channelsync_tmall.fake.tmc_topics import SELLER_ID, SELLER_NICK
from channelsync_tmall.tmc.codec import (
    Byte,
    Frame,
    FrameError,
    HeaderValue,
    Int64,
    MessageType,
    decode_frame,
    encode_frame,
)

__all__ = ["InjectKind", "TmcServer"]

InjectKind = Literal[
    "garbage", "truncated", "text", "bad_content", "unknown_topic", "unknown_token"
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KIND = "__kind"
_PULL, _CONFIRM, _DATA, _FAILED = 1, 2, 3, 20
#: Who publishes the platform's own messages (the real value is not documented).
_PUBLISHER = "taobao"
_REFUSED = 401
_BAD_REQUEST = 400
#: Messages pushed per look at the queue.
_BATCH = 32

# The WebSocket library logs every connection at INFO; the fake stays quiet, as its
# HTTP servers do, and keeps the library's warnings.
_quiet = logging.getLogger("channelsync_tmall.fake.tmc_server.websockets")
_quiet.setLevel(logging.WARNING)


def _data_id(key: str) -> HeaderValue:
    # The SDK reads ``dataid`` with toString(): a number where it is one, else text.
    return Int64(int(key)) if key.isdigit() and int(key) < 2**63 else key


class _Connection(ServerConnection):
    """A server connection that remembers when it last heard from its client."""

    last_heard: float = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_heard = asyncio.get_running_loop().time()
        super().data_received(data)


@dataclass
class _Session:
    websocket: _Connection
    name: str
    token: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: list[bytes | str] = field(default_factory=list)


class _Refusal(Exception):
    def __init__(self, status: int, phrase: str) -> None:
        super().__init__(phrase)
        self.status = status
        self.phrase = phrase


class TmcServer:
    """A fake TMC server for one app; ``url`` is what ``events_url`` is set to.

    ``timestamp_tolerance`` bounds the CONNECT timestamp against ``clock`` (TOP's
    ten minutes; the real value is not documented); ``gzip_rate`` is the share of
    messages sent with gzipped content; ``idle_timeout`` closes a connection whose
    client sent nothing (not even a ping) for that long; ``tick`` is how often due
    redeliveries are looked for.
    """

    def __init__(
        self,
        *,
        app_key: str,
        secret: str,
        push: PushQueue,
        clock: Clock,
        auth_tokens: set[str],
        groups: frozenset[str] = frozenset({"default"}),
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth_token: bool = False,
        timestamp_tolerance: timedelta = timedelta(minutes=10),
        gzip_rate: float = 0.3,
        idle_timeout: float | None = None,
        tick: float = 0.25,
        seed: int = 0,
    ) -> None:
        self.app_key = app_key
        self._secret = secret
        self.push = push
        self.clock = clock
        self.auth_tokens = auth_tokens
        self.groups = groups
        self.require_auth_token = require_auth_token
        self.timestamp_tolerance = timestamp_tolerance
        self.gzip_rate = gzip_rate
        self.idle_timeout = idle_timeout
        self.tick = tick
        self._host, self._port = host, port
        self._rng = random.Random(seed)  # noqa: S311 - repeatable fakes, not security
        #: What happened, for tests: connects, refused, pulls, confirms, fails, protocol_errors…
        self.counts: Counter[str] = Counter()
        #: The custom headers of every CONNECT received, in order.
        self.connect_headers: list[dict[str, HeaderValue]] = []
        #: The ids of every Confirm received, in order (unknown ones included).
        self.confirmed: list[int] = []
        self._sessions: dict[str, _Session] = {}
        self._injected: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._on_stop: list[Callable[[], None]] = []

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the endpoint, e.g. ``ws://127.0.0.1:50123/``."""
        return f"ws://{self._host}:{self._port}/"

    def start(self) -> None:
        """Serve in a background thread; return once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="fake-tmc", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._failure is not None:
            raise RuntimeError(f"the fake TMC server did not start: {self._failure}")

    def stop(self) -> None:
        """Close every connection, stop serving and release the port (idempotent)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for callback in self._on_stop:
            callback()
        self._on_stop.clear()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the server stopped."""
        self._on_stop.append(callback)

    def __enter__(self) -> TmcServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server: Server
        async with serve(
            self._serve,
            self._host,
            self._port,
            create_connection=_Connection,
            compression=None,
            ping_interval=None,
            max_size=16 * 1024 * 1024,
            close_timeout=1,
            logger=_quiet,
        ) as server:
            self._port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stopping.wait()
            for session in list(self._sessions.values()):
                session.websocket.transport.abort()

    # -- controls for tests (thread-safe) -----------------------------------------------

    def _call(self, action: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has just stopped
                loop.call_soon_threadsafe(action)

    def wake(self) -> None:
        """Look for messages to push now (the fake calls this when it published one)."""
        self._call(self._wake_all)

    def _wake_all(self) -> None:
        for session in self._sessions.values():
            session.wake.set()

    @property
    def connections(self) -> int:
        """Return how many sessions are open."""
        return len(self._sessions)

    def drop_connections(self) -> None:
        """Cut every open connection without a close frame, as a network failure does."""

        def drop() -> None:
            for session in self._sessions.values():
                session.websocket.transport.abort()

        self._call(drop)

    def stall_heartbeats(self, stalled: bool = True) -> None:
        """Stop (or resume) reading from the open connections: pings go unanswered."""

        def apply() -> None:
            for session in self._sessions.values():
                transport = session.websocket.transport
                if stalled:
                    transport.pause_reading()
                else:
                    transport.resume_reading()

        self._call(apply)

    def inject(self, kind: InjectKind = "garbage") -> int | None:
        """Send one bad frame on every open session; return its message id, if it has one.

        ``garbage`` and ``truncated`` cannot be decoded; ``text`` is a text message;
        ``bad_content`` and ``unknown_topic`` are readable messages that can never be
        processed (a client confirms them); ``unknown_token`` carries another session's
        token (a client drops it).
        """
        message_id = None
        if kind in ("bad_content", "unknown_topic", "unknown_token"):
            message_id = 2**62 + len(self._injected) + 1
            self._injected.append(message_id)
        captured = message_id

        def send() -> None:
            for session in self._sessions.values():
                session.outbox.append(self._bad_frame(kind, session.token, captured))
                session.wake.set()

        self._call(send)
        return message_id

    def _bad_frame(self, kind: InjectKind, token: str, message_id: int | None) -> bytes | str:
        if kind == "garbage":
            return b"\x07\x00this is not a toplink frame"
        if kind == "text":
            return '{"topic": "taobao_trade_TradeCreate"}'
        headers: dict[str, HeaderValue] = {
            "id": Int64(message_id or 1),
            "topic": "taobao_trade_TradeCreate",
            "content": "{not json",
            "time": self.clock.now(),
        }
        if kind == "unknown_topic":
            headers["topic"] = "taobao_fenxiao_FxOrderSuccess"
            headers["content"] = json.dumps({"purchase_order_id": 1, "supplier_nick": "x"})
        if kind == "unknown_token":
            token = uuid.uuid4().hex
            headers["content"] = json.dumps({"tid": 1, "oid": 1})
        data = encode_frame(Frame(MessageType.SEND, token=token, headers=headers))
        return data[: len(data) // 2] if kind == "truncated" else data

    # -- one connection -----------------------------------------------------------------

    async def _serve(self, websocket: ServerConnection) -> None:
        assert isinstance(websocket, _Connection)
        with contextlib.suppress(ConnectionClosed):
            await self._session(websocket)

    async def _session(self, websocket: _Connection) -> None:
        try:
            async with asyncio.timeout(10):
                first = await websocket.recv()
        except TimeoutError:
            return
        flag = 0
        try:
            connect = self._connect_frame(first)
            flag = connect.flag
            self._check(connect)
        except _Refusal as refusal:
            self.counts["refused"] += 1
            ack = Frame(
                MessageType.CONNECTACK,
                flag=flag,
                status_code=refusal.status,
                status_phrase=refusal.phrase,
            )
            await websocket.send(encode_frame(ack))
            await websocket.close(1008, "connect refused")
            return
        self.counts["connects"] += 1
        session = _Session(websocket, uuid.uuid4().hex, uuid.uuid4().hex)
        await websocket.send(
            encode_frame(Frame(MessageType.CONNECTACK, flag=connect.flag, token=session.token))
        )
        self._sessions[session.name] = session
        pusher = asyncio.get_running_loop().create_task(self._push(session))
        watchdog = asyncio.get_running_loop().create_task(self._watch_idle(session))
        try:
            async for raw in websocket:
                if not await self._client_frame(session, raw):
                    break
        finally:
            for task in (pusher, watchdog):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
            del self._sessions[session.name]
            self.push.drop_connection(session.name)

    def _connect_frame(self, raw: str | bytes) -> Frame:
        if isinstance(raw, str):
            raise _Refusal(_BAD_REQUEST, "the first frame must be a binary CONNECT")
        try:
            frame = decode_frame(raw)
        except FrameError as exc:
            raise _Refusal(_BAD_REQUEST, f"malformed frame: {exc}") from None
        if frame.message_type is not MessageType.CONNECT:
            raise _Refusal(_BAD_REQUEST, "the first frame must be a CONNECT")
        self.connect_headers.append(dict(frame.headers))
        return frame

    def _check(self, frame: Frame) -> None:
        headers = frame.headers
        values: dict[str, str] = {}
        for name in ("app_key", "group_name", "timestamp", "sign"):
            value = headers.get(name)
            if not isinstance(value, str) or not value:
                raise _Refusal(_BAD_REQUEST, f"missing {name}")
            values[name] = value
        if values["app_key"] != self.app_key:
            raise _Refusal(_REFUSED, "invalid app_key")
        if not values["timestamp"].isdigit():
            raise _Refusal(_BAD_REQUEST, "timestamp must be epoch milliseconds")
        sent = _EPOCH + timedelta(milliseconds=int(values["timestamp"]))
        if abs(sent - self.clock.now()) > self.timestamp_tolerance:
            raise _Refusal(_REFUSED, "timestamp out of range")
        signed = {k: values[k] for k in ("app_key", "group_name", "timestamp")}
        if not hmac.compare_digest(
            sign_params(signed, self._secret, ParamDigest.MD5), values["sign"]
        ):
            raise _Refusal(_REFUSED, "invalid sign")
        if values["group_name"] not in self.groups:
            raise _Refusal(_REFUSED, f"group {values['group_name']} does not exist")
        if self.require_auth_token and headers.get("token") not in self.auth_tokens:
            raise _Refusal(_REFUSED, "invalid token")

    async def _client_frame(self, session: _Session, raw: str | bytes) -> bool:
        """Handle one client frame; ``False`` when the connection is to be closed."""
        try:
            frame = decode_frame(raw) if isinstance(raw, bytes) else None
        except FrameError:
            frame = None
        if frame is None or frame.message_type is not MessageType.SEND:
            self.counts["protocol_errors"] += 1
            return True
        if frame.token != session.token:
            self.counts["protocol_errors"] += 1
            await session.websocket.close(1008, "unknown token")
            return False
        kind = frame.headers.get(_KIND)
        message_id = frame.headers.get("id")
        if not isinstance(kind, Byte):
            self.counts["protocol_errors"] += 1
        elif kind == _PULL:
            self.counts["pulls"] += 1
            session.wake.set()
        elif kind in (_CONFIRM, _FAILED) and isinstance(message_id, Int64):
            if kind == _CONFIRM:
                self.counts["confirms"] += 1
                self.confirmed.append(int(message_id))
                self.push.ack(int(message_id))
            else:
                self.counts["fails"] += 1
                self.push.fail(int(message_id))
        elif kind == _DATA:
            self.counts["publishes"] += 1
        else:
            self.counts["protocol_errors"] += 1
        return True

    async def _push(self, session: _Session) -> None:
        while True:
            session.wake.clear()
            outbox, session.outbox = session.outbox, []
            for raw in outbox:
                await session.websocket.send(raw)
            duplicated = self.push.counts["duplicated"]
            batch = self.push.take(session.name, _BATCH)
            for message in batch:
                await session.websocket.send(self._data_frame(message, session.token))
                self.counts["data_frames"] += 1
            if len(batch) >= _BATCH and self.push.counts["duplicated"] == duplicated:
                continue  # a full batch of due messages: more may be waiting
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick):
                    await session.wake.wait()

    async def _watch_idle(self, session: _Session) -> None:
        if self.idle_timeout is None:
            return
        websocket = session.websocket
        loop = asyncio.get_running_loop()
        websocket.last_heard = websocket.last_heard or loop.time()
        while True:
            quiet = loop.time() - websocket.last_heard
            if quiet >= self.idle_timeout:
                self.counts["idle_closed"] += 1
                await websocket.close(1001, "idle")
                return
            await asyncio.sleep(self.idle_timeout - quiet)

    def _data_frame(self, message: PushMessage, token: str) -> bytes:
        text = json.dumps(message.content, ensure_ascii=False)
        content: str | bytes = text
        if self._rng.random() < self.gzip_rate:
            content = gzip.compress(text.encode("utf-8"), mtime=0)
        headers: dict[str, HeaderValue] = {
            "id": Int64(message.message_id),
            "topic": message.topic,
            "content": content,
            "time": message.published_at,
            "userid": Int64(SELLER_ID),
            "nick": SELLER_NICK,
            "publisher": _PUBLISHER,
            "dataid": _data_id(message.key),
            "outtime": self.clock.now(),
        }
        if self._rng.random() < 0.5:  # whether the server sets __kind=3 is not documented
            headers[_KIND] = Byte(_DATA)
        items = list(headers.items())
        self._rng.shuffle(items)
        return encode_frame(Frame(MessageType.SEND, token=token, headers=dict(items)))
