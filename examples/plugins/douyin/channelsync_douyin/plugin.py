"""Registers the ``douyin`` channel type with channelsync (entry point group ``channelsync``)."""

from __future__ import annotations

from channelsync.plugins import ChannelRegistry, hookimpl

from channelsync_douyin.channel import DouyinChannel


@hookimpl
def channelsync_register_channels(registry: ChannelRegistry) -> None:
    """Provide the ``douyin`` channel type."""
    registry.add(DouyinChannel)
