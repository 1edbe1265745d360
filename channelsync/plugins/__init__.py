"""The plugin system: hook markers, the channel registry and the plugin manager.

A plugin is a module (or object) with functions marked :data:`hookimpl` whose names
are hooks from :mod:`channelsync.plugins.hookspecs`. A distribution makes it
discoverable with an entry point in the ``channelsync`` group::

    [project.entry-points.channelsync]
    tmall = "channelsync_tmall.plugin"

and the plugin module adds its channel types::

    from channelsync.plugins import hookimpl

    @hookimpl
    def channelsync_register_channels(registry):
        registry.add(TmallChannel)
"""

from __future__ import annotations

from channelsync.plugins._markers import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl, hookspec
from channelsync.plugins.context import LowStockAlert, PriceContext
from channelsync.plugins.manager import (
    AUTOLOAD_ENV,
    BLOCKED_ENV,
    TRACE_ENV,
    PluginFailure,
    PluginHost,
    PluginInfo,
    build_plugin_manager,
)
from channelsync.plugins.registry import ChannelRegistry

__all__ = [
    "AUTOLOAD_ENV",
    "BLOCKED_ENV",
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "TRACE_ENV",
    "ChannelRegistry",
    "LowStockAlert",
    "PluginFailure",
    "PluginHost",
    "PluginInfo",
    "PriceContext",
    "build_plugin_manager",
    "hookimpl",
    "hookspec",
]
