"""Pausing a channel: an operator stops one shop's marketplace work, the rest go on.

A pause is kept in the store as a cursor of kind ``paused`` (``since`` the pause,
the token a JSON ``{"by", "reason"}``), so it outlives a restart and reaches a daemon
running in another process, which reads it at its next look at the store. Every
pause and resume is written to the audit trail in the same transaction.

While a channel is paused the daemon makes no call to its marketplace; the other
channels' changes are still planned into its outbox and sent once it is resumed.
The caller checks that the channel exists (a pause of an unknown name is kept, and
ignored by a daemon that does not run that channel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from channelsync.engine.errors import InputError, Problem
from channelsync.store.journal import JournalSession

__all__ = [
    "AUDIT_PAUSE",
    "AUDIT_RESUME",
    "PAUSED_CURSOR",
    "Pause",
    "pause_channel",
    "paused_channels",
    "resume_channel",
]

#: The cursor kind that marks a channel paused.
PAUSED_CURSOR = "paused"
#: The audit-trail kinds of a pause and a resume.
AUDIT_PAUSE = "pause"
AUDIT_RESUME = "resume"


@dataclass(frozen=True, slots=True)
class Pause:
    """Why a channel is paused, by whom and since when."""

    since: datetime
    by: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """Return the pause as JSON-ready values (``since`` in ISO 8601)."""
        return {"since": self.since.isoformat(), "by": self.by, "reason": self.reason}


def pause_channel(
    session: JournalSession, channel: str, *, by: str, reason: str, now: datetime
) -> bool:
    """Pause ``channel`` from ``now``; return ``False`` (and change nothing) if it already is.

    Raises :class:`~channelsync.engine.errors.InputError` when ``reason`` is empty.
    """
    if not reason.strip():
        raise InputError("pause", [Problem("a reason is required", field="reason")])
    if session.cursor(channel, PAUSED_CURSOR) is not None:
        return False
    token = json.dumps({"by": by, "reason": reason}, ensure_ascii=False)
    session.set_cursor(channel, PAUSED_CURSOR, now, token)
    session.audit(
        channel=channel,
        kind=AUDIT_PAUSE,
        key=channel,
        sent={"by": by, "reason": reason},
        ok=True,
        answer=f"paused by {by}: {reason}",
        now=now,
    )
    return True


def resume_channel(session: JournalSession, channel: str, *, by: str, now: datetime) -> bool:
    """Resume ``channel``; return ``False`` (and change nothing) if it is not paused."""
    stored = session.cursor(channel, PAUSED_CURSOR)
    if stored is None:
        return False
    pause = _pause(stored)
    session.delete_cursor(channel, PAUSED_CURSOR)
    session.audit(
        channel=channel,
        kind=AUDIT_RESUME,
        key=channel,
        # The pause's reason is kept beside the resume, so one entry tells the story.
        sent={"by": by, "reason": pause.reason},
        ok=True,
        answer=f"resumed by {by} (paused by {pause.by} since {pause.since.isoformat()})",
        now=now,
    )
    return True


def paused_channels(session: JournalSession) -> dict[str, Pause]:
    """Return every paused channel's pause, keyed by channel name."""
    return {name: _pause(stored) for name, stored in session.cursors(PAUSED_CURSOR).items()}


def _pause(stored: tuple[datetime, str | None]) -> Pause:
    since, token = stored
    try:
        data = json.loads(token or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # Written by hand or by a later version: still a pause, with what can be read.
        data = {}
    return Pause(
        since=since, by=str(data.get("by") or "unknown"), reason=str(data.get("reason") or "")
    )
