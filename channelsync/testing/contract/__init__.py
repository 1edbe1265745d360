"""The channel contract: the promises the engine relies on, as a test suite for any plugin.

A plugin's test suite runs it against the plugin's own fake marketplace with one
class (see :class:`ChannelContract`)::

    from channelsync.testing.contract import ChannelContract

    class TestShopContract(ChannelContract):
        channel_class = ShopChannel
        settings = {...}
        credentials = {...}

        def make_fake(self, clock):
            return demo_fake(clock=clock)

Each promise (:data:`PROMISES`) is a named check whose docstring states it; a broken
promise fails with the promise, what was observed, and how to fix it.
"""

from __future__ import annotations

from channelsync.testing.contract.harness import ContractHarness, ContractViolation
from channelsync.testing.contract.promises import PROMISES, Promise
from channelsync.testing.contract.suite import ChannelContract

__all__ = ["PROMISES", "ChannelContract", "ContractHarness", "ContractViolation", "Promise"]
