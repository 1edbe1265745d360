"""Plugins that ship with channelsync and use the same hooks as any other plugin.

They are registered first by :func:`channelsync.plugins.build_plugin_manager` under the
names listed in :data:`BUILTIN_PLUGINS`; their hook implementations are ``trylast``
where a default answer is given, so third-party plugins take precedence.
"""

from __future__ import annotations

__all__ = ["BUILTIN_PLUGINS"]

#: ``(plugin name, module)`` of every built-in plugin, in registration order.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("builtin.pricing", "channelsync.builtin.pricing"),
    ("builtin.alerts", "channelsync.builtin.alerts"),
)
