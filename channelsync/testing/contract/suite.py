"""The test class a plugin's test suite subclasses to run the contract against its fake."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from channelsync.channels import Channel
from channelsync.clock import FakeClock
from channelsync.testing.contract.harness import ContractHarness, ContractViolation
from channelsync.testing.contract.promises import PROMISES, Promise
from channelsync.testing.fakes import FakeMarketplace

__all__ = ["ChannelContract"]


class ChannelContract:
    """The contract as a test class: subclass it as ``TestXxxContract`` and set four things.

    For example::

        class TestShopContract(ChannelContract):
            channel_class = ShopChannel
            settings = {"shop_code": "S1"}
            credentials = {"api_secret": "not-a-real-secret"}

            def make_fake(self, clock):
                return FakeShop(clock=clock, api_secret="not-a-real-secret")

    The fake must be seeded with listings that have stock, accept the given
    credentials, and have a ``generate_orders(count)`` method when the channel claims
    orders. Each promise of a capability the channel claims becomes one test, named
    after the promise; the others are reported as skipped.
    """

    channel_class: ClassVar[type[Channel[Any]]]
    settings: ClassVar[Mapping[str, object]] = {}
    credentials: ClassVar[Mapping[str, str]] = {}
    #: Where the fake clock starts (whole seconds keep marketplace times exact).
    start: ClassVar[datetime] = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
    #: Promises this channel is excused from, with the reason (shown as a skip).
    excused: ClassVar[Mapping[str, str]] = {}

    def make_fake(self, clock: FakeClock) -> FakeMarketplace:
        """Return a fresh, seeded fake marketplace on ``clock``."""
        raise NotImplementedError(f"{type(self).__name__} must define make_fake(self, clock)")

    @classmethod
    def promises(cls) -> list[type[Promise]]:
        """Return every promise in the contract, in order."""
        return list(PROMISES)

    def harness(self) -> ContractHarness:
        """Return a fresh harness: a new fake on a new clock, for one check."""
        return ContractHarness(
            channel_class=self.channel_class,
            settings=self.settings,
            credentials=self.credentials,
            make_fake=self.make_fake,
            start=self.start,
        )

    def violation(self, promise: type[Promise]) -> str | None:
        """Run one promise against a fresh fake; return what broke it, or ``None`` if kept.

        A crash inside the check breaks the promise too. The promise must apply to the
        channel (see :meth:`Promise.applies_to`).
        """
        try:
            asyncio.run(promise().check(self.harness()))
        except ContractViolation as violation:
            return str(violation)
        except Exception as error:  # noqa: BLE001 - a crash breaks the promise too
            return f"raised {type(error).__name__}: {error}"
        return None

    def test_promise(self, promise: type[Promise]) -> None:
        """Run one promise against a fresh fake (parametrized by the channelsync pytest plugin)."""
        capabilities = self.channel_class.capabilities()
        if not promise.applies_to(capabilities):
            pytest.skip(f"{self.channel_class.type_name} does not claim {promise.capability}")
        if promise.__name__ in self.excused:
            pytest.skip(f"excused: {self.excused[promise.__name__]}")
        observed = self.violation(promise)
        if observed is None:
            return
        pytest.fail(
            f"{self.channel_class.type_name} breaks the promise {promise.__name__}: "
            f"{promise.statement()}\n  observed: {observed}\n  how to fix: {promise.fix}",
            pytrace=False,
        )
