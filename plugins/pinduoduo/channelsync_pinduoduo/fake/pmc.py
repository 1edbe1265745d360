"""The fake PMC: PDD's message service over a WebSocket, served from a background thread.

Written from push.md §2 and §5.2, and deliberately independent of the plugin's own
PMC code, so a client that gets the wire wrong fails against it:

- the handshake path is ``/message/{client_id}/{timestamp_ms}/{sign}`` with
  ``sign = base64(md5_hex(client_id + timestamp_ms + client_secret))``; a wrong
  client, sign or a timestamp more than ``max_skew`` seconds off the fake's clock
  is refused with HTTP 403 before the upgrade (the real status is unverified);
- business messages go out as ``Common`` frames (ids past 2**53, ``content`` a JSON
  string) from the fake's :class:`~channelsync.testing.fakes.PushQueue`, which
  redelivers what is not acknowledged, and ``HeartBeat`` frames every
  ``heartbeat_interval`` seconds;
- an ``Ack`` settles a message only if it echoes the delivered ``id``, ``sendTime``,
  ``type`` and ``mallID`` exactly and carries an integer ``time``; a ``Fail`` (with
  or without ``failReason``) makes it due again after the queue's redelivery delay;
- a client that sends nothing for ``idle_timeout`` seconds is disconnected.

Tests can make it send a raw (malformed) frame, drop every connection without a
closing handshake, or stop its heartbeats.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import re
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from channelsync.testing.fakes import (
    FakeChange,
    FakeOrder,
    FakeRefund,
    PushMessage,
)

if TYPE_CHECKING:
    from channelsync.clock import Clock
    from channelsync.testing.fakes import PushQueue

__all__ = [
    "APP_TOPICS",
    "FakePmcServer",
    "PmcAnnouncement",
    "announcements",
    "expected_sign",
]

#: The topics the fake app subscribed to in the console (what an unset permit inherits).
APP_TOPICS: tuple[str, ...] = (
    "pdd_trade_TradeConfirmed",
    "pdd_trade_TradeSellerShip",
    "pdd_trade_TradeSuccess",
    "pdd_trade_TradeRiskChanged",
    "pdd_trade_TradeLogisticsAddressChanged",
    "pdd_refund_RefundCreated",
    "pdd_refund_RefundAgreeAgreement",
    "pdd_refund_RefundBuyerReturnGoods",
    "pdd_refund_RefundClosed",
    "pdd_goods_GoodsCheckReject",
)

#: What the fake announces for each change it makes (the cancellation of an order whose
#: group failed has no topic in the sources, so it announces nothing).
_ORDER_TOPICS = {
    "created": "pdd_trade_TradeConfirmed",
    "shipped": "pdd_trade_TradeSellerShip",
    "completed": "pdd_trade_TradeSuccess",
    "risk_changed": "pdd_trade_TradeRiskChanged",
}
_REFUND_TOPICS = {
    "created": "pdd_refund_RefundCreated",
    "refunded": "pdd_refund_RefundAgreeAgreement",
    "closed": "pdd_refund_RefundClosed",
}

_PATH = re.compile(r"/message/([^/]+)/([^/]+)/([^/]+)")
_log = logging.getLogger("channelsync.fake.pmc")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def expected_sign(client_id: str, timestamp: str, client_secret: str) -> str:
    """Return the signature PMC expects for a handshake (base64 of the hex MD5)."""
    digest = hashlib.md5(  # noqa: S324 - PDD's own signature algorithm
        f"{client_id}{timestamp}{client_secret}".encode()
    ).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


@dataclass(frozen=True)
class PmcAnnouncement:
    """One message the fake's shop publishes: topic, business key and content."""

    topic: str
    key: str
    content: dict[str, Any]


def announcements(change: FakeChange, mall_id: int, now: datetime) -> list[PmcAnnouncement]:
    """Map a change of the fake's store to PMC messages, with content as in push.md §2.4."""
    record = change.record
    if isinstance(record, FakeOrder):
        topic = _ORDER_TOPICS.get(change.change)
        if topic is None:
            return []
        content = {"mall_id": mall_id, "tid": record.order_id}
        return [PmcAnnouncement(topic, record.order_id, content)]
    if isinstance(record, FakeRefund):
        topic = _REFUND_TOPICS.get(change.change)
        if topic is None:
            return []
        return_goods = int(record.extra.get("after_sales_type", 2)) == 3
        content = {
            "mall_id": mall_id,
            "tid": record.order_id,
            "refund_id": int(record.refund_id),
            "refund_fee": int(record.amount * 100),
            "bill_type": 2 if return_goods else 1,
            "operation": 1000,
            "modified": _ms(record.modified if record.modified else now),
        }
        return [PmcAnnouncement(topic, record.refund_id, content)]
    return []


def render_common(message: PushMessage, mall_id: int, app_id: int, now_ms: int) -> str:
    """Render one queued message as the ``Common`` frame PMC sends."""
    frame = {
        "id": message.message_id,
        "appId": app_id,
        "commandType": "Common",
        "time": now_ms,
        "sendTime": _ms(message.published_at),
        "message": {
            "type": message.topic,
            "mallID": mall_id,
            "content": json.dumps(message.content, separators=(",", ":"), ensure_ascii=False),
        },
    }
    return json.dumps(frame, separators=(",", ":"))


@dataclass
class _Peer:
    """One client connection as the fake sees it."""

    name: str
    ws: ServerConnection
    last_heard: float
    #: What each delivered message id was sent with: (sendTime, type, mallID).
    sent: dict[int, tuple[int, str, int]] = field(default_factory=dict)
    outbox: deque[str | bytes] = field(default_factory=deque)
    drop: bool = False
    closed: bool = False


class FakePmcServer:
    """The fake PMC endpoint of one fake PDD app; use as a context manager or call :meth:`stop`.

    ``url`` is what a channel's ``events_url`` is set to. ``counts`` tells tests what
    happened (handshakes accepted and refused, heartbeats both ways, frames that were
    not understood, acknowledgements that did not echo the delivery).
    """

    def __init__(
        self,
        *,
        push: PushQueue,
        clock: Clock,
        client_id: str,
        client_secret: str,
        mall_id: int,
        app_id: int = 10001,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 10.0,
        idle_timeout: float = 60.0,
        poll_interval: float = 0.05,
        max_skew: float = 600.0,
    ) -> None:
        self.push = push
        self.clock = clock
        self.client_id = client_id
        self._client_secret = client_secret
        self.mall_id = mall_id
        self.app_id = app_id
        self.heartbeat_interval = heartbeat_interval
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval
        self.max_skew = max_skew
        self.counts: Counter[str] = Counter()
        #: The ``failReason`` of every ``Fail`` received (``None`` when it had none).
        self.fail_reasons: list[str | None] = []
        self._host, self._port = host, port
        self._peers: dict[str, _Peer] = {}
        self._names = itertools.count(1)
        self._heartbeats = True
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fake-pmc", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ``events_url`` of this server, e.g. ``ws://127.0.0.1:50123``."""
        return f"ws://{self._host}:{self._port}"

    def start(self) -> FakePmcServer:
        """Serve in a background thread with its own event loop."""
        self._thread.start()
        if not self._ready.wait(10) or self._failure is not None:
            raise RuntimeError(f"the fake PMC server did not start: {self._failure!r}")
        return self

    def stop(self) -> None:
        """Close every connection and stop serving (idempotent)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout=10)

    def __enter__(self) -> FakePmcServer:
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
        async with serve(
            self._serve,
            self._host,
            self._port,
            process_request=self._handshake,
            ping_interval=None,
            logger=_log,
        ) as server:
            self._port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stopping.wait()

    # -- controls for tests -------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many clients are connected now."""
        with self._lock:
            return sum(1 for peer in self._peers.values() if not peer.closed)

    def stall_heartbeats(self, stalled: bool = True) -> None:
        """Stop (or resume) sending ``HeartBeat`` frames."""
        self._heartbeats = not stalled

    def send_raw(self, frame: str | bytes) -> None:
        """Send ``frame`` as it is to every connected client (a malformed frame, say)."""
        with self._lock:
            for peer in self._peers.values():
                peer.outbox.append(frame)

    def send_malformed(self) -> None:
        """Send a truncated JSON frame to every connected client."""
        self.send_raw('{"id":9007199254740993,"commandType":"Common","message":{"type":')

    def drop_connections(self) -> None:
        """Cut every connection without a closing handshake, as a network failure does."""
        with self._lock:
            for peer in self._peers.values():
                peer.drop = True

    # -- the handshake ------------------------------------------------------------------

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        match = _PATH.fullmatch(urlsplit(request.path).path)
        if match is None:
            return self._refuse(connection, 404, "not found")
        client_id, timestamp, sign = (unquote(part) for part in match.groups())
        if client_id != self.client_id:
            return self._refuse(connection, 403, "unknown client_id")
        if not timestamp.isdigit():
            return self._refuse(connection, 400, "timestamp must be milliseconds")
        if sign != expected_sign(client_id, timestamp, self._client_secret):
            return self._refuse(connection, 403, "sign check failed")
        if abs(int(timestamp) - _ms(self.clock.now())) > self.max_skew * 1000:
            return self._refuse(connection, 403, "timestamp expired")
        self.counts["handshakes_accepted"] += 1
        return None

    def _refuse(self, connection: ServerConnection, status: int, text: str) -> Response:
        self.counts["handshakes_refused"] += 1
        return connection.respond(status, text + "\n")

    # -- one connection -----------------------------------------------------------------

    async def _serve(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        peer = _Peer(name=f"pmc-{next(self._names)}", ws=ws, last_heard=loop.time())
        with self._lock:
            self._peers[peer.name] = peer
        reader = asyncio.create_task(self._receive(peer))
        try:
            await self._send_loop(peer, loop)
        except ConnectionClosed:
            pass
        finally:
            peer.closed = True
            reader.cancel()
            with self._lock:
                self._peers.pop(peer.name, None)
            self.push.drop_connection(peer.name)

    async def _send_loop(self, peer: _Peer, loop: asyncio.AbstractEventLoop) -> None:
        last_beat = float("-inf")
        while not peer.closed:
            now = loop.time()
            if peer.drop:
                peer.ws.transport.abort()
                return
            if now - peer.last_heard > self.idle_timeout:
                self.counts["idle_disconnects"] += 1
                await peer.ws.close(1001, "idle")
                return
            while peer.outbox:
                await peer.ws.send(peer.outbox.popleft())
            if self._heartbeats and now - last_beat >= self.heartbeat_interval:
                last_beat = now
                beat = {"commandType": "HeartBeat", "time": _ms(self.clock.now())}
                await peer.ws.send(json.dumps(beat))
                self.counts["heartbeats_sent"] += 1
            now_ms = _ms(self.clock.now())
            for message in self.push.take(peer.name):
                peer.sent[message.message_id] = (
                    _ms(message.published_at),
                    message.topic,
                    self.mall_id,
                )
                await peer.ws.send(render_common(message, self.mall_id, self.app_id, now_ms))
            await asyncio.sleep(self.poll_interval)

    async def _receive(self, peer: _Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for raw in peer.ws:
                peer.last_heard = loop.time()
                self._on_frame(peer, raw)
        except ConnectionClosed:
            pass
        finally:
            peer.closed = True

    def _on_frame(self, peer: _Peer, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            self.counts["malformed_received"] += 1
            return
        command = frame.get("commandType") if isinstance(frame, dict) else None
        if command == "HeartBeat" and _integer(frame.get("time")):
            self.counts["heartbeats_received"] += 1
        elif command in ("Ack", "Fail"):
            self._settle(peer, frame, command)
        else:
            self.counts["malformed_received"] += 1

    def _settle(self, peer: _Peer, frame: dict[str, Any], command: str) -> None:
        message_id, stamp = frame.get("id"), frame.get("time")
        send_time, topic, mall_id = frame.get("sendTime"), frame.get("type"), frame.get("mallID")
        if not (_integer(message_id) and _integer(stamp)):
            self.counts["bad_acks"] += 1
            return
        sent = peer.sent.get(message_id)
        echoed = _integer(send_time) and _integer(mall_id) and (send_time, topic, mall_id) == sent
        in_time = abs(stamp - _ms(self.clock.now())) <= self.max_skew * 1000
        if sent is None or not echoed or not in_time:
            # PMC cannot match it to a delivery: the message stays unacknowledged.
            self.counts["bad_acks"] += 1
            return
        peer.sent.pop(message_id, None)
        if command == "Ack":
            self.push.ack(message_id)
            return
        reason = frame.get("failReason")
        self.fail_reasons.append(reason if isinstance(reason, str) else None)
        self.push.fail(message_id)


def _integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def announcer(
    push: PushQueue, mall_id: Callable[[], int], clock: Clock
) -> Callable[[FakeChange], None]:
    """Return the store listener that publishes a fake's changes to its push queue."""

    def announce(change: FakeChange) -> None:
        for item in announcements(change, mall_id(), clock.now()):
            push.publish(item.topic, item.key, item.content)

    return announce
