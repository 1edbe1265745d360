"""Registers the ``amazon`` channel type with channelsync (entry point group ``channelsync``)."""

from __future__ import annotations

from channelsync.plugins import ChannelRegistry, hookimpl
from channelsync_amazon.channel import AmazonChannel


@hookimpl
def channelsync_register_channels(registry: ChannelRegistry) -> None:
    """Provide the ``amazon`` channel type."""
    registry.add(AmazonChannel)
