"""What an operator may change through the console; each change is audited with who made it.

The routes check the token first (:mod:`channelsync.console.security`); these
functions check the request itself and raise
:class:`~channelsync.engine.errors.InputError` naming the field when it is wrong, having
changed nothing.
"""

from __future__ import annotations

from channelsync.console.source import ConsoleSource
from channelsync.engine import outbox
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.pausing import pause_channel, resume_channel

__all__ = ["KINDS", "drop_parked", "pause", "resume", "retry_parked"]

#: The outbox kinds an entry may have.
KINDS = ("stock", "price", "listing", "shipment")


def retry_parked(source: ConsoleSource, *, channel: str, kind: str, key: str, who: str) -> str:
    """Put one parked outbox entry back in the queue; return what was done."""
    _check_entry(source, channel, kind, key)
    now = source.clock.now()
    with source.store.transaction() as session:
        count = session.requeue_parked(now, channel, kind=kind, key=key)
        if not count:
            raise _no_entry(channel, kind, key)
        session.audit(
            channel=channel,
            kind="outbox_retry",
            key=f"{kind}/{key}",
            sent={"by": who},
            ok=True,
            answer=f"re-queued by {who}",
            now=now,
        )
    return f"re-queued the parked {kind} entry {key} of {channel}"


def drop_parked(
    source: ConsoleSource, *, channel: str, kind: str, key: str, reason: str, who: str
) -> str:
    """Drop one parked outbox entry for good, with a reason; return what was done."""
    _check_entry(source, channel, kind, key)
    if not reason.strip():
        raise InputError("console", [Problem("a reason is required", field="reason")])
    now = source.clock.now()
    with source.store.transaction() as session:
        dropped = outbox.drop_parked(
            session, channel=channel, kind=kind, key=key, reason=reason, who=who, now=now
        )
        if dropped is None:
            raise _no_entry(channel, kind, key)
    return f"dropped the parked {kind} entry {key} of {channel}: {reason}"


def pause(source: ConsoleSource, *, channel: str, reason: str, who: str) -> str:
    """Pause a channel's marketplace work; return what was done."""
    _check_channel(source, channel)
    with source.store.transaction() as session:
        changed = pause_channel(session, channel, by=who, reason=reason, now=source.clock.now())
    if source.daemon is not None:
        source.daemon.refresh_paused()
    return f"paused {channel}: {reason}" if changed else f"{channel} was already paused"


def resume(source: ConsoleSource, *, channel: str, who: str) -> str:
    """Resume a paused channel; return what was done."""
    _check_channel(source, channel)
    with source.store.transaction() as session:
        changed = resume_channel(session, channel, by=who, now=source.clock.now())
    if source.daemon is not None:
        source.daemon.refresh_paused()
    return f"resumed {channel}" if changed else f"{channel} was not paused"


def _check_channel(source: ConsoleSource, channel: str) -> None:
    if channel not in source.channels:
        known = ", ".join(source.channels) or "none"
        raise InputError(
            "console",
            [Problem(f"no channel named {channel!r} (configured: {known})", field="channel")],
        )


def _check_entry(source: ConsoleSource, channel: str, kind: str, key: str) -> None:
    _check_channel(source, channel)
    if kind not in KINDS:
        raise InputError(
            "console",
            [Problem(f"kind must be one of {', '.join(KINDS)}, not {kind!r}", field="kind")],
        )
    if not key:
        raise InputError("console", [Problem("the entry's key is required", field="key")])


def _no_entry(channel: str, kind: str, key: str) -> InputError:
    return InputError(
        "console", [Problem(f"no parked {kind} entry {key!r} on {channel}", field="key")]
    )
