"""The events capability: a marketplace's push of order, refund and listing changes.

An event is a hint, never the record: it names what changed (the business key) and
carries the platform's message id; the engine answers it with a targeted read through
the normal API and the same ingest path as polling, and polling stays on as the
backstop. A listener acknowledges an event only when told to, after the engine has
committed it, so a crash between the commit and the acknowledgement costs a
redelivery (deduplicated by the message id), never a lost event.

A plugin implements :class:`EventsCapability` on its channel: :meth:`~EventsCapability.listen`
returns an :class:`EventListener`, usually a :class:`ReconnectingListener` whose
:meth:`~ReconnectingListener.connect` opens one connection of the marketplace's push
protocol (:class:`EventConnection`); the base keeps it connected with backoff and
reports its state.
"""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from channelsync.clock import Clock
from channelsync.errors import ChannelError, PermanentChannelError

__all__ = [
    "ChannelEvent",
    "EventConnection",
    "EventKind",
    "EventListener",
    "EventsCapability",
    "ListenerState",
    "ListenerStatus",
    "ReconnectingListener",
]

_log = logging.getLogger("channelsync.events")


class EventKind(StrEnum):
    """What an event is about."""

    ORDER = "order"
    REFUND = "refund"
    LISTING = "listing"


class ChannelEvent(BaseModel):
    """One pushed message, mapped at the plugin edge.

    ``message_id`` is the platform's own id as text (TMC and PMC ids are 64-bit
    integers beyond 2**53: never a float), the deduplication key together with the
    channel. ``key`` is the business key: the order id for :attr:`EventKind.ORDER`,
    the refund id for :attr:`EventKind.REFUND` (with its ``order_id`` where the
    message gives it) and the listing (item) id for :attr:`EventKind.LISTING`.
    ``delivery`` is what the listener needs to acknowledge this delivery (an SQS
    receipt handle, a connection's token); it is not part of the event's identity.
    ``units`` is set only where the message itself says what a new order takes (Amazon's
    ``ORDER_CHANGE`` summary lists each item's seller SKU and quantity): the units by
    merchant code, which the engine holds from every channel until the order is read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EventKind
    message_id: str = Field(min_length=1, max_length=256)
    key: str = Field(min_length=1, max_length=256)
    topic: str = Field(min_length=1, max_length=256)
    order_id: str | None = None
    occurred_at: datetime | None = None
    delivery: str | None = Field(default=None, repr=False)
    units: dict[str, PositiveInt] | None = None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        return value


class ListenerState(StrEnum):
    """Where a listener's connection stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


class ListenerStatus(BaseModel):
    """What ``status``, metrics and the console show about a listener."""

    model_config = ConfigDict(frozen=True)

    state: ListenerState
    connected_since: datetime | None = None
    last_event_at: datetime | None = None
    events_received: int = 0
    reconnects: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


class EventListener(ABC):
    """An open subscription to one channel's events.

    Use it as an async context manager and iterate it: the iteration yields events
    until :meth:`close` and survives disconnects on its own. Call :meth:`ack` after
    an event was committed, :meth:`fail` to ask the marketplace to deliver it again
    later (a transient failure; never for a message that can never be processed).
    """

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[ChannelEvent]:
        """Yield events as they arrive, reconnecting as needed, until closed."""

    @abstractmethod
    async def ack(self, event: ChannelEvent) -> bool:
        """Acknowledge ``event``; return ``False`` when its connection is gone.

        A lost acknowledgement is not an error: the marketplace delivers the event
        again and the inbox recognises it by its message id.
        """

    @abstractmethod
    async def fail(self, event: ChannelEvent, reason: str) -> bool:
        """Ask for ``event`` to be delivered again later; ``False`` when its connection is gone."""

    @property
    @abstractmethod
    def status(self) -> ListenerStatus:
        """The listener's connection state and counters."""

    @abstractmethod
    async def close(self) -> None:
        """Stop listening and release the connection (idempotent)."""


class EventConnection(ABC):
    """One connection of a marketplace's push protocol (a WebSocket, a queue poller).

    :meth:`events` yields events until the connection ends; it raises a
    :class:`~channelsync.errors.ChannelError` when the connection fails (a
    :class:`~channelsync.errors.PermanentChannelError` such as an authentication
    refusal still leads to a reconnect, after a longer wait). Malformed frames are
    logged and skipped by the connection, never raised.
    """

    @abstractmethod
    def events(self) -> AsyncIterator[ChannelEvent]:
        """Yield the events this connection receives until it ends."""

    @abstractmethod
    async def ack(self, event: ChannelEvent) -> bool:
        """Acknowledge ``event`` on this connection; ``False`` if it is closed."""

    @abstractmethod
    async def fail(self, event: ChannelEvent, reason: str) -> bool:
        """Refuse ``event`` for redelivery; ``False`` if the connection is closed."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection (idempotent)."""


class ReconnectingListener(EventListener):
    """An :class:`EventListener` that keeps one :class:`EventConnection` open.

    A connection that ends or fails is replaced after a backoff (``initial_backoff``
    doubling to ``max_backoff``, with jitter; a permanent refusal such as a bad
    signature waits ``max_backoff``); the backoff resets once a connection delivered
    an event or stayed up for ``max_backoff``. Events are acknowledged on the
    connection that delivered them.
    """

    def __init__(
        self,
        channel: str,
        clock: Clock,
        *,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.channel = channel
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._connection: EventConnection | None = None
        self._generation = 0
        self._closed = False
        self._status = ListenerStatus(state=ListenerState.CONNECTING)

    @abstractmethod
    async def connect(self) -> EventConnection:
        """Open one connection (sign, handshake); raise ``ChannelError`` on refusal."""

    @property
    def status(self) -> ListenerStatus:
        """The listener's connection state and counters."""
        return self._status

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _stopped(self) -> bool:
        # A method, not the attribute: close() runs while this generator is suspended.
        return self._closed

    def _update(self, **changes: object) -> None:
        self._status = self._status.model_copy(update=changes)

    async def __aiter__(self) -> AsyncIterator[ChannelEvent]:
        backoff = self.initial_backoff
        while not self._stopped():
            self._update(state=ListenerState.CONNECTING)
            started = self.clock.monotonic()
            delivered = False
            try:
                connection = await self.connect()
                self._connection = connection
                self._generation += 1
                self._update(state=ListenerState.CONNECTED, connected_since=self.clock.now())
                _log.info("events listener of channel %s connected", self.channel)
                async for event in connection.events():
                    delivered = True
                    self._update(
                        last_event_at=self.clock.now(),
                        events_received=self._status.events_received + 1,
                    )
                    yield event
                    if self._stopped():
                        return
                wait_reason = "the connection ended"
                permanent = False
            except ChannelError as exc:
                wait_reason = str(exc)
                permanent = isinstance(exc, PermanentChannelError)
            finally:
                await self._drop_connection()
            if self._stopped():
                return
            stayed_up = self.clock.monotonic() - started >= self.max_backoff
            if delivered or stayed_up:
                backoff = self.initial_backoff
            wait = self.max_backoff if permanent else backoff
            wait *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
            self._update(
                state=ListenerState.DISCONNECTED,
                connected_since=None,
                reconnects=self._status.reconnects + 1,
                last_error=wait_reason,
                last_error_at=self.clock.now(),
            )
            _log.warning(
                "events listener of channel %s disconnected (%s); reconnecting in %.1f s",
                self.channel,
                wait_reason,
                wait,
            )
            await self.clock.sleep(wait)
            backoff = min(self.max_backoff, backoff * 2)
        self._update(state=ListenerState.CLOSED)

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def ack(self, event: ChannelEvent) -> bool:
        """Acknowledge ``event`` on the open connection (``False`` when there is none)."""
        connection = self._connection
        return await connection.ack(event) if connection is not None else False

    async def fail(self, event: ChannelEvent, reason: str) -> bool:
        """Refuse ``event`` on the open connection (``False`` when there is none)."""
        connection = self._connection
        return await connection.fail(event, reason) if connection is not None else False

    async def close(self) -> None:
        """Stop reconnecting and close the open connection."""
        self._closed = True
        await self._drop_connection()
        self._update(state=ListenerState.CLOSED, connected_since=None)


class EventsCapability(ABC):
    """Receive a marketplace's pushed events (Taobao TMC, Pinduoduo PMC, Amazon via SQS).

    ``event_topics`` lists the platform topics the channel maps; ``listen`` opens a
    listener; :meth:`enable_events` performs the per-shop opt-in that the platform
    requires before it pushes anything for a shop (``taobao.tmc.user.permit``,
    ``pdd.pmc.user.permit``, Amazon's ``createDestination`` and
    ``createSubscription``) and returns what it did, in words an operator reads.
    """

    name: str
    """The channel's name (set by :class:`~channelsync.channels.Channel`)."""

    event_topics: Sequence[str] = ()
    #: How late an event may arrive after the change it reports, as far as the
    #: engine plans with it (used for the visibility delay of a channel).
    event_delay: timedelta = timedelta(seconds=2)

    @abstractmethod
    def listen(self) -> EventListener:
        """Return a listener for this channel's events (not yet connected)."""

    @abstractmethod
    async def enable_events(self) -> str:
        """Opt this shop in to the platform's push; return a summary of what was done."""
