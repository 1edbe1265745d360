"""Registers the ``jd`` channel type with channelsync (entry point group ``channelsync``)."""

from __future__ import annotations

from channelsync.plugins import ChannelRegistry, hookimpl
from channelsync_jd.channel import JdChannel


@hookimpl
def channelsync_register_channels(registry: ChannelRegistry) -> None:
    """Provide the ``jd`` channel type."""
    registry.add(JdChannel)
