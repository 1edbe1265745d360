"""The overview: every channel's health, the outbox, oversold and held counts, the daemon."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from channelsync.console.source import ConsoleSource, iso
from channelsync.daemon.status import ChannelStatus
from channelsync.engine.pausing import Pause, paused_channels
from channelsync.store import ChannelCounts

__all__ = ["overview"]

#: Oversold SKUs listed by name on the overview (the count covers all of them).
OVERSOLD_LISTED = 20


def overview(source: ConsoleSource) -> dict[str, Any]:
    """Return the overview page's data."""
    now = source.clock.now()
    with source.store.transaction() as session:
        counts = session.channel_counts()
        oversold_count, oversold = session.oversold(OVERSOLD_LISTED)
        pauses = paused_channels(session)
        cursors = {name: session.cursor(name, "orders") for name in source.channels}
    channels = []
    for name, type_name in source.channels.items():
        status = source.daemon.status.get(name) if source.daemon else None
        cursor = cursors.get(name)
        channels.append(
            _channel(
                name=name,
                type_name=type_name,
                counts=counts.get(name, ChannelCounts()),
                status=status,
                pause=pauses.get(name),
                pulled_until=cursor[0] if cursor else None,
                now=now,
            )
        )
    started = source.started or now
    return {
        "generated_at": iso(now),
        "daemon": {
            "version": source.version,
            "running": source.daemon is not None,
            "started": iso(started),
            "uptime_seconds": round((now - started).total_seconds()),
        },
        "channels": channels,
        "outbox": {
            "pending": sum(c["pending"] for c in channels),
            "parked": sum(c["parked"] for c in channels),
            "parked_records": sum(c["parked_records"] for c in channels),
        },
        "oversold": {"count": oversold_count, "skus": oversold},
        "held": sum(c["held"] for c in channels),
    }


def _channel(
    *,
    name: str,
    type_name: str,
    counts: ChannelCounts,
    status: ChannelStatus | None,
    pause: Pause | None,
    pulled_until: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    hour_ago = now - timedelta(hours=1)
    recent = [] if status is None else [(at, m) for at, m in status.recent_errors if at >= hour_ago]
    return {
        "name": name,
        "type": type_name,
        "health": _health(status, pause, recent),
        "paused": None
        if pause is None
        else {"since": iso(pause.since), "by": pause.by, "reason": pause.reason},
        "orders_pulled_until": iso(pulled_until),
        "last_pull": iso(status.last_pull) if status else None,
        "last_flush": iso(status.last_flush) if status else None,
        "failing_since": iso(status.failing_since) if status else None,
        "errors_last_hour": [{"at": iso(at), "message": message} for at, message in recent],
        "requests": status.requests if status else None,
        "throttles": status.throttles if status else None,
        "retries": status.retries if status else None,
        "events": _events(status),
        "pending": counts.pending,
        "parked": counts.parked,
        "parked_records": counts.parked_records,
        "held": counts.held,
        "bound": counts.bound,
        "orders": counts.orders,
    }


def _health(
    status: ChannelStatus | None, pause: Pause | None, recent: list[tuple[datetime, str]]
) -> str:
    if pause is not None:
        return "paused"
    if status is None:
        return "not running"
    if status.failing_since is not None:
        return "failing"
    return "errors" if recent else "ok"


def _events(status: ChannelStatus | None) -> dict[str, Any] | None:
    if status is None or status.events is None:
        return None
    return {
        "state": status.events,
        "received": status.events_received,
        "processed": status.events_processed,
        "last_event_at": iso(status.last_event_at),
        "error": status.events_error,
    }
