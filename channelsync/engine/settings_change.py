"""Replanning every SKU when a channel's allocation or price settings change.

The planner visits only SKUs marked changed, so a new share, cap or price rule in the
config file would otherwise reach a SKU only when its stock or catalogue row next
moves. A digest of each channel's settings (and the engine's) is kept as a cursor of
kind ``settings``; when it differs from the one stored, every SKU is marked changed.
"""

from __future__ import annotations

import hashlib
import json

from channelsync.engine.context import EngineContext
from channelsync.store import StoreSession

__all__ = ["SETTINGS_CURSOR", "note_settings", "settings_digest"]

#: The cursor kind whose token is the digest of the settings last planned with.
SETTINGS_CURSOR = "settings"


def settings_digest(context: EngineContext, channel: str) -> str:
    """Return a digest of what decides ``channel``'s stock and prices."""
    shown = {
        "channel": context.channels[channel].settings.model_dump(mode="json"),
        "engine": context.config.model_dump(mode="json"),
    }
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def note_settings(session: StoreSession, context: EngineContext) -> list[str]:
    """Record each channel's settings digest; mark every SKU changed if one differs.

    Returns the channels whose settings changed since they were last recorded (a
    channel seen for the first time is recorded, not counted: its listings are
    planned when they are bound).
    """
    changed = []
    now = context.clock.now()
    for name in context.channels:
        digest = settings_digest(context, name)
        stored = session.cursor(name, SETTINGS_CURSOR)
        if stored is not None and stored[1] == digest:
            continue
        session.set_cursor(name, SETTINGS_CURSOR, now, digest)
        if stored is not None:
            changed.append(name)
    if changed:
        session.mark_all_changed()
    return changed
