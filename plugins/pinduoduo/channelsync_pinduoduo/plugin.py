"""Registers the ``pinduoduo`` channel type with channelsync (entry point group ``channelsync``)."""

from __future__ import annotations

from channelsync.plugins import ChannelRegistry, hookimpl
from channelsync_pinduoduo.channel import PinduoduoChannel


@hookimpl
def channelsync_register_channels(registry: ChannelRegistry) -> None:
    """Provide the ``pinduoduo`` channel type."""
    registry.add(PinduoduoChannel)
