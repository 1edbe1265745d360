"""Building blocks for fake marketplaces: state, orders, throttling, faults, serving.

A fake marketplace is a stateful stand-in for one marketplace's API, written from its
wire reference so that it catches a plugin that gets the wire format wrong. The
built-in plugins' fakes are built from these parts, and so can a third party's: the
author writes only the wire format (:meth:`FakeMarketplace.operation_of`,
:meth:`FakeMarketplace.handle`, :meth:`FakeMarketplace.fault_response`) and the
marketplace's own words for the changes tests drive (:class:`ControlSurface`).
"""

from __future__ import annotations

from channelsync.testing.fakes.control import (
    ControlSurface,
    OrderChange,
    PageHook,
    PageKind,
    PageServed,
    RefundChange,
    UnsupportedChange,
)
from channelsync.testing.fakes.faults import (
    ALL_FAULTS,
    APPLIED_THEN_LOST,
    AnswerCut,
    Fault,
    FaultInjector,
)
from channelsync.testing.fakes.generate import (
    CatalogueSeed,
    OrderGenerator,
    SeedItem,
    SeedSku,
    demo_catalogue,
)
from channelsync.testing.fakes.marketplace import FakeMarketplace, ThrottleRule
from channelsync.testing.fakes.push import PushMessage, PushQueue
from channelsync.testing.fakes.server import LoopbackServer
from channelsync.testing.fakes.state import (
    FakeChange,
    FakeItem,
    FakeOrder,
    FakeOrderLine,
    FakeRefund,
    FakeShipment,
    FakeSku,
    FakeStore,
)

__all__ = [
    "ALL_FAULTS",
    "APPLIED_THEN_LOST",
    "AnswerCut",
    "CatalogueSeed",
    "ControlSurface",
    "FakeChange",
    "FakeItem",
    "FakeMarketplace",
    "FakeOrder",
    "FakeOrderLine",
    "FakeRefund",
    "FakeShipment",
    "FakeSku",
    "FakeStore",
    "Fault",
    "FaultInjector",
    "LoopbackServer",
    "OrderChange",
    "OrderGenerator",
    "PageHook",
    "PageKind",
    "PageServed",
    "PushMessage",
    "PushQueue",
    "RefundChange",
    "SeedItem",
    "SeedSku",
    "ThrottleRule",
    "UnsupportedChange",
    "demo_catalogue",
]
