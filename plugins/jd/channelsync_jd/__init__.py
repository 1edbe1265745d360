"""channelsync channel plugin for JD (JOS routerjson gateway)."""

from __future__ import annotations

from channelsync_jd.channel import JdChannel, JdSettings

__all__ = ["JdChannel", "JdSettings"]
