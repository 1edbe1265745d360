"""Registers the ``tmall`` channel type with channelsync (entry point group ``channelsync``)."""

from __future__ import annotations

from channelsync.plugins import ChannelRegistry, hookimpl
from channelsync_tmall.channel import TmallChannel


@hookimpl
def channelsync_register_channels(registry: ChannelRegistry) -> None:
    """Provide the ``tmall`` channel type."""
    registry.add(TmallChannel)
