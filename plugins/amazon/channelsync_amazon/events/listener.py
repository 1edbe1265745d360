"""Reading a seller's SP-API notifications from SQS: the listener and its connection.

SQS has no connection to keep: a "connection" here is one SQS client that long-polls
``ReceiveMessage`` (up to 10 messages, waiting up to 20 s) and acknowledges by
``DeleteMessage`` with the message's receipt handle (the event's ``delivery``). A
received message is invisible to other readers for the queue's visibility timeout
(read once with ``GetQueueAttributes``, which also proves the keys and the queue at
connect time) and is delivered again if it is not deleted by then:

* while an event waits for the engine, a keeper extends its visibility with
  ``ChangeMessageVisibilityBatch`` before the deadline, for at most ``max_hold``
  seconds, so a slow targeted read does not cause a redelivery;
* :meth:`SqsConnection.fail` makes a message visible again after ``fail_delay``;
* closing a connection makes the messages it still holds visible at once, for the
  next connection (or another reader) to take;
* an acknowledgement after the deadline may carry a stale receipt handle (the message
  was received again since): it answers ``False`` and the inbox recognises the
  redelivery by its ``NotificationId``.

A message that can never be processed (not JSON, not a notification, a type the
channel does not map) is logged once with the channel named and deleted. A message
for another seller is left alone: it becomes visible again for the channel whose
queue it should have gone to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from channelsync.channels import ChannelEvent, EventConnection, ReconnectingListener
from channelsync.clock import Clock, SystemClock
from channelsync.errors import ChannelError
from channelsync.http import Redactor
from channelsync_amazon.events.aws import (
    AwsKeys,
    aws_errors,
    open_sqs_client,
    redacted_botocore_logs,
    sqs_error,
)
from channelsync_amazon.events.notifications import NotificationError, parse_notification
from channelsync_amazon.events.queue import SqsQueue

__all__ = ["MAX_WAIT_SECONDS", "SqsConnection", "SqsListener"]

_log = logging.getLogger("channelsync_amazon.events")

#: SQS limits: at most 10 messages per receive, a long poll of at most 20 s.
MAX_MESSAGES = 10
MAX_WAIT_SECONDS = 20
#: Without a long poll (``wait_seconds`` 0) an empty receive is repeated after this pause.
SHORT_POLL_PAUSE = 1.0
_STALE_HANDLE = "ReceiptHandleIsInvalid"
_REMEMBERED = 1024


@dataclass
class _Held:
    """A received message not yet settled: when it becomes visible again."""

    received_at: float
    deadline: float
    message_id: str
    kept: bool = True
    """Whether the keeper still extends its visibility (not after ``max_hold``)."""


class _Once:
    """Remembers recent keys, so a message that keeps coming back is logged once."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def first(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > _REMEMBERED:
            self._seen.pop(next(iter(self._seen)))
        return True


class SqsConnection(EventConnection):
    """One SQS client long-polling the queue; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        channel: str,
        queue: SqsQueue,
        client: Any,
        stack: AsyncExitStack,
        visibility_timeout: float,
        seller_id: str | None,
        redactor: Redactor,
        timer: Clock,
        wait_seconds: int,
        max_messages: int,
        fail_delay: int,
        max_hold: float,
        logged: _Once,
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.visibility_timeout = visibility_timeout
        self.seller_id = seller_id
        self.wait_seconds = wait_seconds
        self.max_messages = max_messages
        self.fail_delay = fail_delay
        self.max_hold = max_hold
        self._client = client
        self._stack = stack
        self._redactor = redactor
        self._timer = timer
        self._logged = logged
        self._held: dict[str, _Held] = {}
        self._closing = asyncio.Event()
        self._closed = False
        self._keeper: asyncio.Task[None] | None = None
        self._errors = aws_errors()

    @classmethod
    async def open(
        cls,
        *,
        channel: str,
        queue: SqsQueue,
        keys: AwsKeys,
        seller_id: str | None,
        redactor: Redactor,
        timer: Clock,
        wait_seconds: int = MAX_WAIT_SECONDS,
        max_messages: int = MAX_MESSAGES,
        fail_delay: int = 5,
        max_hold: float = 900.0,
        logged: _Once | None = None,
    ) -> SqsConnection:
        """Open a client and read the queue's visibility timeout (raises ``ChannelError``)."""
        stack = AsyncExitStack()
        try:
            stack.enter_context(redacted_botocore_logs(redactor))
            client = await open_sqs_client(stack, queue, keys, wait_seconds=wait_seconds)
            try:
                answer = await client.get_queue_attributes(
                    QueueUrl=queue.url, AttributeNames=["VisibilityTimeout"]
                )
            except Exception as exc:  # noqa: BLE001 - any failure to connect is retried
                raise sqs_error(exc, "GetQueueAttributes", redactor) from None
            visibility = float(answer.get("Attributes", {}).get("VisibilityTimeout", "30"))
        except BaseException:
            await stack.aclose()
            raise
        connection = cls(
            channel=channel,
            queue=queue,
            client=client,
            stack=stack,
            visibility_timeout=visibility,
            seller_id=seller_id,
            redactor=redactor,
            timer=timer,
            wait_seconds=max(0, min(wait_seconds, MAX_WAIT_SECONDS)),
            max_messages=max(1, min(max_messages, MAX_MESSAGES)),
            fail_delay=fail_delay,
            max_hold=max_hold,
            logged=logged or _Once(),
        )
        connection._keeper = asyncio.create_task(connection._keep_visible())
        return connection

    # -- receiving ------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ChannelEvent]:
        """Long-poll the queue and yield its notifications until the connection closes."""
        while not self._closing.is_set():
            messages = await self._receive()
            if messages is None:
                return
            if not messages and self.wait_seconds == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), SHORT_POLL_PAUSE)
            for message in messages:
                event = await self._admit(message)
                if event is not None:
                    yield event
                if self._closing.is_set():
                    return

    async def _receive(self) -> list[dict[str, Any]] | None:
        """One long poll; ``None`` when the connection closed meanwhile."""
        receive = asyncio.ensure_future(
            self._client.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=self.max_messages,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        )
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({receive, closing}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The reader was cancelled: the poll goes with it, or it outlives the client
            # closed after it and fails with nobody to read its error.
            await self._abandon(receive)
            raise
        finally:
            closing.cancel()
        if not receive.done():
            await self._abandon(receive)
            return None
        try:
            answer = receive.result()
        except Exception as exc:  # noqa: BLE001 - a failed poll reconnects, never ends the listener
            raise sqs_error(exc, "ReceiveMessage", self._redactor) from None
        now = self._timer.monotonic()
        messages: list[dict[str, Any]] = list(answer.get("Messages") or [])
        for message in messages:
            handle = message.get("ReceiptHandle")
            if isinstance(handle, str):
                self._held[handle] = _Held(
                    now, now + self.visibility_timeout, str(message.get("MessageId", "?"))
                )
        if self._closing.is_set():
            return None
        return messages

    async def _abandon(self, receive: asyncio.Future[Any]) -> None:
        """Cancel a poll and wait for its end (messages it got come back after their timeout)."""
        receive.cancel()
        with contextlib.suppress(asyncio.CancelledError, *self._errors):
            await receive

    async def _admit(self, message: dict[str, Any]) -> ChannelEvent | None:
        """Turn one message into an event; settle the ones that are not for this channel."""
        handle = message.get("ReceiptHandle")
        message_id = str(message.get("MessageId", "?"))
        if not isinstance(handle, str):
            return None
        try:
            notification = parse_notification(message.get("Body") or "")
        except NotificationError as error:
            if self._logged.first(message_id):
                _log.warning(
                    "channel %s: SQS message %s is no notification the channel can use "
                    "(%s); deleted, it can never be processed",
                    self.channel,
                    message_id,
                    error,
                    extra={"channel": self.channel, "operation": "ReceiveMessage"},
                )
            await self._delete(handle, quiet=True)
            return None
        if self.seller_id is not None and notification.seller_id != self.seller_id:
            if self._logged.first(message_id):
                _log.warning(
                    "channel %s: notification %s is for seller %s, not this channel's %s; "
                    "left on the queue (give each seller account its own queue)",
                    self.channel,
                    notification.notification_id,
                    notification.seller_id,
                    self.seller_id,
                    extra={"channel": self.channel, "operation": "ReceiveMessage"},
                )
            self._held.pop(handle, None)
            return None
        return notification.event(delivery=handle)

    # -- settling -------------------------------------------------------------------

    async def ack(self, event: ChannelEvent) -> bool:
        """Delete the message; ``False`` when the deletion cannot be confirmed."""
        handle = event.delivery
        if handle is None or self._closed:
            return False
        held = self._held.pop(handle, None)
        deleted = await self._delete(handle, quiet=False)
        if not deleted:
            return False
        if held is None:
            _log.info(
                "channel %s: notification %s was received on an earlier connection; its "
                "deletion is not confirmed (a redelivery is recognised by its id)",
                self.channel,
                event.message_id,
                extra={"channel": self.channel, "operation": "DeleteMessage"},
            )
            return False
        if self._timer.monotonic() > held.deadline:
            _log.info(
                "channel %s: notification %s was acknowledged after its visibility deadline; "
                "the receipt handle may be stale (a redelivery is recognised by its id)",
                self.channel,
                event.message_id,
                extra={"channel": self.channel, "operation": "DeleteMessage"},
            )
            return False
        return True

    async def fail(self, event: ChannelEvent, reason: str) -> bool:
        """Make the message visible again after ``fail_delay`` seconds."""
        handle = event.delivery
        if handle is None or self._closed:
            return False
        self._held.pop(handle, None)
        try:
            await self._client.change_message_visibility(
                QueueUrl=self.queue.url, ReceiptHandle=handle, VisibilityTimeout=self.fail_delay
            )
        except self._errors as exc:
            self._settle_failed(exc, "ChangeMessageVisibility", event.message_id)
            return False
        _log.info(
            "channel %s: notification %s refused (%s); delivered again in %d s",
            self.channel,
            event.message_id,
            self._redactor.redact_text(reason)[:200],
            self.fail_delay,
            extra={"channel": self.channel, "operation": "ChangeMessageVisibility"},
        )
        return True

    async def _delete(self, handle: str, *, quiet: bool) -> bool:
        try:
            await self._client.delete_message(QueueUrl=self.queue.url, ReceiptHandle=handle)
        except self._errors as exc:
            if not quiet:
                self._settle_failed(exc, "DeleteMessage", None)
            return False
        return True

    def _settle_failed(self, exc: Exception, operation: str, message_id: str | None) -> None:
        error = sqs_error(exc, operation, self._redactor)
        stale = error.code == _STALE_HANDLE
        _log.log(
            logging.INFO if stale else logging.WARNING,
            "channel %s: %s of notification %s failed (%s); %s",
            self.channel,
            operation,
            message_id or "?",
            error,
            "the receipt handle is stale, the message comes back and is recognised by its id"
            if stale
            else "the message comes back after its visibility timeout",
            extra={"channel": self.channel, "operation": operation},
        )

    # -- visibility -----------------------------------------------------------------

    async def _keep_visible(self) -> None:
        """Extend the visibility of held messages before it runs out (up to ``max_hold``)."""
        interval = max(0.2, min(self.visibility_timeout / 4, 5.0))
        while not self._closing.is_set():
            await asyncio.sleep(interval)
            now = self._timer.monotonic()
            due = []
            for handle, held in list(self._held.items()):
                if not held.kept or held.deadline - now > self.visibility_timeout / 2:
                    continue
                if now - held.received_at >= self.max_hold:
                    held.kept = False
                    _log.warning(
                        "channel %s: SQS message %s unsettled for %.0f s; it is let go and "
                        "comes back after its visibility timeout",
                        self.channel,
                        held.message_id,
                        now - held.received_at,
                        extra={"channel": self.channel, "operation": "ChangeMessageVisibility"},
                    )
                    continue
                due.append(handle)
            timeout = int(self.visibility_timeout)
            extended = await self._change_visibility(due, timeout)
            for handle in extended:
                kept = self._held.get(handle)
                if kept is not None:
                    kept.deadline = now + self.visibility_timeout

    async def _change_visibility(self, handles: Iterable[str], timeout: int) -> list[str]:
        """Set the visibility of ``handles`` (batches of 10); return those that succeeded."""
        pending = list(handles)
        done: list[str] = []
        for start in range(0, len(pending), MAX_MESSAGES):
            chunk = pending[start : start + MAX_MESSAGES]
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": timeout}
                for index, handle in enumerate(chunk)
            ]
            try:
                answer = await self._client.change_message_visibility_batch(
                    QueueUrl=self.queue.url, Entries=entries
                )
            except self._errors as exc:
                error = sqs_error(exc, "ChangeMessageVisibilityBatch", self._redactor)
                _log.warning(
                    "channel %s: could not change the visibility of %d message(s): %s",
                    self.channel,
                    len(chunk),
                    error,
                    extra={"channel": self.channel, "operation": "ChangeMessageVisibilityBatch"},
                )
                continue
            for entry in answer.get("Successful") or []:
                done.append(chunk[int(entry["Id"])])
            for entry in answer.get("Failed") or []:
                # A stale handle: the message is no longer ours to hold.
                self._held.pop(chunk[int(entry["Id"])], None)
        return done

    # -- closing --------------------------------------------------------------------

    async def close(self) -> None:
        """Stop polling, make held messages visible at once, close the client."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        held = [handle for handle, entry in self._held.items() if entry.kept]
        self._held = {}
        if held:
            with contextlib.suppress(TimeoutError, ChannelError):
                async with asyncio.timeout(5):
                    await self._change_visibility(held, 0)
        await self._stack.aclose()


class SqsListener(ReconnectingListener):
    """Keeps an :class:`SqsConnection` polling the channel's queue, with backoff.

    ``wait_seconds`` (long poll, at most 20), ``max_messages`` (at most 10),
    ``fail_delay`` and ``max_hold`` may be lowered for tests. ``timer`` is the clock
    of the queue's own visibility timers (the wall clock by default; the backoff uses
    ``clock``).
    """

    def __init__(
        self,
        channel: str,
        clock: Clock,
        *,
        queue: SqsQueue,
        keys: AwsKeys,
        seller_id: str | None,
        redactor: Redactor,
        timer: Clock | None = None,
        wait_seconds: int = MAX_WAIT_SECONDS,
        max_messages: int = MAX_MESSAGES,
        fail_delay: int = 5,
        max_hold: float = 900.0,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        super().__init__(channel, clock, initial_backoff=initial_backoff, max_backoff=max_backoff)
        self.queue = queue
        self.seller_id = seller_id
        self.wait_seconds = wait_seconds
        self.max_messages = max_messages
        self.fail_delay = fail_delay
        self.max_hold = max_hold
        self._keys = keys
        self._redactor = redactor
        self._timer = timer or SystemClock()
        self._logged = _Once()
        for secret in keys.secrets():
            redactor.add_secret(secret)

    async def connect(self) -> SqsConnection:
        """Open a client on the queue (``ChannelError`` when AWS refuses the keys)."""
        return await SqsConnection.open(
            channel=self.channel,
            queue=self.queue,
            keys=self._keys,
            seller_id=self.seller_id,
            redactor=self._redactor,
            timer=self._timer,
            wait_seconds=self.wait_seconds,
            max_messages=self.max_messages,
            fail_delay=self.fail_delay,
            max_hold=self.max_hold,
            logged=self._logged,
        )
