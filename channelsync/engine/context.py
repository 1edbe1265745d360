"""What every engine step needs: the store, the clock, the hooks and the channels' settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from channelsync.channels import Capability, Channel, ListingScope
from channelsync.clock import Clock
from channelsync.config import ChannelSyncSettings, EngineConfig
from channelsync.engine.pace import Visibility
from channelsync.plugins import PluginHost
from channelsync.store import Store

__all__ = ["ChannelInfo", "EngineContext"]


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One channel as the planner sees it: its settings and what it can be sent."""

    name: str
    type_name: str
    settings: ChannelSyncSettings
    inventory: bool
    pricing: bool
    listings: bool
    item_wide_status: bool = False
    """Whether listing and delisting act on a whole item, all its SKUs together."""

    @classmethod
    def of(cls, channel: Channel[Any], settings: ChannelSyncSettings) -> ChannelInfo:
        """Describe ``channel`` from its declared capabilities."""
        return cls(
            name=channel.name,
            type_name=channel.type_name,
            settings=settings,
            inventory=channel.supports(Capability.INVENTORY),
            pricing=channel.supports(Capability.PRICING),
            listings=channel.supports(Capability.LISTINGS),
            item_wide_status=channel.limits.listing_scope is ListingScope.ITEM,
        )

    @property
    def pushes_stock(self) -> bool:
        """Whether the engine sends this channel stock (it can, and the stock is ours)."""
        return self.inventory and self.settings.managed_stock


@dataclass
class EngineContext:
    """The engine's dependencies, passed to each step."""

    store: Store
    clock: Clock
    channels: Mapping[str, ChannelInfo]
    config: EngineConfig = field(default_factory=EngineConfig)
    host: PluginHost | None = None
    visibility: Visibility = field(default_factory=Visibility)
    """Each channel's visibility delay, for protection that knows the pace."""
