"""The registry of channel types that plugins fill through ``channelsync_register_channels``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from channelsync.channels import Channel, ChannelSettings
from channelsync.errors import PluginError

__all__ = ["TYPE_NAME_PATTERN", "ChannelRegistry"]

#: What a channel type name must look like (it is the ``type`` in the config file).
TYPE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True, slots=True)
class _Entry:
    channel_cls: type[Channel[Any]]
    provider: str


class ChannelRegistry:
    """Channel types by type name, each with the plugin that provided it.

    The plugin manager hands every plugin a view of the registry scoped to that
    plugin's name (see :meth:`scoped`), so each refusal names the plugin at fault.
    All scoped views share one table.
    """

    def __init__(self, plugin: str | None = None) -> None:
        self._entries: dict[str, _Entry] = {}
        self._plugin = plugin

    @property
    def plugin(self) -> str | None:
        """The plugin this view adds types for (``None``: unscoped)."""
        return self._plugin

    def scoped(self, plugin: str) -> ChannelRegistry:
        """Return a view of this registry that records ``plugin`` as the provider."""
        view = ChannelRegistry(plugin)
        view._entries = self._entries
        return view

    def add(self, channel_cls: object) -> None:
        """Register a :class:`~channelsync.channels.Channel` subclass under its ``type_name``.

        Raises :class:`~channelsync.errors.PluginError`, naming the plugin, when
        ``channel_cls`` is not a ``Channel`` subclass, is abstract, has no valid
        ``type_name``, has a ``settings_model`` that is not a
        :class:`~channelsync.channels.ChannelSettings` subclass, or when another class
        already has that type name (the error names the plugin that registered it
        first). Adding the same class again from the same plugin does nothing.
        """
        plugin = self._plugin
        if not (isinstance(channel_cls, type) and issubclass(channel_cls, Channel)):
            raise PluginError(
                f"cannot register {channel_cls!r}: channel types must be subclasses of "
                "channelsync.channels.Channel",
                plugin=plugin,
            )
        label = f"{channel_cls.__module__}.{channel_cls.__qualname__}"
        if inspect.isabstract(channel_cls):
            missing = ", ".join(sorted(getattr(channel_cls, "__abstractmethods__", ())))
            raise PluginError(
                f"cannot register {label}: it is abstract (unimplemented: {missing})",
                plugin=plugin,
            )
        type_name = getattr(channel_cls, "type_name", None)
        if not isinstance(type_name, str) or not TYPE_NAME_PATTERN.match(type_name):
            raise PluginError(
                f"cannot register {label}: it needs a class attribute `type_name` of 1 to "
                "63 letters, digits, '_', '.' or '-' (got "
                f"{'nothing' if type_name is None else repr(type_name)})",
                plugin=plugin,
            )
        settings_model = getattr(channel_cls, "settings_model", None)
        if not (isinstance(settings_model, type) and issubclass(settings_model, ChannelSettings)):
            raise PluginError(
                f"cannot register {label}: `settings_model` must be a subclass of "
                "channelsync.channels.ChannelSettings",
                plugin=plugin,
            )
        existing = self._entries.get(type_name)
        if existing is not None:
            if existing.channel_cls is channel_cls and existing.provider == (plugin or ""):
                return
            first = existing.channel_cls
            raise PluginError(
                f"cannot register {label} as channel type {type_name!r}: that type is "
                f"already registered by plugin {existing.provider!r} "
                f"({first.__module__}.{first.__qualname__})",
                plugin=plugin,
            )
        self._entries[type_name] = _Entry(channel_cls, plugin or "")

    def get(self, type_name: str) -> type[Channel[Any]]:
        """Return the channel class for ``type_name``; ``KeyError`` names the known types."""
        try:
            return self._entries[type_name].channel_cls
        except KeyError:
            known = ", ".join(self.types()) or "none"
            raise KeyError(f"unknown channel type {type_name!r} (known: {known})") from None

    def provider(self, type_name: str) -> str:
        """Return the name of the plugin that registered ``type_name``."""
        self.get(type_name)
        return self._entries[type_name].provider

    def types(self) -> list[str]:
        """Return the registered type names, sorted."""
        return sorted(self._entries)

    def types_of(self, plugin: str) -> tuple[str, ...]:
        """Return the type names ``plugin`` registered, sorted."""
        return tuple(sorted(t for t, e in self._entries.items() if e.provider == plugin))

    def remove_provider(self, plugin: str) -> list[str]:
        """Remove every type ``plugin`` registered; return their names."""
        removed = list(self.types_of(plugin))
        for type_name in removed:
            del self._entries[type_name]
        return removed

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._entries

    def __iter__(self) -> Iterator[str]:
        """Iterate over the registered type names, sorted."""
        return iter(self.types())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        scope = f" plugin={self._plugin!r}" if self._plugin else ""
        return f"<{type(self).__name__}{scope} types={self.types()}>"
