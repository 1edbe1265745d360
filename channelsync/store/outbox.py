"""The outbox: every outgoing change written durably before it is sent, and parked failures."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "OutboxEntry",
    "OutboxItem",
    "OutboxSession",
    "OutboxState",
    "ParkedRecord",
    "Settlement",
]


class OutboxState(StrEnum):
    """Where an outbox entry stands."""

    PENDING = "pending"
    SENT = "sent"
    PARKED = "parked"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One value to queue in a bulk enqueue (see :meth:`StoreSession.enqueue_many`)."""

    channel: str
    kind: str
    key: str
    payload: Mapping[str, Any]
    urgency: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of sending one version of an outbox entry (see ``settle_many``)."""

    item_id: int
    version: int
    state: OutboxState
    reason: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One outgoing change: the latest value for ``(channel, kind, key)``."""

    id: int
    channel: str
    kind: str
    key: str
    payload: Mapping[str, Any]
    version: int
    urgency: int
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    """An incoming record (an order) that could not be applied, kept with its reason."""

    channel: str
    kind: str
    key: str
    reason: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None


class OutboxSession(ABC):
    """The outbox operations of a store transaction."""

    @abstractmethod
    def enqueue(
        self,
        *,
        channel: str,
        kind: str,
        key: str,
        payload: Mapping[str, Any],
        urgency: int,
        now: datetime,
    ) -> int:
        """Queue the latest value for ``(channel, kind, key)``, replacing a pending one.

        Returns the entry's new version: each enqueue bumps it, so an answer for an
        older version can never mark the newer value sent.
        """

    @abstractmethod
    def due(
        self,
        channel: str,
        kind: str,
        now: datetime,
        limit: int,
        *,
        after: OutboxItem | None = None,
    ) -> list[OutboxItem]:
        """Return pending entries due by ``now``, most urgent first.

        Ordered by urgency, then due time, then id. ``after`` reads on from an entry
        read before: only the entries after it in that order (a flush's next read,
        which so skips what it has just settled in front).
        """

    @abstractmethod
    def due_carrying(self, channel: str, kind: str, now: datetime, field: str) -> list[OutboxItem]:
        """Return every pending entry of ``kind`` due by ``now`` whose payload has ``field`` set.

        A value other than JSON ``null``; ordered as :meth:`due`. The re-inflation guard's
        read (the stock entries carrying what was sent before): the database picks the
        few out of a first cycle's hundred thousand, rather than each being decoded.
        """

    @abstractmethod
    def channels_with_work(self, now: datetime, parked_reason: str) -> set[str]:
        """Return the channels a flush has work for at ``now``.

        A pending entry of any kind due by ``now``, or an entry parked with a reason
        starting with ``parked_reason`` (what a flush resumes once the channel
        authenticates again).
        """

    @abstractmethod
    def claim_due(
        self, channel: str, kind: str, now: datetime, limit: int, until: datetime
    ) -> list[OutboxItem]:
        """Claim pending entries due by ``now``, most urgent first, for one worker until ``until``.

        Like :meth:`due`, but each entry returned is leased: its ``next_attempt_at`` is
        moved to ``until`` in this transaction (and returned so), so once it commits
        no other claimer gets the entry before then. On PostgreSQL the entries are
        selected ``FOR UPDATE SKIP LOCKED``: a concurrent claimer skips those being
        claimed instead of waiting for them. Settling or deferring the entry's version
        ends the lease; if the worker dies, the entry is due again at ``until``.
        Attempts are not counted. Raises ``ValueError`` unless ``until`` is after ``now``.
        """

    @abstractmethod
    def outbox(
        self, *, channel: str | None = None, state: OutboxState | None = None
    ) -> list[OutboxItem]:
        """Return outbox entries (of a channel, in a state)."""

    @abstractmethod
    def settle(
        self,
        item_id: int,
        version: int,
        state: OutboxState,
        *,
        now: datetime,
        reason: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Record the outcome of sending version ``version`` of an entry.

        Returns ``False`` when the entry was replaced by a newer value meanwhile; the
        newer value stays pending.
        """

    @abstractmethod
    def defer(
        self, item_id: int, version: int, *, until: datetime, reason: str, now: datetime
    ) -> bool:
        """Keep an entry's version pending until ``until``, without counting an attempt."""

    @abstractmethod
    def drop_parked(self, channel: str, kind: str, key: str) -> OutboxItem | None:
        """Remove a parked entry for good; return it, or ``None`` when none is parked there."""

    @abstractmethod
    def requeue_parked(
        self,
        now: datetime,
        channel: str | None = None,
        *,
        reason_prefix: str | None = None,
        parked_before: datetime | None = None,
        kind: str | None = None,
        key: str | None = None,
    ) -> int:
        """Put parked entries back in the queue; return how many.

        ``reason_prefix`` and ``parked_before`` narrow it to entries parked for one
        cause (their reason starts with it) before a moment; ``kind`` and ``key`` to one
        entry of the channel.
        """

    @abstractmethod
    def park(self, record: ParkedRecord, now: datetime) -> None:
        """Keep a record that could not be applied, with its reason (replacing an older one)."""

    @abstractmethod
    def unpark(self, channel: str, kind: str, key: str) -> None:
        """Forget a parked record (it was applied after all)."""

    @abstractmethod
    def parked(self, *, channel: str | None = None) -> list[ParkedRecord]:
        """Return parked records."""

    @abstractmethod
    def enqueue_many(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """Queue the latest value of each entry, as :meth:`enqueue` does for one.

        Several entries for the same ``(channel, kind, key)`` coalesce to the last.
        """

    @abstractmethod
    def settle_many(self, outcomes: Sequence[Settlement], now: datetime) -> list[bool]:
        """Record many outcomes, as :meth:`settle` does for one; return each one's answer."""
