"""channelsync channel plugin for Douyin Shop (抖店), the Douyin e-commerce open platform."""

from __future__ import annotations

from channelsync_douyin.channel import DouyinChannel, DouyinSettings

__all__ = ["DouyinChannel", "DouyinSettings"]
