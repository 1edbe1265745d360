"""The journal: the audit trail and the cursors that say how far each pull got."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["AuditEntry", "JournalSession"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What was sent to a channel and what it answered."""

    at: datetime
    channel: str
    kind: str
    key: str
    sent: Mapping[str, Any]
    ok: bool
    answer: str | None


class JournalSession(ABC):
    """The audit-trail and cursor operations of a store transaction."""

    @abstractmethod
    def cursor(self, channel: str, kind: str) -> tuple[datetime, str | None] | None:
        """Return the stored ``(since, token)`` of an incremental pull, or ``None``."""

    @abstractmethod
    def set_cursor(self, channel: str, kind: str, since: datetime, token: str | None) -> None:
        """Store where the next incremental pull starts."""

    @abstractmethod
    def cursors(self, kind: str) -> dict[str, tuple[datetime, str | None]]:
        """Return every channel's stored ``(since, token)`` of one kind, keyed by channel."""

    @abstractmethod
    def delete_cursor(self, channel: str, kind: str) -> bool:
        """Remove a stored cursor; return whether there was one."""

    @abstractmethod
    def audit(
        self,
        *,
        channel: str,
        kind: str,
        key: str,
        sent: Mapping[str, Any],
        ok: bool,
        answer: str | None,
        now: datetime,
    ) -> None:
        """Record what was sent and what the channel answered."""

    @abstractmethod
    def audit_trail(
        self,
        *,
        channel: str | None = None,
        key: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        """Return audit entries, oldest first, optionally only one kind or from ``since`` on."""

    @abstractmethod
    def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Record many sends and answers (each at its own ``at``)."""
