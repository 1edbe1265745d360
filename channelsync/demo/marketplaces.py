"""The demo marketplaces: each installed plugin's fake, served over loopback HTTP.

A channel type takes part when its class names a ``demo_module``
(:attr:`channelsync.channels.Channel.demo_module`); that module's ``demo_fake()`` is
served with ``fake.serve()``, so the daemon reaches it through the plugin's real
transport, signing and paging. A channel that can listen to events also gets its fake's
push service (``fake.serve_events()``: TMC, PMC, SQS), and the demo turns ``events`` on
for it, so orders arrive within seconds as they would in production.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from channelsync.channels import Capability
from channelsync.demo.kits import COMPONENT_ITEMS, kit_items
from channelsync.plugins import PluginHost
from channelsync.testing.fakes import FakeMarketplace, LoopbackServer

__all__ = ["KIT_MARKETPLACES", "DemoMarketplace", "start_marketplaces"]

#: The channel types whose demo marketplaces list the kits and their components.
KIT_MARKETPLACES = frozenset({"tmall", "jd", "pinduoduo"})

logger = logging.getLogger(__name__)


@dataclass
class DemoMarketplace:
    """One served fake and the channel entry that points at it."""

    type_name: str
    channel: str
    fake: FakeMarketplace
    server: LoopbackServer
    settings: Mapping[str, Any]
    credentials: Mapping[str, str]
    order_lag: timedelta = timedelta(0)
    """How far behind the marketplace's clock an order pull must end."""
    sync: Mapping[str, Any] = field(default_factory=dict)
    """Engine settings of the demo channel (the module's optional ``DEMO_SYNC``), such as
    a price rule for a marketplace that sells in another currency than the catalogue."""
    events: Any = None
    """The fake's served push service when the channel listens (it has ``url`` and ``stop``)."""

    def stop(self) -> None:
        """Stop serving."""
        if self.events is not None:
            self.events.stop()
        self.server.stop()

    def stock(self) -> dict[str, int]:
        """Return the stock the marketplace shows per merchant code."""
        return self.fake.store.stock_by_merchant_code()

    def orders_placed(self) -> int:
        """Return how many orders buyers placed on this marketplace."""
        with self.fake.store.lock:
            return len(self.fake.store.orders)


def start_marketplaces(
    host: PluginHost,
    *,
    seed: int = 0,
    types: list[str] | None = None,
    events: bool = True,
    port_base: int | None = None,
) -> list[DemoMarketplace]:
    """Serve the demo fake of every channel type that has one (or of ``types``).

    With ``events``, channels that can listen get their fake's push service too. With
    ``port_base`` the fakes listen on consecutive ports from it (else any free port).
    """
    started: list[DemoMarketplace] = []
    try:
        for type_name in host.registry.types():
            if types is not None and type_name not in types:
                continue
            channel_cls = host.registry.get(type_name)
            module_name = channel_cls.demo_module
            if module_name is None:
                continue
            module = importlib.import_module(module_name)
            fake = module.demo_fake(seed=seed)
            if type_name in KIT_MARKETPLACES:
                _list_kits(fake)
            port = 0 if port_base is None else port_base + len(started)
            server = fake.serve(port=port)
            market = DemoMarketplace(
                type_name=type_name,
                channel=f"{type_name}-demo",
                fake=fake,
                server=server,
                settings=dict(module.DEMO_SETTINGS),
                credentials=dict(module.DEMO_CREDENTIALS),
                order_lag=channel_cls.limits.order_window.lag,
                sync=dict(getattr(module, "DEMO_SYNC", {})),
            )
            started.append(market)
            if events and Capability.EVENTS in channel_cls.capabilities():
                _serve_events(market)
    except BaseException:
        for market in started:
            market.stop()
        raise
    return started


def _list_kits(fake: FakeMarketplace) -> None:
    """List the kits and their components on ``fake``, each the way the fake lists items.

    Every built-in fake seeds with ``seed_catalogue``; a plugin's fake without it
    shows no kit.
    """
    seed = getattr(fake, "seed_catalogue", None)
    if seed is None:
        logger.info("%s: no seed_catalogue; the demo's kits are not listed", type(fake).__name__)
        return
    seed([*COMPONENT_ITEMS, *kit_items()])


def _serve_events(market: DemoMarketplace) -> None:
    """Serve the fake's push service and point the channel's events at it."""
    serve = getattr(market.fake, "serve_events", None)
    if serve is None:
        return
    try:
        market.events = serve()
    except ImportError as error:
        # Amazon's queue needs moto (the plugin's demo extra): polling alone then.
        logger.info("%s: events not served (%s); polling only", market.channel, error)
        return
    market.settings = {**market.settings, "events": True, "events_url": market.events.url}
