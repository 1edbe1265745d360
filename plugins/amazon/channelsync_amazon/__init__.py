"""channelsync channel plugin for Amazon (Selling Partner API)."""

from __future__ import annotations

from channelsync_amazon.channel import AmazonChannel, AmazonSettings

__all__ = ["AmazonChannel", "AmazonSettings"]
