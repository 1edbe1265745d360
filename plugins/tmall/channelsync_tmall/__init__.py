"""channelsync channel plugin for Tmall/Taobao (TOP gateway)."""

from __future__ import annotations

from channelsync_tmall.channel import TmallChannel, TmallSettings

__all__ = ["TmallChannel", "TmallSettings"]
