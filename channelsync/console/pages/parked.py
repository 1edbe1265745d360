"""Parked work: outbox entries the marketplace refused for good, and orders not applied."""

from __future__ import annotations

from typing import Any

from channelsync.console.source import ConsoleSource, iso
from channelsync.store import OutboxState

__all__ = ["parked"]


def parked(source: ConsoleSource, *, channel: str | None = None) -> dict[str, Any]:
    """Return every parked outbox entry and parked incoming record, with its reason."""
    with source.store.transaction() as session:
        entries = session.outbox(channel=channel, state=OutboxState.PARKED)
        records = session.parked(channel=channel)
    return {
        "filters": {"channel": channel},
        "entries": [
            {
                "channel": item.channel,
                "kind": item.kind,
                "key": item.key,
                "merchant_code": item.payload.get("merchant_code"),
                "attempts": item.attempts,
                "reason": item.reason,
            }
            for item in entries
        ],
        "records": [
            {
                "channel": record.channel,
                "kind": record.kind,
                "key": record.key,
                "reason": record.reason,
                "at": iso(record.at),
            }
            for record in records
        ],
    }
