"""The fake's push service: an SQS queue it serves and fills with its notifications.

Amazon holds no connection to the seller's software: it sends each notification to
the SQS queue of the subscription's destination, and SQS does the rest (long polls,
visibility timeouts, redelivery of what is not deleted, retention). So does the
fake: :class:`FakeEventsServer` (``fake.serve_events()``) serves moto's SQS on
loopback behind a SigV4 check, creates a standard queue with a short visibility
timeout and sends what ``fake.push`` holds (see :mod:`~channelsync_amazon.fake.notifier`)
from a background thread: once, or twice with the same ``NotificationId``
(``duplicates``), or each pair swapped so an older ``EventTime`` arrives after a
newer one (``reorder``); ``fake.push``'s own ``duplicate_rate`` and ``shuffle`` apply
as well. ``url`` is the queue URL.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]

from channelsync.testing.fakes import PushMessage
from channelsync_amazon.fake.aws_keys import AwsKey
from channelsync_amazon.fake.sqs import SignedSqsServer

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = ["FakeEventsServer"]


class FakeEventsServer:
    """The served queue: moto's SQS on loopback and the thread that fills it.

    ``url`` is the queue URL (the channel's ``events_url``); ``region`` the region the
    queue lives in (``events_region``: a loopback host names none). Stop it with
    :meth:`stop` or use it as a context manager.
    """

    def __init__(
        self,
        fake: FakeSellingPartner,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        visibility_timeout: int = 2,
        retention: int = 345_600,
    ) -> None:
        self.fake = fake
        self.region = fake.aws_region
        self.account_id = fake.aws_account_id
        self.queue_name = f"channelsync-events-{uuid.UUID(int=fake._rng.getrandbits(128)).hex[:12]}"
        self.visibility_timeout = visibility_timeout
        self.retention = retention
        #: Send every notification twice, with the same NotificationId.
        self.duplicates = False
        #: Send each pair of notifications swapped (the older EventTime second).
        self.reorder = False
        #: Notifications handed to SQS (duplicates included).
        self.sent = 0
        self._publisher_key = AwsKey(
            "AKIA" + uuid.UUID(int=fake._rng.getrandbits(128)).hex[:16].upper(),
            uuid.UUID(int=fake._rng.getrandbits(128)).hex,
        )
        self._server = SignedSqsServer(
            self._keys,
            host=host,
            port=port,
            outage_spares=frozenset({self._publisher_key.access_key_id}),
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._held: PushMessage | None = None
        self._held_since = 0.0
        #: How long a held notification waits for one to swap with (wall-clock seconds).
        self.hold_for = 0.5
        self._client: Any = None

    def _keys(self) -> dict[str, AwsKey]:
        keys = dict(self.fake.aws_keys)
        keys[self._publisher_key.access_key_id] = self._publisher_key
        return keys

    @property
    def endpoint_url(self) -> str:
        """The SQS endpoint, e.g. ``http://127.0.0.1:50123``."""
        return self._server.endpoint_url

    @property
    def url(self) -> str:
        """The queue URL."""
        return f"{self.endpoint_url}/{self.account_id}/{self.queue_name}"

    @property
    def arn(self) -> str:
        """The queue's ARN (what a destination registers)."""
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{self.queue_name}"

    @property
    def refused(self) -> dict[str, int]:
        """Requests the signature check refused, by error code."""
        gate = self._server.gate
        return dict(gate.refused) if gate is not None else {}

    def start(self) -> None:
        """Serve, create the queue and start sending."""
        self._server.start()
        self._client = boto3.client(
            "sqs",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self._publisher_key.access_key_id,
            aws_secret_access_key=self._publisher_key.secret_access_key,
        )
        self._client.create_queue(
            QueueName=self.queue_name,
            Attributes={
                "VisibilityTimeout": str(self.visibility_timeout),
                "MessageRetentionPeriod": str(self.retention),
            },
        )
        self._thread = threading.Thread(
            target=self._run, name=f"fake-sqs {self.queue_name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop sending, delete the queue and stop serving (idempotent)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._client is not None:
            try:
                self._client.delete_queue(QueueUrl=self.url)
            finally:
                self._client.close()
        self._server.stop()
        if self.fake.events is self:
            self.fake.events = None
            self.fake.subscriptions_changed()

    def __enter__(self) -> FakeEventsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- sending --------------------------------------------------------------------

    def outage(self, requests: int) -> None:
        """Answer the readers' next ``requests`` SQS calls with 503 ``ServiceUnavailable``."""
        if self._server.gate is not None:
            self._server.gate.outage = requests

    def send_raw(self, body: str) -> None:
        """Put ``body`` on the queue as it is (a malformed or hand-made message, for tests)."""
        self._client.send_message(QueueUrl=self.url, MessageBody=body)

    def depth(self) -> tuple[int, int]:
        """Return the messages waiting and in flight (SQS's approximate counts)."""
        answer = self._client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(answer["ApproximateNumberOfMessages"]),
            int(answer["ApproximateNumberOfMessagesNotVisible"]),
        )

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.fake.push.wait(0.05)
            batch = self.fake.push.take("sqs", limit=10)
            for message in batch:
                self._deliver(message)
            held = self._held
            if held is not None and time.monotonic() - self._held_since >= self.hold_for:
                # Nothing followed the held notification: send it anyway.
                self._held = None
                self._send(held)

    def _deliver(self, message: PushMessage) -> None:
        if not self.reorder:
            self._send(message)
            return
        if self._held is None:
            self._held, self._held_since = message, time.monotonic()
            return
        held, self._held = self._held, None
        self._send(message)
        self._send(held)

    def _send(self, message: PushMessage) -> None:
        body = json.dumps(message.content, separators=(",", ":"))
        try:
            for _ in range(2 if self.duplicates else 1):
                self._client.send_message(QueueUrl=self.url, MessageBody=body)
                self.sent += 1
        except Exception:  # noqa: BLE001 - the queue is gone (stopping): the push queue redelivers
            return
        self.fake.push.ack(message.message_id)
