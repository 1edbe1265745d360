"""A marketplace's push queue, for fakes that serve TMC, PMC or SQS-style events.

The queue holds what the marketplace would push for one shop and behaves as the
push references describe the real services: delivery at least once, unconfirmed
messages delivered again after a delay, confirmed ones occasionally sent again,
order not kept, messages dropped after a retention period, and only the topics the
shop permitted. A plugin's fake renders the messages in its wire format (binary TMC
frames, PMC JSON, an SQS body) and serves them over its own protocol; the queue is
thread-safe because the fakes serve from threads.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channelsync.clock import Clock, SystemClock

__all__ = ["PushMessage", "PushQueue"]


@dataclass
class PushMessage:
    """One message the marketplace pushes: its id, topic, business key and content."""

    message_id: int
    topic: str
    key: str
    content: dict[str, Any]
    published_at: datetime
    deliveries: int = 0
    settled: bool = False
    in_flight_to: str | None = None
    due_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class PushQueue:
    """The pending and settled messages of one shop's push subscription.

    ``redeliver_after`` is how long a delivered message waits for its confirmation
    before it is due again (also the delay after an explicit failure);
    ``duplicate_rate`` is the chance that a confirmed message is sent once more;
    ``shuffle`` delivers a batch in random order; ``retention`` drops messages never
    confirmed. ``first_id`` starts the message ids (the real services use 64-bit ids,
    so the default is past 2**53 to catch a client that reads them as floats).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        redeliver_after: float = 5.0,
        duplicate_rate: float = 0.0,
        shuffle: bool = False,
        retention: timedelta = timedelta(days=3),
        first_id: int = 2**53 + 1_000_001,
        seed: int = 0,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.redeliver_after = redeliver_after
        self.duplicate_rate = duplicate_rate
        self.shuffle = shuffle
        self.retention = retention
        self._rng = random.Random(seed)  # noqa: S311 - repeatable fakes, not security
        self._next_id = first_id
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: dict[int, PushMessage] = {}
        #: The topics the shop permitted; ``None``: every topic (``permit`` without a list).
        self.permitted: frozenset[str] | None = frozenset()
        #: What happened to the messages, counted for tests.
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "published",
                "refused_topic",
                "delivered",
                "redelivered",
                "duplicated",
                "acked",
                "failed",
                "expired",
            ),
            0,
        )

    def permit(self, topics: Iterable[str] | None) -> None:
        """Replace the permitted topics (``None``: all of them), as the permit calls do."""
        with self._lock:
            self.permitted = None if topics is None else frozenset(topics)

    def publish(self, topic: str, key: str, content: dict[str, Any]) -> PushMessage | None:
        """Queue one message; ``None`` when the shop did not permit ``topic``."""
        with self._lock:
            if self.permitted is not None and topic not in self.permitted:
                self.counts["refused_topic"] += 1
                return None
            message = PushMessage(
                message_id=self._next_id,
                topic=topic,
                key=key,
                content=content,
                published_at=self.clock.now(),
            )
            self._next_id += self._rng.randint(1, 97)
            self._messages[message.message_id] = message
            self.counts["published"] += 1
            self._arrived.notify_all()
            return message

    def take(self, connection: str, limit: int = 32) -> list[PushMessage]:
        """Return the messages due for delivery on ``connection`` and mark them in flight."""
        now = self.clock.monotonic()
        with self._lock:
            self._expire()
            due = [
                m
                for m in self._messages.values()
                if not m.settled and (m.in_flight_to is None or m.due_at <= now)
            ][:limit]
            for message in due:
                if message.deliveries:
                    self.counts["redelivered"] += 1
                message.deliveries += 1
                message.in_flight_to = connection
                message.due_at = now + self.redeliver_after
                self.counts["delivered"] += 1
            if self.duplicate_rate and len(due) < limit:
                for message in self._messages.values():
                    if message.settled and self._rng.random() < self.duplicate_rate:
                        message.settled = False
                        message.in_flight_to = connection
                        message.due_at = now + self.redeliver_after
                        message.deliveries += 1
                        self.counts["duplicated"] += 1
                        due.append(message)
                        if len(due) >= limit:
                            break
            if self.shuffle:
                self._rng.shuffle(due)
            return due

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds for a new message (for serving threads)."""
        with self._lock:
            self._arrived.wait(timeout)

    def ack(self, message_id: int) -> bool:
        """Settle a message; ``False`` when the id is unknown (expired or never sent)."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is None:
                return False
            message.settled = True
            message.in_flight_to = None
            self.counts["acked"] += 1
            return True

    def fail(self, message_id: int) -> bool:
        """Refuse a message: it is due again after ``redeliver_after``."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is None or message.settled:
                return False
            message.due_at = self.clock.monotonic() + self.redeliver_after
            self.counts["failed"] += 1
            return True

    def drop_connection(self, connection: str) -> None:
        """Forget a closed connection: what it held unconfirmed is due at once."""
        with self._lock:
            for message in self._messages.values():
                if message.in_flight_to == connection and not message.settled:
                    message.in_flight_to = None
                    message.due_at = 0.0

    def pending(self) -> list[PushMessage]:
        """Return the messages not yet confirmed."""
        with self._lock:
            return [m for m in self._messages.values() if not m.settled]

    def messages(self, predicate: Callable[[PushMessage], bool] | None = None) -> list[PushMessage]:
        """Return every message kept (settled ones included), optionally filtered."""
        with self._lock:
            return [m for m in self._messages.values() if predicate is None or predicate(m)]

    def _expire(self) -> None:
        horizon = self.clock.now() - self.retention
        for message_id in [
            m.message_id
            for m in self._messages.values()
            if not m.settled and m.published_at < horizon
        ]:
            del self._messages[message_id]
            self.counts["expired"] += 1
