"""channelsync channel plugin for Pinduoduo (PDD open platform gateway)."""

from __future__ import annotations

from channelsync_pinduoduo.channel import PinduoduoChannel, PinduoduoSettings

__all__ = ["PinduoduoChannel", "PinduoduoSettings"]
