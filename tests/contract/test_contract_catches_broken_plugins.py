"""The contract suite itself: deliberately broken variants of a plugin must each fail it.

Each variant breaks one promise the way plugins really do; the suite must fail with a
message naming that promise, and pass the unbroken plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import pytest
from channelsync_tmall import TmallChannel
from channelsync_tmall.envelope import TopClassifier
from channelsync_tmall.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake

from channelsync.channels import Channel, TimeWindow
from channelsync.clock import FakeClock
from channelsync.errors import ChannelError, InvalidRequestError, RateLimitedError
from channelsync.http import ResponseClassifier
from channelsync.models import Money, Order, Shipment, ShipmentResult
from channelsync.testing.contract import PROMISES, ChannelContract, Promise
from channelsync.testing.fakes import FakeMarketplace


class LosesTheLastPage(TmallChannel):
    """Wrong paging: stops after the first few orders of each window."""

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        count = 0
        async for order in super().fetch_orders(window):
            if count == 5:
                return
            count += 1
            yield order


class TakesGmt8ForUtc(TmallChannel):
    """Naive marketplace times: the GMT+8 wall clock read as if it were UTC."""

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        async for order in super().fetch_orders(window):
            yield order.model_copy(
                update={
                    "created_at": order.created_at + timedelta(hours=8),
                    "updated_at": order.updated_at + timedelta(hours=8),
                }
            )


class GoesThroughFloat(TmallChannel):
    """Float money: prices parsed with float() and rounded down to the cent."""

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        async for order in super().fetch_orders(window):
            lines = tuple(
                line.model_copy(
                    update={
                        "unit_price": Money.of(
                            Decimal(int(float(line.unit_price.amount) * 0.999 * 100)) / 100,
                            line.unit_price.currency,
                        )
                    }
                )
                for line in order.lines
            )
            yield order.model_copy(update={"lines": lines})


class ShipsTwice(TmallChannel):
    """A repeated push is sent again and its refusal reported as a failure."""

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        result = await super().push_shipment(shipment)
        if result.already_shipped:
            raise InvalidRequestError("the marketplace refused the shipment", channel=self.name)
        return result


class _ThrottleIsFinal(TopClassifier):
    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        error = super().classify(response, operation)
        if isinstance(error, RateLimitedError):
            return InvalidRequestError(str(error), channel=error.channel, code=error.code)
        return error


class TreatsThrottleAsPermanent(TmallChannel):
    """A throttle answer mapped to a permanent error."""

    def build_classifier(self) -> ResponseClassifier:
        return _ThrottleIsFinal(self.clock)


def _suite(channel: type[Channel[Any]]) -> ChannelContract:
    class Suite(ChannelContract):
        channel_class: ClassVar[type[Channel[Any]]] = channel
        settings = DEMO_SETTINGS
        credentials = DEMO_CREDENTIALS

        def make_fake(self, clock: FakeClock) -> FakeMarketplace:
            return demo_fake(clock=clock)

    return Suite()


def _promise(name: str) -> type[Promise]:
    return next(p for p in PROMISES if p.__name__ == name)


@pytest.mark.parametrize(
    ("variant", "broken"),
    [
        (LosesTheLastPage, "OrderPullIsComplete"),
        (TakesGmt8ForUtc, "OrderTimesAreTheSameInstant"),
        (GoesThroughFloat, "OrderMoneyIsExact"),
        (ShipsTwice, "RepeatedShipmentIsOne"),
        (TreatsThrottleAsPermanent, "ThrottleIsRetryableWithTheWait"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_a_broken_variant_fails_naming_the_promise(
    variant: type[TmallChannel], broken: str
) -> None:
    promise = _promise(broken)
    with pytest.raises(pytest.fail.Exception) as failure:
        _suite(variant).test_promise(promise)
    message = str(failure.value)
    assert f"breaks the promise {broken}" in message
    assert promise.statement() in message
    assert "how to fix:" in message


@pytest.mark.parametrize(
    "broken",
    [
        "OrderPullIsComplete",
        "OrderTimesAreTheSameInstant",
        "OrderMoneyIsExact",
        "RepeatedShipmentIsOne",
        "ThrottleIsRetryableWithTheWait",
    ],
)
def test_the_unbroken_plugin_keeps_the_same_promises(broken: str) -> None:
    _suite(TmallChannel).test_promise(_promise(broken))


def test_a_crash_inside_a_check_still_names_the_promise() -> None:
    class Crashes(TmallChannel):
        async def get_order(self, order_id: str) -> Order:
            raise KeyError("trade")

    with pytest.raises(pytest.fail.Exception, match=r"(?s)GetOrderMatchesThePull.*raised KeyError"):
        _suite(Crashes).test_promise(_promise("GetOrderMatchesThePull"))
